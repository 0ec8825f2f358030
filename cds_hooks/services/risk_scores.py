"""patient-view: validated risk scores (kidney, atrial fibrillation stroke/bleeding, liver fibrosis, 30-year CVD,
type 2 diabetes risk), and the treatment that follows from them: oral anticoagulation in AF (2023 ACC/AHA/ACCP/HRS,
on the CHA2DS2-VASc card) and kidney-protective therapy in type 2 diabetes with CKD (KDIGO 2022, on the CKD card).

The ``@service`` declaration derives the prefetch from the features these calculators require or read optionally.
"""
from __future__ import annotations

from cds_hooks.declaration import HookCall, service

RISK_ENGINES = (
    "ckd-epi-2021-cr-cys", "kdigo-2012-ckd-stage", "kfre-4v", "cha2ds2-vasc", "has-bled", "fib-4",
    "prevent-2024-30y", "ada-diabetes-risk",
)
TREATMENT_RULES = ("af-anticoagulation-2023", "t2d-ckd-kdigo-2022")


@service(
    id="risk-scores",
    hook="patient-view",
    title="Risk scores: kidney (CKD-EPI, KDIGO, KFRE), AF (CHA2DS2-VASc, HAS-BLED), FIB-4, PREVENT 30-year, diabetes risk",
    description=(
        "Validated risk scores from the patient's record, each with its inputs, dates, sources and citation: "
        "CKD-EPI 2021 creatinine-cystatin C eGFR, KDIGO 2012 G/A stage and heat-map risk, 4-variable Kidney Failure "
        "Risk Equation, CHA2DS2-VASc and HAS-BLED in atrial fibrillation, FIB-4 liver fibrosis index, AHA PREVENT "
        "30-year risk and the ADA type 2 diabetes risk test. Scores that lack data are listed on one card. With them, "
        "oral anticoagulation in atrial fibrillation (2023 ACC/AHA/ACCP/HRS) and SGLT2 inhibitor, metformin and ACE "
        "inhibitor/ARB therapy in type 2 diabetes with CKD (KDIGO 2022, ADA 2025), with class or grade and draft orders."
    ),
    engines=RISK_ENGINES + TREATMENT_RULES,
)
def risk_scores(call: HookCall):
    return call.run_engines()
