"""Record → features → engines → findings, shared by the HTTP layer and the offline CLI."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Iterable, Mapping

from engine.base import Engine
from engine.finding import Finding
from engine.runner import run_engines
from fhir_adapter.features import extract_features


def evaluate_resources(engines: Iterable[Engine], resources: Iterable[dict], *, as_of: date,
                       patient_id: str | None = None, now: datetime | None = None,
                       options: Mapping[str, Any] | None = None) -> list[Finding]:
    """Features are taken only from resources about `patient_id` (others are skipped with a recorded problem)."""
    features = extract_features(resources, as_of=as_of, patient_id=patient_id, now=now, options=options)
    return run_engines(engines, features)
