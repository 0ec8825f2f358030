"""Which codes and FHIR resource types each feature is read from: the feature catalogue over the terminology.

``engine/feature_catalog.py`` names, per feature, the resource types and the value sets (terminology concepts) it is
read from, and the features it is derived from; the terminology holds the codes of each value set. This module joins
the two for the service layer (prefetch templates, search queries): a feature derived from others is asked for with
their codes and resource types too (eGFR with creatinine, BMI with weight and height).
"""
from __future__ import annotations

from engine.feature_catalog import FEATURE_SPECS, FEATURES
from fhir_adapter.codes import LOINC, OBSERVATION_CONCEPTS, value_set


def _with_dependencies_in_order(name: str) -> list[str]:
    """``name`` first, then the features it is derived from, each once."""
    ordered = [name]
    for dependency in FEATURE_SPECS[name].depends_on:
        ordered.extend(n for n in _with_dependencies_in_order(dependency) if n not in ordered)
    return ordered


def observation_value_sets(name: str) -> list[str]:
    """The Observation value sets (own and panels) of a feature and of the features it is derived from."""
    concepts: list[str] = []
    for feature in _with_dependencies_in_order(name):
        spec = FEATURE_SPECS[feature]
        if "Observation" not in spec.resources:
            continue
        concepts.extend(c for c in (*spec.value_sets, *spec.panel_value_sets)
                        if c in OBSERVATION_CONCEPTS and c not in concepts)
    return concepts


def observation_codings(name: str) -> list[tuple[str, str]]:
    """(system, code) of every Observation code a feature is read from, in value-set order."""
    pairs: list[tuple[str, str]] = []
    for concept in observation_value_sets(name):
        for code in value_set(concept).all_codes():  # included VSAC expansions too (e.g. the hCG tests)
            pair = (code.system, code.code)
            if pair not in pairs:
                pairs.append(pair)
    return pairs


def feature_resources(name: str) -> tuple[str, ...]:
    """The resource types a feature and the features it is derived from are read from."""
    types: list[str] = []
    for feature in _with_dependencies_in_order(name):
        types.extend(t for t in FEATURE_SPECS[feature].resources if t not in types)
    return tuple(types)


# Feature name -> LOINC codes to fetch, for building prefetch / search queries in the service layer.
OBSERVATION_CODES: dict[str, list[str]] = {
    spec.name: codes for spec in FEATURES
    if (codes := [code for system, code in observation_codings(spec.name) if system == LOINC])
}

# Feature name -> Observation codes outside LOINC, which a LOINC-only query does not find (the NEWS2 "SpO2 scale 2"
# record and the ACVPU observable, both SNOMED CT UK edition).
NON_LOINC_OBSERVATION_CODES: dict[str, list[tuple[str, str]]] = {
    spec.name: pairs for spec in FEATURES
    if (pairs := [(system, code) for system, code in observation_codings(spec.name) if system != LOINC])
}

# Feature name -> FHIR resource types the adapter reads it from (with those of the features it is derived from), so a
# service can declare every prefetch its engines need.
FEATURE_RESOURCES: dict[str, tuple[str, ...]] = {spec.name: feature_resources(spec.name) for spec in FEATURES}

# Every LOINC code the adapter reads, for a single Observation?code=... query.
ALL_OBSERVATION_LOINC: list[str] = sorted({c for codes in OBSERVATION_CODES.values() for c in codes})

