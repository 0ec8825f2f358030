"""Prefetch templates derived from the features a service's engines read, so each service asks for exactly what it uses.

``fhir_adapter.codes.FEATURE_RESOURCES`` says which FHIR resource types the adapter reads a feature from; this module
turns a feature list into one template per resource type: Observations by the LOINC codes of those features
(``prefetch_queries.observation_query``), Procedures by the dialysis / transplant codes, and the problem list,
medications, family history and goals by patient. Features read only from the Patient need just the Patient.
"""
from __future__ import annotations

from typing import Iterable

from cds_hooks.services.prefetch_queries import observation_query
from fhir_adapter.codes import FEATURE_RESOURCES, OBSERVATION_CODES, PROCEDURE_CONCEPTS, value_set

PATIENT = "{{context.patientId}}"
# Prefetch key per resource type, in the order they appear in discovery.
PREFETCH_KEYS = {
    "Observation": "observations",
    "Condition": "conditions",
    "MedicationRequest": "medications",
    "MedicationStatement": "medication_statements",
    "Procedure": "procedures",
    "FamilyMemberHistory": "family_history",
    "Goal": "goals",
}
# Observations the adapter reads that are coded outside LOINC (observation_query asks by LOINC only): the NEWS2
# "SpO2 scale 2" record (SNOMED CT) behind hypercapnic_target.
NON_LOINC_OBSERVATIONS = {"hypercapnic_target": ("news2_spo2_scale2",)}


def resource_types(features: Iterable[str]) -> set[str]:
    types: set[str] = set()
    for name in features:
        types.update(FEATURE_RESOURCES.get(name, ()))
    return types


def coded_query(resource_type: str, concepts: Iterable[str]) -> str:
    """``Type?patient=...&code=system|code,...`` for every code of the adapter's value sets ``concepts``."""
    pairs: list[str] = []
    for concept in concepts:
        for code in value_set(concept).codes:
            pair = f"{code.system}|{code.code}"
            if pair not in pairs:
                pairs.append(pair)
    return f"{resource_type}?patient={PATIENT}&code={','.join(pairs)}"


def prefetch_for(features: Iterable[str]) -> dict[str, str]:
    """The prefetch templates needed to extract ``features``."""
    features = tuple(dict.fromkeys(features))
    types = resource_types(features)
    prefetch = {"patient": f"Patient/{PATIENT}"}
    observed = [f for f in features if f in OBSERVATION_CODES]
    if observed:
        prefetch["observations"] = observation_query(observed)
    non_loinc = [c for f in features for c in NON_LOINC_OBSERVATIONS.get(f, ())]
    if non_loinc:
        prefetch["coded_observations"] = coded_query("Observation", non_loinc)
    if "Condition" in types:
        prefetch["conditions"] = f"Condition?patient={PATIENT}"
    if "MedicationRequest" in types:
        prefetch["medications"] = f"MedicationRequest?patient={PATIENT}&status=active"
    if "MedicationStatement" in types:
        prefetch["medication_statements"] = f"MedicationStatement?patient={PATIENT}&status=active"
    if "Procedure" in types:
        prefetch["procedures"] = coded_query("Procedure", PROCEDURE_CONCEPTS)
    if "FamilyMemberHistory" in types:
        prefetch["family_history"] = f"FamilyMemberHistory?patient={PATIENT}"
    if "Goal" in types:
        prefetch["goals"] = f"Goal?patient={PATIENT}&lifecycle-status=active"
    return prefetch
