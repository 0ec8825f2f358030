"""JSON Schema checks for CDS Hooks 2.0.1 bodies: hook requests, responses, feedback and discovery.

The schemas live in cds_hooks/schemas/*.json (package data) so they can be read, diffed and reused
outside Python. They are loaded and compiled once, on first use.

Every problem comes back as a SchemaIssue(pointer, message). Messages are written from the schema
rule that failed, never from jsonschema's own text, because that text quotes the offending value
and the value may be patient data or an access token.

Speed: jsonschema builds a new validator object for every subschema it visits (5-10 µs each), so a
response of three cards with suggestions took over 1 ms. Bodies are therefore first run through a
yes/no checker compiled from the same schema (plain closures, over 20x faster than jsonschema with
the $refs inlined: a schema of one type is one closure that checks the type and that type's
keywords, an object's members in one pass; a canonical uuid skips the format checker's UUID
parse). Only a body it rejects goes through Draft202012Validator, which stays the one authority for
what the issues are; tests check that both always agree.
"""
from __future__ import annotations

import functools
import json
import numbers
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable, Iterable, NamedTuple

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

HOOK_REQUEST = "hook-request"
CDS_RESPONSE = "cds-response"
FEEDBACK = "feedback"
DISCOVERY = "discovery"
SCHEMA_NAMES = (HOOK_REQUEST, CDS_RESPONSE, FEEDBACK, DISCOVERY)

# Hook contexts are $defs named "context-<hook>" in the hook-request schema; the schema is the
# single place that says which hooks we know.
_CONTEXT_DEF_PREFIX = "context-"
_ROOT = ""  # key of the whole schema among its inlined definitions (no $defs name is empty)


class SchemaIssue(NamedTuple):
    pointer: str  # RFC 6901 JSON pointer; for a missing property it names that property
    message: str  # the rule that was broken, never the value that broke it


def validate_hook_request(body: Any) -> list[SchemaIssue]:
    """Schema issues of a hook request, then what a schema cannot say: on order-select every selection names a
    resource of the same request's draftOrders."""
    return _issues(_checker(HOOK_REQUEST, _ROOT), body) or _selection_issues(body)


def _selection_issues(body: Any) -> list[SchemaIssue]:
    # Only reached for a schema-valid body, so the shapes below are known.
    if not isinstance(body, dict) or body.get("hook") != "order-select":
        return []
    context = body["context"]
    drafted = {f"{entry['resource']['resourceType']}/{entry['resource']['id']}"
               for entry in context["draftOrders"].get("entry", [])}
    return [SchemaIssue(f"/context/selections/{i}", "must name a resource in context.draftOrders (ResourceType/id)")
            for i, selection in enumerate(context["selections"]) if selection not in drafted]


def validate_response(body: Any) -> list[SchemaIssue]:
    return _issues(_checker(CDS_RESPONSE, _ROOT), body)


def validate_feedback(body: Any) -> list[SchemaIssue]:
    return _issues(_checker(FEEDBACK, _ROOT), body)


def validate_discovery(body: Any) -> list[SchemaIssue]:
    return _issues(_checker(DISCOVERY, _ROOT), body)


def validate_fragment(schema_name: str, definition: str, body: Any) -> list[SchemaIssue]:
    """Check a part of a body (e.g. one card, one action, a prefetch map) against a $defs entry.

    Pointers are relative to the fragment. Raises ValueError for an unknown schema or definition:
    that is a programming error, not bad input.
    """
    if schema_name not in SCHEMA_NAMES:
        raise ValueError(f"unknown schema {schema_name!r}; expected one of {SCHEMA_NAMES}")
    if not definition or definition not in _schemas()[schema_name].get("$defs", {}):
        raise ValueError(f"schema {schema_name!r} has no definition {definition!r}")
    return _issues(_checker(schema_name, definition), body)


def context_schema_known(hook: str) -> bool:
    """True when the hook-request schema checks this hook's context; otherwise any object passes."""
    return isinstance(hook, str) and hook in known_hooks()


@functools.cache
def known_hooks() -> frozenset[str]:
    definitions = _schemas()[HOOK_REQUEST]["$defs"]
    return frozenset(name[len(_CONTEXT_DEF_PREFIX):] for name in definitions
                     if name.startswith(_CONTEXT_DEF_PREFIX))


# --- loading and compiling ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Checker:
    validator: Draft202012Validator  # the authority: finds and explains every issue
    quick: Callable[[Any], bool] | None  # True only when the body is valid; None: not compiled


@functools.cache
def _schemas() -> dict[str, dict]:
    folder = resources.files("cds_hooks").joinpath("schemas")
    loaded = {}
    for name in SCHEMA_NAMES:
        schema = json.loads(folder.joinpath(f"{name}.schema.json").read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)  # a broken schema file must fail loudly at start
        loaded[name] = schema
    return loaded


@functools.cache
def _inlined_definitions(schema_name: str) -> dict[str, Any]:
    """Every $defs entry, and the root (key ""), with internal $refs replaced by their targets.

    jsonschema resolves each $ref through the referencing registry on every use, which was about a
    third of the validation time; the schemas have no recursive definitions, so inlining is exact.
    """
    definitions = _schemas()[schema_name].get("$defs", {})
    done: dict[str, Any] = {}

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        rest = {key: inline(value) for key, value in node.items() if key not in ("$ref", "$defs")}
        if "$ref" not in node:
            return rest
        target = resolve(node["$ref"])
        return {"allOf": [target], **rest} if rest else target

    def resolve(reference: str) -> Any:
        prefix = "#/$defs/"
        if not reference.startswith(prefix) or reference[len(prefix):] not in definitions:
            raise ValueError(f"schema {schema_name!r}: only local $defs references are supported")
        name = reference[len(prefix):]
        if name not in done:
            done[name] = inline(definitions[name])
        return done[name]

    for name in definitions:
        resolve(f"#/$defs/{name}")
    done[_ROOT] = inline(_schemas()[schema_name])
    return done


@functools.cache
def _checker(schema_name: str, definition: str) -> _Checker:
    schema = _inlined_definitions(schema_name)[definition]
    format_checker = FormatChecker()
    try:
        quick = _compile(schema, format_checker)
    except _NotCompilable:
        quick = None  # a keyword the quick checker does not know: jsonschema alone decides
    return _Checker(Draft202012Validator(schema, format_checker=format_checker), quick)


def _issues(checker: _Checker, body: Any) -> list[SchemaIssue]:
    try:
        if checker.quick is not None and checker.quick(body):
            return []
    except Exception:  # noqa: BLE001 - odd input: let jsonschema (below) decide and explain
        pass
    found: set[SchemaIssue] = set()
    try:
        for error in checker.validator.iter_errors(body):
            found.update(_describe(error))
    except Exception:  # noqa: BLE001 - odd Python objects (not JSON) must not become a 500
        return [SchemaIssue("", "the body is not a JSON value that can be checked")]
    return sorted(found)


# --- the quick yes/no checker -----------------------------------------------------------------
# It covers exactly the keywords our schemas use, with jsonschema's Draft 2020-12 semantics
# (bool is not a number, 3.0 is an integer, enum/const do not confuse true with 1). Any other
# keyword makes compilation fail, so a schema change can never silently weaken validation.

class _NotCompilable(Exception):
    pass


_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "$defs",
                          "default", "examples", "then", "else", "minContains", "maxContains"})

_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "integer": lambda x: not isinstance(x, bool) and (
        isinstance(x, int) or (isinstance(x, float) and x.is_integer())),
    "number": lambda x: not isinstance(x, bool) and isinstance(x, numbers.Number),
}


def _same_scalar(instance: Any, expected: Any) -> bool:
    if isinstance(instance, (dict, list)):
        return False
    if isinstance(instance, str) or isinstance(expected, str):
        return instance == expected
    if isinstance(instance, bool) or isinstance(expected, bool):
        return type(instance) is type(expected) and instance == expected
    return instance == expected


def _compile(schema: Any, formats: FormatChecker) -> Callable[[Any], bool]:
    if schema is True:
        return _always
    if schema is False:
        return _never
    if not isinstance(schema, dict):
        raise _NotCompilable(repr(type(schema)))
    for keyword in schema:
        if keyword not in _ANNOTATIONS and keyword not in _KEYWORDS:
            raise _NotCompilable(keyword)
    checks: list[Callable[[Any], bool]] = []
    consumed: frozenset[str] = frozenset()
    fuse = _FUSED.get(schema["type"]) if isinstance(schema.get("type"), str) else None
    if fuse is not None:  # one closure for the type and the keywords of that type: a call per value, not per rule
        fused, consumed = fuse(schema, formats)
        checks.append(fused)
    for keyword, value in schema.items():
        if keyword not in _ANNOTATIONS and keyword not in consumed:
            checks.append(_KEYWORDS[keyword](value, schema, formats))
    return _every(checks)


def _always(x: Any) -> bool:
    return True


def _never(x: Any) -> bool:
    return False


def _every(checks: list[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda x: first(x) and second(x)

    def every(x: Any) -> bool:
        for check in checks:
            if not check(x):
                return False
        return True
    return every


# -- one closure per schema of a single type ("type": "object" with its properties, ...) ------------------------------

def _fused_object(schema, formats):
    required = tuple(schema.get("required", ()))
    properties = {name: _compile(sub, formats) for name, sub in schema.get("properties", {}).items()}
    extra = schema.get("additionalProperties", True)
    closed = extra is False
    others = None if extra is True or closed else _compile(extra, formats)
    least = schema.get("minProperties", 0)

    def check_object(x: Any) -> bool:
        if not isinstance(x, dict) or len(x) < least:
            return False
        for name in required:
            if name not in x:
                return False
        for key, item in x.items():
            check = properties.get(key)
            if check is None:  # additionalProperties: the members "properties" does not name
                if closed or (others is not None and not others(item)):
                    return False
            elif not check(item):
                return False
        return True
    return check_object, frozenset({"type", "required", "properties", "additionalProperties", "minProperties"})


def _fused_array(schema, formats):
    each = _compile(schema["items"], formats) if "items" in schema else _always
    least = schema.get("minItems", 0)

    def check_array(x: Any) -> bool:
        if not isinstance(x, list) or len(x) < least:
            return False
        for item in x:
            if not each(item):
                return False
        return True
    return check_array, frozenset({"type", "items", "minItems"})


def _fused_string(schema, formats):
    checks = [_KEYWORDS[keyword](schema[keyword], schema, formats)
              for keyword in ("minLength", "maxLength", "pattern", "format") if keyword in schema]
    rest = _every(checks)
    return (lambda x: isinstance(x, str) and rest(x)), frozenset({"type", "minLength", "maxLength", "pattern",
                                                                   "format"})


_FUSED = {"object": _fused_object, "array": _fused_array, "string": _fused_string}


# -- one closure per keyword -------------------------------------------------------------------------------------------

def _k_type(value, schema, formats):
    tests = tuple(_TYPES[name] for name in (value if isinstance(value, list) else [value]))
    if len(tests) == 1:
        return tests[0]

    def any_type(x: Any) -> bool:
        for test in tests:
            if test(x):
                return True
        return False
    return any_type


def _k_enum(value, schema, formats):
    if any(isinstance(option, (dict, list)) for option in value):
        raise _NotCompilable("enum of structures")
    if all(isinstance(option, str) for option in value):  # only a string equals a string (_same_scalar)
        options = frozenset(value)
        return lambda x: isinstance(x, str) and x in options
    return lambda x: any(_same_scalar(x, option) for option in value)


def _k_const(value, schema, formats):
    if isinstance(value, (dict, list)):
        raise _NotCompilable("const structure")
    if isinstance(value, str):
        return lambda x: isinstance(x, str) and x == value
    return lambda x: _same_scalar(x, value)


def _k_pattern(value, schema, formats):
    search = re.compile(value).search
    return lambda x: not isinstance(x, str) or search(x) is not None


# A canonical lower-case uuid, as every hookInstance and card uuid is: accepted by any "uuid" format check.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _k_format(value, schema, formats):
    if value not in formats.checkers:
        return _always  # FormatChecker.check passes a format it has no checker for ("uri" without rfc3987)
    if value == "uuid":
        canonical = _CANONICAL_UUID.fullmatch
        return lambda x: (type(x) is str and canonical(x) is not None) or formats.conforms(x, value)
    return lambda x: formats.conforms(x, value)


def _k_min_length(value, schema, formats):
    return lambda x: not isinstance(x, str) or len(x) >= value


def _k_max_length(value, schema, formats):
    return lambda x: not isinstance(x, str) or len(x) <= value


def _k_min_items(value, schema, formats):
    return lambda x: not isinstance(x, list) or len(x) >= value


def _k_min_properties(value, schema, formats):
    return lambda x: not isinstance(x, dict) or len(x) >= value


def _k_minimum(value, schema, formats):
    return lambda x: not _TYPES["number"](x) or x >= value


def _k_required(value, schema, formats):
    names = tuple(value)
    return lambda x: not isinstance(x, dict) or all(map(x.__contains__, names))


def _k_dependent_required(value, schema, formats):
    pairs = list(value.items())
    return lambda x: not isinstance(x, dict) or all(
        name not in x or all(other in x for other in needs) for name, needs in pairs)


def _k_properties(value, schema, formats):
    props = [(name, _compile(sub, formats)) for name, sub in value.items()]

    def properties(x: Any) -> bool:
        if isinstance(x, dict):
            for name, check in props:
                if name in x and not check(x[name]):
                    return False
        return True
    return properties


def _k_additional_properties(value, schema, formats):
    if "patternProperties" in schema:
        raise _NotCompilable("patternProperties")
    declared = frozenset(schema.get("properties", {}))
    if value is False:
        return lambda x: not isinstance(x, dict) or declared.issuperset(x)
    check = _compile(value, formats)
    return lambda x: not isinstance(x, dict) or all(check(x[key]) for key in x if key not in declared)


def _k_items(value, schema, formats):
    if "prefixItems" in schema:
        raise _NotCompilable("prefixItems")
    check = _compile(value, formats)
    return lambda x: not isinstance(x, list) or all(map(check, x))


def _k_if(value, schema, formats):
    condition = _compile(value, formats)
    then = _compile(schema.get("then", True), formats)
    otherwise = _compile(schema.get("else", True), formats)
    return lambda x: then(x) if condition(x) else otherwise(x)


def _k_not(value, schema, formats):
    check = _compile(value, formats)
    return lambda x: not check(x)


def _k_all_of(value, schema, formats):
    return _every([_compile(sub, formats) for sub in value])


def _k_contains(value, schema, formats):
    check = _compile(value, formats)
    least = schema.get("minContains", 1)
    most = schema.get("maxContains")

    def contains(x):
        if not isinstance(x, list):
            return True
        count = sum(1 for item in x if check(item))
        return count >= least and (most is None or count <= most)
    return contains


_KEYWORDS: dict[str, Callable[[Any, dict, FormatChecker], Callable[[Any], bool]]] = {
    "type": _k_type, "enum": _k_enum, "const": _k_const, "pattern": _k_pattern, "format": _k_format,
    "minLength": _k_min_length, "maxLength": _k_max_length, "minItems": _k_min_items,
    "minProperties": _k_min_properties, "minimum": _k_minimum, "required": _k_required,
    "dependentRequired": _k_dependent_required, "properties": _k_properties,
    "additionalProperties": _k_additional_properties, "items": _k_items, "if": _k_if, "not": _k_not,
    "allOf": _k_all_of, "contains": _k_contains,
}


# --- turning jsonschema errors into issues -----------------------------------------------------

def _describe(error: ValidationError) -> Iterable[SchemaIssue]:
    here = _pointer(error.absolute_path)
    keyword = error.validator
    value = error.validator_value
    schema = error.schema if isinstance(error.schema, dict) else {}
    rule = schema.get("description")

    if keyword == "required":
        missing = [name for name in value if name not in error.instance]
        return [SchemaIssue(_child(here, name), f"required property '{name}' is missing")
                for name in missing]
    if keyword == "dependentRequired":
        return [SchemaIssue(_child(here, needed), f"required when '{present}' is present")
                for present, needs in value.items() if present in error.instance
                for needed in needs if needed not in error.instance]
    if keyword == "additionalProperties":
        defined = set(schema.get("properties", {}))
        return [SchemaIssue(_child(here, name), "is not a field defined for this object")
                for name in error.instance if name not in defined]
    return [SchemaIssue(here, _message(keyword, value, rule))]


def _message(keyword: str | None, value: Any, rule: str | None) -> str:
    if keyword == "type":
        types = value if isinstance(value, list) else [value]
        return "must be of type " + " or ".join(types)
    if keyword == "enum":
        return "must be one of: " + ", ".join(str(option) for option in value)
    if keyword == "const":
        return f"must be exactly {json.dumps(value)}"
    if keyword in ("pattern", "format") and rule:
        return f"must be {rule}"
    if keyword == "pattern":
        return f"must match the pattern {value}"
    if keyword == "format":
        return f"must be a valid {value}"
    if keyword == "minLength":
        return "must not be empty" if value == 1 else f"must be at least {value} characters long"
    if keyword == "maxLength":
        return f"must be at most {value} characters long"
    if keyword == "minItems":
        return "must not be an empty array" if value == 1 else f"must have at least {value} items"
    if keyword == "maxItems":
        return f"must have at most {value} items"
    if keyword == "minProperties":
        return "must not be an empty object" if value == 1 else f"must have at least {value} members"
    if keyword == "minimum":
        return f"must be at least {value}"
    if keyword in ("not", None):  # None: a `false` schema
        return rule or "is not allowed here"
    if rule:  # contains/maxContains and anything else a description explains
        return rule
    return f"breaks the schema rule '{keyword}'"


def _pointer(path: Iterable[Any]) -> str:
    return "".join("/" + _escape(str(part)) for part in path)


def _child(pointer: str, name: Any) -> str:
    return f"{pointer}/{_escape(str(name))}"


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
