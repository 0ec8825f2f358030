"""patient-view: validated risk scores (kidney, atrial fibrillation stroke/bleeding, liver fibrosis, 30-year CVD,
type 2 diabetes risk).

The features are listed here rather than read from the calculators at import time, so that this module never fails
to import over a calculator; tests/protocol/test_services_issue3.py checks that the list is exactly the features the
calculators require or read optionally, and the prefetch is derived from it (``feature_prefetch.prefetch_for``).
"""
from __future__ import annotations

from cds_hooks.declaration import HookCall, service
from cds_hooks.services.feature_prefetch import prefetch_for

RISK_ENGINES = (
    "ckd-epi-2021-cr-cys", "kdigo-2012-ckd-stage", "kfre-4v", "cha2ds2-vasc", "has-bled", "fib-4",
    "prevent-2024-30y", "ada-diabetes-risk",
)
RISK_FEATURES = (
    # patient
    "age_years", "sex",
    # laboratory and vital signs
    "creatinine_mgdl", "cystatin_c_mgl", "egfr_mlmin173m2", "uacr_mgg", "sbp_mmhg", "chol_total_mgdl", "hdl_mgdl",
    "hba1c_pct", "bmi_kgm2", "ast_ul", "alt_ul", "platelets_10e9l", "bilirubin_total_mgdl",
    # history, habits and status
    "smoker_current", "physically_active", "pregnant", "family_history_diabetes", "gestational_diabetes_history",
    "dialysis_or_transplant",
    # problem list
    "diabetes", "hypertension", "atrial_fibrillation", "heart_failure", "stroke_tia_thromboembolism",
    "vascular_disease", "ascvd", "liver_disease", "bleeding_history", "alcohol_excess",
    # medications
    "anticoagulant", "antiplatelet_or_nsaid", "bp_treated", "statin",
)


@service(
    id="risk-scores",
    hook="patient-view",
    title="Risk scores: kidney (CKD-EPI, KDIGO, KFRE), AF (CHA2DS2-VASc, HAS-BLED), FIB-4, PREVENT 30-year, diabetes risk",
    description=(
        "Validated risk scores from the patient's record, each with its inputs, dates, sources and citation: "
        "CKD-EPI 2021 creatinine-cystatin C eGFR, KDIGO 2012 G/A stage and heat-map risk, 4-variable Kidney Failure "
        "Risk Equation, CHA2DS2-VASc and HAS-BLED in atrial fibrillation, FIB-4 liver fibrosis index, AHA PREVENT "
        "30-year risk and the ADA type 2 diabetes risk test. Scores that lack data are listed on one card."
    ),
    prefetch=prefetch_for(RISK_FEATURES),
    engines=RISK_ENGINES,
)
def risk_scores(call: HookCall):
    return call.run_engines()
