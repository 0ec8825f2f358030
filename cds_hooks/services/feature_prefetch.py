"""Prefetch templates derived from the features a service's engines read, so each service asks for exactly what it uses.

``fhir_adapter.codes.FEATURE_RESOURCES`` says which FHIR resource types the adapter reads a feature from; this module
turns a feature list into one template per resource type: Observations by the LOINC codes of those features
(``observation_query``), Procedures by the dialysis / transplant codes, and the problem list,
medications, family history and goals by patient. Features read only from the Patient need just the Patient.
"""
from __future__ import annotations

from typing import Iterable

from fhir_adapter.codes import FEATURE_RESOURCES, OBSERVATION_CODES, PROCEDURE_CONCEPTS, value_set

LOINC = "http://loinc.org"

PATIENT = "{{context.patientId}}"
# Prefetch key per resource type, in the order they appear in discovery.
PREFETCH_KEYS = {
    "Observation": "observations",
    "Condition": "conditions",
    "MedicationRequest": "medications",
    "Procedure": "procedures",
    "FamilyMemberHistory": "family_history",
    "Goal": "goals",
}
# Keys a service can answer without: each feeds only an item or two of a score (family history for the ADA test,
# an SpO2 target for NEWS2 scale 2, dialysis procedures beside the problem list). If the EHR can't supply them, the
# engines treat them as absent and say so, rather than the whole hook failing with 412.
OPTIONAL_KEYS = ("family_history", "goals", "procedures", "coded_observations")
# Observations the adapter reads that are coded outside LOINC (observation_query asks by LOINC only): the NEWS2
# "SpO2 scale 2" record (SNOMED CT) behind hypercapnic_target.
NON_LOINC_OBSERVATIONS = {"hypercapnic_target": ("news2_spo2_scale2",)}


def observation_query(features: Iterable[str]) -> str:
    """``Observation?patient=...&code=http://loinc.org|...`` for every LOINC code of ``features``, newest first."""
    codes: list[str] = []
    for feature in features:
        for code in OBSERVATION_CODES.get(feature, ()):
            if code not in codes:
                codes.append(code)
    code_param = ",".join(f"{LOINC}|{code}" for code in codes)
    return f"Observation?patient={PATIENT}&code={code_param}&_sort=-date"


def resource_types(features: Iterable[str]) -> set[str]:
    """Resource types to prefetch for ``features``. MedicationStatement is read when an EHR sends it, but never
    asked for: US Core no longer requires it, and every prefetch key is required, so an EHR without it would turn
    every call into a 412."""
    types: set[str] = set()
    for name in features:
        types.update(t for t in FEATURE_RESOURCES.get(name, ()) if t in PREFETCH_KEYS or t == "Patient")
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
    if "Procedure" in types:
        prefetch["procedures"] = coded_query("Procedure", PROCEDURE_CONCEPTS)
    if "FamilyMemberHistory" in types:
        prefetch["family_history"] = f"FamilyMemberHistory?patient={PATIENT}"
    if "Goal" in types:
        prefetch["goals"] = f"Goal?patient={PATIENT}&lifecycle-status=active"
    return prefetch
