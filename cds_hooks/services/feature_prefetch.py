"""Prefetch templates derived from the features a service's engines read, so each service asks for exactly what it uses.

``engine/feature_catalog.py`` declares which FHIR resource types and value sets each feature is read from;
``fhir_adapter.feature_codes`` joins that with the terminology. This module turns a feature list into one template per
resource type: Observations by the LOINC codes of those features (``observation_query``) and, as a separate optional
key, by their codes outside LOINC; everything else (problem list, medications, allergies, procedures, family
history, goals) by patient. Features read only from the Patient need just the Patient.
"""
from __future__ import annotations

from typing import Iterable

from fhir_adapter.feature_codes import FEATURE_RESOURCES, NON_LOINC_OBSERVATION_CODES, OBSERVATION_CODES

LOINC = "http://loinc.org"

PATIENT = "{{context.patientId}}"
# Prefetch key per resource type, in the order they appear in discovery.
PREFETCH_KEYS = {
    "Patient": "patient",
    "Observation": "observations",
    "Condition": "conditions",
    "MedicationRequest": "medications",
    "MedicationStatement": "medication_statements",
    "AllergyIntolerance": "allergies",
    "Procedure": "procedures",
    "FamilyMemberHistory": "family_history",
    "Goal": "goals",
}
# Keys a service can answer without: if the EHR can't supply them, the engines treat them as absent and say so,
# rather than the whole hook failing with 412. Each feeds only an item of a score or adds to a required key:
# MedicationStatement (US Core no longer requires it; MedicationRequest stays required), allergies (statin
# intolerance), procedures (dialysis / transplant and coronary revascularisation beside the problem list), family
# history (one item of the ADA test), an SpO2 target (NEWS2 scale 2), and Observations coded outside LOINC.
OPTIONAL_KEYS = ("medication_statements", "allergies", "procedures", "family_history", "goals", "coded_observations")

# Templates for resource types read by patient, without codes: the problem list (a detector fires only when its
# condition is absent from it, so every entry matters), every procedure (the coronary revascularisation value sets
# hold hundreds of codes, too many for a code= query), and the medication list.
_BY_PATIENT = {
    "Condition": f"Condition?patient={PATIENT}",
    # _include brings the Medication a request refers to (medicationReference, the usual EHR shape) into the same
    # Bundle; without it the ingredient of a referenced drug is unknown.
    "MedicationRequest": f"MedicationRequest?patient={PATIENT}&status=active&_include=MedicationRequest:medication",
    "MedicationStatement": f"MedicationStatement?patient={PATIENT}&_include=MedicationStatement:medication",
    "AllergyIntolerance": f"AllergyIntolerance?patient={PATIENT}",
    "Procedure": f"Procedure?patient={PATIENT}",
    "FamilyMemberHistory": f"FamilyMemberHistory?patient={PATIENT}",
    "Goal": f"Goal?patient={PATIENT}&lifecycle-status=active",
}


def observation_query(features: Iterable[str]) -> str:
    """``Observation?patient=...&code=http://loinc.org|...`` for every LOINC code of ``features``, newest first."""
    codes: list[str] = []
    for feature in features:
        for code in OBSERVATION_CODES.get(feature, ()):
            if code not in codes:
                codes.append(code)
    code_param = ",".join(f"{LOINC}|{code}" for code in codes)
    return f"Observation?patient={PATIENT}&code={code_param}&_sort=-date"


def coded_observation_query(features: Iterable[str]) -> str | None:
    """``Observation?patient=...&code=system|code,...`` for the Observation codes of ``features`` outside LOINC."""
    pairs: list[str] = []
    for feature in features:
        for system, code in NON_LOINC_OBSERVATION_CODES.get(feature, ()):
            pair = f"{system}|{code}"
            if pair not in pairs:
                pairs.append(pair)
    return f"Observation?patient={PATIENT}&code={','.join(pairs)}" if pairs else None


def resource_types(features: Iterable[str]) -> set[str]:
    """Resource types to prefetch for ``features`` (those with a prefetch key)."""
    types: set[str] = set()
    for name in features:
        types.update(t for t in FEATURE_RESOURCES.get(name, ()) if t in PREFETCH_KEYS)
    return types


def prefetch_for(features: Iterable[str], records: Iterable[str] = ()) -> dict[str, str]:
    """The prefetch templates needed to extract ``features`` and to read the ``records`` (FHIR resource types read as
    lists, e.g. MedicationRequest and AllergyIntolerance for order-time checks)."""
    features = tuple(dict.fromkeys(features))
    types = resource_types(features) | {t for t in records if t in PREFETCH_KEYS}
    prefetch = {"patient": f"Patient/{PATIENT}"}
    observed = [f for f in features if f in OBSERVATION_CODES]
    if observed:
        prefetch["observations"] = observation_query(observed)
    coded = coded_observation_query(features)
    if coded:
        prefetch["coded_observations"] = coded
    for resource_type, key in PREFETCH_KEYS.items():
        if resource_type in types and resource_type in _BY_PATIENT:
            prefetch[key] = _BY_PATIENT[resource_type]
    return prefetch
