"""Concept groups of the adapter, over the one terminology module (``fhir_adapter.terminology``).

The value sets and the matcher live in ``fhir_adapter/terminology``; this module names which of those value sets are
read from which kind of resource (observation codes, answers, conditions, medications, procedures) and re-exports
the matcher for the adapter's modules.
"""
from __future__ import annotations

from typing import Iterable

from fhir_adapter.terminology import (  # noqa: F401 - re-exported for the adapter
    ATC,
    ICD10,
    ICD10CM,
    ICD10PCS,
    LOINC,
    OMB_RACE_ETHNICITY,
    RXNORM,
    SNOMED,
    UCUM,
    Code,
    Prefix,
    ValueSet,
    codes_for,
    concept_of_coding,
    concepts_named_in,
    concepts_of_coding,
    concepts_of_codings,
    concepts_of_pairs,
    medication_concepts_by_text,
    normalise_system,
    value_set,
    value_set_names,
)

# Concept groups, so callers can ask "which condition concepts exist" without string literals.
# An Observation is read only if its top-level code is in OBSERVATION_CONCEPTS.
OBSERVATION_CONCEPTS = (
    "chol_total", "hdl", "ldl", "sbp", "dbp", "bp_panel", "smoking_status",
    "hba1c", "creatinine", "egfr", "bmi", "body_height", "body_weight",
    "waist_circumference", "cystatin_c", "uacr", "glucose_fasting", "glucose_ogtt_2h", "glucose_random",
    "hemoglobin", "platelets", "ast", "alt", "bilirubin_total", "inr",
    "respiratory_rate", "heart_rate", "body_temperature", "spo2", "o2_flow", "fio2", "o2_device",
    "vital_signs_panel", "consciousness", "gcs_total", "news2_spo2_scale2", "pregnancy_status", "pregnancy_test",
    "pa_minutes_per_week", "pa_days_per_week", "pa_minutes_per_day",
)
SMOKING_ANSWER_CONCEPTS = ("smoker_current", "smoker_former", "smoker_never", "smoker_unknown")
# Answer codes (Observation.valueCodeableConcept), never matched as Observation codes.
AVPU_ANSWER_CONCEPTS = ("avpu_alert", "avpu_confusion", "avpu_voice", "avpu_pain", "avpu_unresponsive")
PREGNANCY_ANSWER_CONCEPTS = ("answer_pregnant", "answer_not_pregnant")
QUALITATIVE_ANSWER_CONCEPTS = ("answer_positive", "answer_negative")
CONDITION_CONCEPTS = (
    "diabetes", "hypertension", "ascvd",
    "atrial_fibrillation", "heart_failure", "stroke_tia_thromboembolism", "vascular_disease",
    "chronic_kidney_disease", "dialysis_or_transplant", "liver_disease", "bleeding_history", "alcohol_excess",
    "obesity", "familial_hypercholesterolemia", "anemia", "prediabetes", "pregnancy", "gestational_diabetes",
    "hypercapnic_respiratory_failure", "family_history_diabetes_finding", "no_family_history_diabetes_finding",
    "breastfeeding", "statin_intolerance", "rhabdomyolysis",
    "chronic_dialysis", "decompensated_liver_disease", "mechanical_heart_valve", "mitral_stenosis",
)
MEDICATION_CONCEPTS = ("antihypertensive", "statin", "antiplatelet", "nsaid", "anticoagulant")
PROCEDURE_CONCEPTS = ("dialysis_procedure", "kidney_transplant_procedure", "ascvd_procedure")
# Value sets an AllergyIntolerance substance is read against (drug allergies are also read by drug class).
ALLERGY_CONCEPTS = ("statin_intolerance",)
# Conditions of relatives (FamilyMemberHistory.condition.code) that are read.
FAMILY_HISTORY_CONCEPTS = ("diabetes",)
RELATIONSHIP_CONCEPTS = ("family_first_degree", "family_second_degree")


def condition_concepts(pairs: Iterable[tuple[str, str]]) -> set[str]:
    """Condition concepts present among (system, code) pairs, e.g. ``FeatureSet.condition_codes``.

    Lets a detector ask "is diabetes already on the problem list" with the adapter's own code lists.
    """
    return concepts_of_pairs(pairs) & set(CONDITION_CONCEPTS)


def has_condition(pairs: Iterable[tuple[str, str]], concept: str) -> bool:
    return concept in condition_concepts(pairs)


# The per-feature tables (OBSERVATION_CODES, FEATURE_RESOURCES, ALL_OBSERVATION_LOINC) follow from the feature
# catalogue and live in fhir_adapter/feature_codes.py; they are served from here too, loaded on first use because
# that module imports this one.
_FEATURE_TABLES = frozenset({"OBSERVATION_CODES", "NON_LOINC_OBSERVATION_CODES", "FEATURE_RESOURCES",
                             "ALL_OBSERVATION_LOINC"})


def __getattr__(name: str):
    if name in _FEATURE_TABLES:
        from fhir_adapter import feature_codes

        return getattr(feature_codes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
