"""Record → features → engines → findings, shared by the HTTP layer and the offline CLI."""
from __future__ import annotations

from datetime import date
from typing import Iterable

from engine.base import Engine
from engine.finding import Finding
from engine.runner import run_engines
from fhir_adapter.features import extract_features


def evaluate_resources(engines: Iterable[Engine], resources: Iterable[dict], *, as_of: date,
                       patient_id: str | None = None) -> list[Finding]:
    resources = list(resources)
    if patient_id:
        resources = [r for r in resources if _belongs_to(r, patient_id)]
    features = extract_features(resources, as_of=as_of)
    return run_engines(engines, features)


def _belongs_to(resource: dict, patient_id: str) -> bool:
    """Keep the patient and resources about them; drop anything pointing at another patient."""
    if resource.get("resourceType") == "Patient":
        return resource.get("id") in (None, patient_id)
    ref = (resource.get("subject") or resource.get("patient") or {}).get("reference") if isinstance(
        resource.get("subject") or resource.get("patient"), dict) else None
    if not ref:
        return True
    return ref == f"Patient/{patient_id}" or ref.endswith(f"/Patient/{patient_id}") or ref == f"urn:uuid:{patient_id}"
