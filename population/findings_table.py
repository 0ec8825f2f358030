"""The Parquet layout of population findings: one row per patient and finding, and one row per patient.

Numbers stay numbers (``value``); a textual result goes to ``value_text``. Evidence keeps its whole shape as JSON
(``inputs``: name, label, value, unit, effective date, source, derivation), exactly as ``engine.serialize`` writes
it for the CLI and the audit log, so a row can be compared with what the hook returned.
"""
from __future__ import annotations

import json
from datetime import date
from typing import Any, Iterable

import pyarrow as pa

from engine.finding import Finding
from engine.serialize import to_jsonable

FINDINGS_SCHEMA = pa.schema([
    ("patient_id", pa.string()),
    ("service", pa.string()),
    ("engine_id", pa.string()),
    ("engine_version", pa.string()),
    ("finding_id", pa.string()),
    ("status", pa.string()),
    ("kind", pa.string()),
    ("severity", pa.string()),
    ("title", pa.string()),
    ("value", pa.float64()),
    ("value_text", pa.string()),
    ("unit", pa.string()),
    ("category", pa.string()),
    ("message", pa.string()),
    ("measures", pa.string()),  # JSON list of {label, value, unit, category}
    ("inputs", pa.string()),  # JSON list of evidence used
    ("missing", pa.string()),  # JSON list of {name, label, reason}
    ("input_problems", pa.string()),  # JSON list of {source, name, reason}
    ("assumptions", pa.string()),  # JSON list of strings
    ("condition", pa.string()),  # the condition a diagnosis finding is about (a detector's possible gap), its id
    ("suggestions", pa.string()),  # JSON list of the labels of what the card offers to do
    ("as_of", pa.date32()),
])

PATIENTS_SCHEMA = pa.schema([
    ("patient_id", pa.string()),
    ("resources", pa.int32()),
    ("deceased", pa.bool_()),
    ("findings", pa.int32()),
])


def _json(values: Iterable[Any]) -> str:
    return json.dumps(to_jsonable(list(values)), ensure_ascii=False, separators=(",", ":"))


def finding_row(patient_id: str, service_id: str, finding: Finding, as_of: date) -> dict:
    value = finding.value
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return {
        "patient_id": patient_id,
        "service": service_id,
        "engine_id": finding.engine_id,
        "engine_version": finding.engine_version,
        "finding_id": finding.id,
        "status": finding.status.value,
        "kind": finding.kind.value,
        "severity": finding.severity.value,
        "title": finding.title,
        "value": float(value) if numeric else None,
        "value_text": None if numeric or value is None else str(value),
        "unit": finding.unit,
        "category": finding.category,
        "message": finding.message,
        "measures": _json(finding.measures),
        "inputs": _json(finding.inputs),
        "missing": _json(finding.missing),
        "input_problems": _json(finding.input_problems),
        "assumptions": _json(finding.assumptions),
        "condition": finding.condition.id if finding.condition is not None else None,
        "suggestions": _json(s.label for s in finding.suggestions),
        "as_of": as_of,
    }


def findings_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=FINDINGS_SCHEMA)


def patients_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=PATIENTS_SCHEMA)
