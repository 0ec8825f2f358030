"""Findings as plain JSON-able dicts (for the CLI, audit and batch output)."""
from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime
from typing import Any

from engine.finding import Finding


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) not in (None, (), [], {}, "")}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def finding_to_dict(finding: Finding) -> dict:
    return to_jsonable(finding)
