"""Tolerant reads of JSON values: a value of the wrong type reads as empty instead of raising."""
from __future__ import annotations


def nonblank_str(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


# JSON objects arrive as dicts; exact-type checks are used because isinstance against the
# typing.Mapping ABC is ~10x slower and this runs over every element of a large record.
_EMPTY: dict = {}


def dict_or_empty(value: object) -> dict:
    return value if type(value) is dict else _EMPTY


def list_or_empty(value: object) -> list:
    return value if type(value) is list else []
