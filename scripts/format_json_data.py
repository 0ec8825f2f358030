"""Rewrite JSON data files in the project's layout: two-space indent, small flat objects and lists on one line.

    python scripts/format_json_data.py fhir_adapter/data/terminology/valuesets.json engine/data/diagnosis_codes.json

Keeps code lists reviewable in a diff (one code per line) after a value set is edited by a script.
"""
from __future__ import annotations

import json
import sys

_INLINE_WIDTH = 118


def _is_flat(value: object) -> bool:
    if isinstance(value, dict):
        return all(not isinstance(v, (dict, list)) for v in value.values())
    if isinstance(value, list):
        return all(not isinstance(v, (dict, list)) for v in value)
    return True


def dumps(value: object, indent: int = 0) -> str:
    pad = "  " * indent
    if _is_flat(value):
        one_line = json.dumps(value, ensure_ascii=False)
        if isinstance(value, dict) or len(one_line) + len(pad) <= _INLINE_WIDTH or not isinstance(value, list):
            return one_line
    inner = "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(f"{inner}{dumps(v, indent + 1)}" for v in value) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False)


def main(paths: list[str]) -> None:
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(dumps(data) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
