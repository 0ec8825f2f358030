"""The quick yes/no checker of cds_hooks.validation: a schema compiled into plain closures.

It covers exactly the keywords our schemas use, with jsonschema's Draft 2020-12 semantics (bool is not a number, 3.0
is an integer, enum/const do not confuse true with 1). Any other keyword makes compilation fail (NotCompilable), so a
schema change can never silently weaken validation. It only answers "valid or not": jsonschema finds and explains the
issues of a body it rejects, and tests check that both always agree.
"""
from __future__ import annotations

import numbers
import re
from typing import Any, Callable

from jsonschema import FormatChecker


class NotCompilable(Exception):
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


def compile_quick(schema: Any, formats: FormatChecker) -> Callable[[Any], bool]:
    """A yes/no checker of ``schema`` (its $refs inlined); NotCompilable for a keyword it does not cover."""
    if schema is True:
        return _always
    if schema is False:
        return _never
    if not isinstance(schema, dict):
        raise NotCompilable(repr(type(schema)))
    for keyword in schema:
        if keyword not in _ANNOTATIONS and keyword not in _KEYWORDS:
            raise NotCompilable(keyword)
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
    properties = {name: compile_quick(sub, formats) for name, sub in schema.get("properties", {}).items()}
    extra = schema.get("additionalProperties", True)
    closed = extra is False
    others = None if extra is True or closed else compile_quick(extra, formats)
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
    each = compile_quick(schema["items"], formats) if "items" in schema else _always
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
    if not checks:  # most strings of a card: the type test alone, one call per value
        fused = _TYPES["string"]
    else:
        rest = _every(checks)  # a single check is returned as it is

        def fused(x: Any) -> bool:
            return isinstance(x, str) and rest(x)
    return fused, frozenset({"type", "minLength", "maxLength", "pattern", "format"})


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
        raise NotCompilable("enum of structures")
    if all(isinstance(option, str) for option in value):  # only a string equals a string (_same_scalar)
        options = frozenset(value)
        return lambda x: isinstance(x, str) and x in options
    return lambda x: any(_same_scalar(x, option) for option in value)


def _k_const(value, schema, formats):
    if isinstance(value, (dict, list)):
        raise NotCompilable("const structure")
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
    props = [(name, compile_quick(sub, formats)) for name, sub in value.items()]

    def properties(x: Any) -> bool:
        if isinstance(x, dict):
            for name, check in props:
                if name in x and not check(x[name]):
                    return False
        return True
    return properties


def _k_additional_properties(value, schema, formats):
    if "patternProperties" in schema:
        raise NotCompilable("patternProperties")
    declared = frozenset(schema.get("properties", {}))
    if value is False:
        return lambda x: not isinstance(x, dict) or declared.issuperset(x)
    check = compile_quick(value, formats)
    return lambda x: not isinstance(x, dict) or all(check(x[key]) for key in x if key not in declared)


def _k_items(value, schema, formats):
    if "prefixItems" in schema:
        raise NotCompilable("prefixItems")
    check = compile_quick(value, formats)
    return lambda x: not isinstance(x, list) or all(map(check, x))


def _k_if(value, schema, formats):
    condition = compile_quick(value, formats)
    then = compile_quick(schema.get("then", True), formats)
    otherwise = compile_quick(schema.get("else", True), formats)
    return lambda x: then(x) if condition(x) else otherwise(x)


def _k_not(value, schema, formats):
    check = compile_quick(value, formats)
    return lambda x: not check(x)


def _k_all_of(value, schema, formats):
    return _every([compile_quick(sub, formats) for sub in value])


def _k_contains(value, schema, formats):
    check = compile_quick(value, formats)
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
