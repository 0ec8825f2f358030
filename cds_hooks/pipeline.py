"""Record → features → engines → findings, shared by the HTTP layer and the offline CLI."""
from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any, Iterable, Mapping

from engine.base import Engine
from engine.finding import Finding, Status
from engine.runner import run_engines
from fhir_adapter.features import extract_features

log = logging.getLogger(__name__)


def evaluate_resources(engines: Iterable[Engine], resources: Iterable[dict], *, as_of: date,
                       patient_id: str | None = None, now: datetime | None = None,
                       options: Mapping[str, Any] | None = None) -> list[Finding]:
    """Features are taken only from resources about `patient_id` (others are skipped with a recorded problem).

    A deceased patient gets no findings: risk scores and diagnosis gaps mean nothing after death. If the record
    cannot be read at all, each engine reports an error finding (the hook still answers)."""
    engines = list(engines)
    resources = list(resources)
    if _is_deceased(resources, patient_id, as_of):
        return []
    try:
        features = extract_features(resources, as_of=as_of, patient_id=patient_id, now=now, options=options)
    except Exception as exc:  # noqa: BLE001 - one unreadable record must not become a 500
        log.error("feature extraction failed: %s", type(exc).__name__)
        return [engine.finding(Status.ERROR, message="The record could not be read for this assessment.")
                for engine in engines]
    return run_engines(engines, features)


def _is_deceased(resources: list[dict], patient_id: str | None, as_of: date) -> bool:
    for resource in resources:
        if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
            continue
        if patient_id and resource.get("id") not in (None, patient_id):
            continue
        if resource.get("deceasedBoolean") is True:
            return True
        when = resource.get("deceasedDateTime")
        if isinstance(when, str) and len(when) >= 10:
            try:
                return date.fromisoformat(when[:10]) <= as_of
            except ValueError:
                return False
    return False
