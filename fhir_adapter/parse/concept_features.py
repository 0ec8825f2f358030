"""Which features each value-set concept feeds, to attribute a resource's problems to them."""
from __future__ import annotations

from typing import Iterable

# Features each concept feeds, so that a problem with a resource is attributed to the features it
# would have supplied (and shown only on the findings that read them).
CONCEPT_FEATURES: dict[str, tuple[str, ...]] = {
    "chol_total": ("chol_total_mgdl",),
    "hdl": ("hdl_mgdl",),
    "ldl": ("ldl_mgdl",),
    "sbp": ("sbp_mmhg",),
    "dbp": ("dbp_mmhg",),
    "bp_panel": ("sbp_mmhg", "dbp_mmhg"),
    "smoking_status": ("smoker_current",),
    "hba1c": ("hba1c_pct",),
    "creatinine": ("creatinine_mgdl", "egfr_mlmin173m2"),
    "egfr": ("egfr_mlmin173m2",),
    "bmi": ("bmi_kgm2",),
    "body_height": ("bmi_kgm2",),
    "body_weight": ("bmi_kgm2",),
    "diabetes": ("diabetes",),
    "hypertension": ("hypertension",),
    "ascvd": ("ascvd",),
    "antihypertensive": ("bp_treated",),
    "statin": ("statin",),
    "waist_circumference": ("waist_cm",),
    "cystatin_c": ("cystatin_c_mgl",),
    "uacr": ("uacr_mgg",),
    "glucose_fasting": ("glucose_fasting_mgdl",),
    "glucose_ogtt_2h": ("glucose_ogtt_2h_mgdl",),
    "glucose_random": ("glucose_random_mgdl",),
    "hemoglobin": ("hemoglobin_gdl",),
    "platelets": ("platelets_10e9l",),
    "ast": ("ast_ul",),
    "alt": ("alt_ul",),
    "bilirubin_total": ("bilirubin_total_mgdl",),
    "inr": ("inr",),
    "respiratory_rate": ("respiratory_rate_min",),
    "heart_rate": ("heart_rate_min",),
    "body_temperature": ("temperature_c",),
    "spo2": ("spo2_pct", "on_supplemental_o2"),
    "o2_flow": ("on_supplemental_o2",),
    "fio2": ("on_supplemental_o2",),
    "o2_device": ("on_supplemental_o2",),
    "vital_signs_panel": ("respiratory_rate_min", "heart_rate_min", "temperature_c", "spo2_pct"),
    "consciousness": ("consciousness_avpu",),
    "gcs_total": ("gcs_total",),
    "news2_spo2_scale2": ("hypercapnic_target",),
    "pregnancy_status": ("pregnant",),
    "pregnancy_test": ("pregnant",),
    "breastfeeding": ("breastfeeding",),
    "statin_intolerance": ("statin_intolerance",),
    "rhabdomyolysis": ("statin_intolerance",),
    "ascvd_procedure": ("ascvd",),
    "pa_minutes_per_week": ("physically_active",),
    "pa_days_per_week": ("physically_active",),
    "pa_minutes_per_day": ("physically_active",),
    "atrial_fibrillation": ("atrial_fibrillation",),
    "heart_failure": ("heart_failure",),
    "stroke_tia_thromboembolism": ("stroke_tia_thromboembolism",),
    "vascular_disease": ("vascular_disease",),
    "chronic_kidney_disease": ("chronic_kidney_disease",),
    "dialysis_or_transplant": ("dialysis_or_transplant",),
    "liver_disease": ("liver_disease",),
    "bleeding_history": ("bleeding_history",),
    "alcohol_excess": ("alcohol_excess",),
    "obesity": ("obesity",),
    "familial_hypercholesterolemia": ("familial_hypercholesterolemia",),
    "anemia": ("anemia",),
    "prediabetes": ("prediabetes",),
    "pregnancy": ("pregnant",),
    "gestational_diabetes": ("gestational_diabetes_history",),
    "hypercapnic_respiratory_failure": ("hypercapnic_target",),
    "family_history_diabetes_finding": ("family_history_diabetes",),
    "no_family_history_diabetes_finding": ("family_history_diabetes",),
    "antiplatelet": ("antiplatelet_or_nsaid",),
    "nsaid": ("antiplatelet_or_nsaid",),
    "anticoagulant": ("anticoagulant",),
    "dialysis_procedure": ("dialysis_or_transplant",),
    "kidney_transplant_procedure": ("dialysis_or_transplant",),
    "family_history": ("family_history_diabetes",),
    "spo2_goal": ("hypercapnic_target",),
}


def features_of(concepts: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for c in concepts:
        for f in CONCEPT_FEATURES.get(c, ()):
            if f not in out:
                out.append(f)
    return tuple(out)
