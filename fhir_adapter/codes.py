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
    ingredient_of,
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
    "vital_signs_panel", "consciousness", "gcs_total", "news2_spo2_scale2", "pregnancy_status",
    "pa_minutes_per_week", "pa_days_per_week", "pa_minutes_per_day",
)
SMOKING_ANSWER_CONCEPTS = ("smoker_current", "smoker_former", "smoker_never", "smoker_unknown")
# Answer codes (Observation.valueCodeableConcept), never matched as Observation codes.
AVPU_ANSWER_CONCEPTS = ("avpu_alert", "avpu_confusion", "avpu_voice", "avpu_pain", "avpu_unresponsive")
PREGNANCY_ANSWER_CONCEPTS = ("answer_pregnant", "answer_not_pregnant")
CONDITION_CONCEPTS = (
    "diabetes", "hypertension", "ascvd",
    "atrial_fibrillation", "heart_failure", "stroke_tia_thromboembolism", "vascular_disease",
    "chronic_kidney_disease", "dialysis_or_transplant", "liver_disease", "bleeding_history", "alcohol_excess",
    "obesity", "familial_hypercholesterolemia", "anemia", "prediabetes", "pregnancy", "gestational_diabetes",
    "hypercapnic_respiratory_failure", "family_history_diabetes_finding", "no_family_history_diabetes_finding",
)
MEDICATION_CONCEPTS = ("antihypertensive", "statin", "antiplatelet", "nsaid", "anticoagulant")
PROCEDURE_CONCEPTS = ("dialysis_procedure", "kidney_transplant_procedure")
# Conditions of relatives (FamilyMemberHistory.condition.code) that are read.
FAMILY_HISTORY_CONCEPTS = ("diabetes",)
RELATIONSHIP_CONCEPTS = ("family_first_degree", "family_second_degree")


def _observation_codes() -> dict[str, list[str]]:
    def loinc(*concepts: str) -> list[str]:
        out: list[str] = []
        for concept in concepts:
            out.extend(codes_for(concept, LOINC))
        return out

    return {
        "chol_total_mgdl": loinc("chol_total"),
        "hdl_mgdl": loinc("hdl"),
        "ldl_mgdl": loinc("ldl"),
        "sbp_mmhg": loinc("sbp", "bp_panel"),
        "dbp_mmhg": loinc("dbp", "bp_panel"),
        "smoker_current": loinc("smoking_status"),
        "hba1c_pct": loinc("hba1c"),
        "creatinine_mgdl": loinc("creatinine"),
        # eGFR may be derived from creatinine, so a prefetch for eGFR should also ask for creatinine.
        "egfr_mlmin173m2": loinc("egfr", "creatinine"),
        # BMI may be derived from height and weight.
        "bmi_kgm2": loinc("bmi", "body_height", "body_weight"),
        "height_cm": loinc("body_height"),
        "weight_kg": loinc("body_weight"),
        "waist_cm": loinc("waist_circumference"),
        "cystatin_c_mgl": loinc("cystatin_c"),
        "uacr_mgg": loinc("uacr"),
        "glucose_fasting_mgdl": loinc("glucose_fasting"),
        "glucose_ogtt_2h_mgdl": loinc("glucose_ogtt_2h"),
        "glucose_random_mgdl": loinc("glucose_random"),
        "hemoglobin_gdl": loinc("hemoglobin"),
        "platelets_10e9l": loinc("platelets"),
        "ast_ul": loinc("ast"),
        "alt_ul": loinc("alt"),
        "bilirubin_total_mgdl": loinc("bilirubin_total"),
        "inr": loinc("inr"),
        # Vital signs may also arrive as components of the FHIR vital-signs panel 85353-1.
        "respiratory_rate_min": loinc("respiratory_rate", "vital_signs_panel"),
        "heart_rate_min": loinc("heart_rate", "vital_signs_panel"),
        "temperature_c": loinc("body_temperature", "vital_signs_panel"),
        "spo2_pct": loinc("spo2", "vital_signs_panel"),
        # Oxygen flow / FiO2 are their own Observations or components of the SpO2 Observation (US Core).
        "on_supplemental_o2": loinc("o2_flow", "fio2", "o2_device", "spo2"),
        "consciousness_avpu": loinc("consciousness"),
        "gcs_total": loinc("gcs_total"),
        "pregnant": loinc("pregnancy_status"),
        "physically_active": loinc("pa_minutes_per_week", "pa_days_per_week", "pa_minutes_per_day"),
    }


# Feature name -> LOINC codes to fetch, for building prefetch / search queries in the service layer.
OBSERVATION_CODES: dict[str, list[str]] = _observation_codes()

# Concept -> codes per system, for Condition / medication queries if a server supports code search.
CONDITION_CODES: dict[str, list[str]] = {c: codes_for(c) for c in CONDITION_CONCEPTS}
MEDICATION_CODES: dict[str, list[str]] = {c: codes_for(c, RXNORM) for c in MEDICATION_CONCEPTS}
PROCEDURE_CODES: dict[str, list[str]] = {c: codes_for(c) for c in PROCEDURE_CONCEPTS}

# Feature name -> FHIR resource types the adapter reads it from, so a service can declare every prefetch its
# engines need (Observation codes per feature are in OBSERVATION_CODES). Features not listed come from Patient.
FEATURE_RESOURCES: dict[str, tuple[str, ...]] = {
    **{name: ("Observation",) for name in OBSERVATION_CODES},
    "smoker_current": ("Observation",),
    "hypercapnic_target": ("Goal", "Observation", "Condition"),
    "pregnant": ("Condition", "Observation"),
    "family_history_diabetes": ("FamilyMemberHistory", "Condition"),
    "dialysis_or_transplant": ("Condition", "Procedure"),
    **{name: ("Condition",) for name in (
        "diabetes", "hypertension", "ascvd", "atrial_fibrillation", "heart_failure", "stroke_tia_thromboembolism",
        "vascular_disease", "chronic_kidney_disease", "liver_disease", "bleeding_history", "alcohol_excess",
        "obesity", "familial_hypercholesterolemia", "anemia", "prediabetes", "gestational_diabetes_history")},
    **{name: ("MedicationRequest", "MedicationStatement") for name in (
        "bp_treated", "statin", "antiplatelet_or_nsaid", "anticoagulant")},
}


def condition_concepts(pairs: Iterable[tuple[str, str]]) -> set[str]:
    """Condition concepts present among (system, code) pairs, e.g. ``FeatureSet.condition_codes``.

    Lets a detector ask "is diabetes already on the problem list" with the adapter's own code lists.
    """
    found: set[str] = set()
    for system, code in pairs:
        found.update(c for c in concepts_of_coding(system, code) if c in CONDITION_CONCEPTS)
    return found


def has_condition(pairs: Iterable[tuple[str, str]], concept: str) -> bool:
    return concept in condition_concepts(pairs)

# Every LOINC code the adapter reads, for a single Observation?code=... query.
ALL_OBSERVATION_LOINC: list[str] = sorted({c for codes in OBSERVATION_CODES.values() for c in codes})
