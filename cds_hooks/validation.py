"""JSON Schema checks for CDS Hooks 2.0.1 bodies: hook requests, responses, feedback and discovery.

The schemas live in cds_hooks/schemas/*.json (package data) so they can be read, diffed and reused
outside Python. They are loaded and compiled once, on first use.

Every problem comes back as a SchemaIssue(pointer, message). Messages are written from the schema
rule that failed, never from jsonschema's own text, because that text quotes the offending value
and the value may be patient data or an access token.

Speed: jsonschema builds a new validator object for every subschema it visits (5-10 µs each), so a
response of three cards with suggestions took over 1 ms. Bodies are therefore first run through a
yes/no checker compiled from the same schema (cds_hooks/schema_quick.py: plain closures, over 20x
faster than jsonschema with the $refs inlined: a schema of one type is one closure that checks the
type and that type's keywords, an object's members in one pass). Only a body it rejects goes
through Draft202012Validator, which stays the one authority for what the issues are; tests check
that both always agree.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable, Iterable, NamedTuple

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from cds_hooks.schema_quick import NotCompilable, compile_quick

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
        quick = compile_quick(schema, format_checker)
    except NotCompilable:
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
