"""patient-view: validated risk scores (kidney, atrial fibrillation stroke/bleeding, liver fibrosis, 30-year CVD,
type 2 diabetes risk).

The ``@service`` declaration derives the prefetch from the features these calculators require or read optionally.
"""
from __future__ import annotations

from cds_hooks.declaration import HookCall, service

RISK_ENGINES = (
    "ckd-epi-2021-cr-cys", "kdigo-2012-ckd-stage", "kfre-4v", "cha2ds2-vasc", "has-bled", "fib-4",
    "prevent-2024-30y", "ada-diabetes-risk",
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
    engines=RISK_ENGINES,
)
def risk_scores(call: HookCall):
    return call.run_engines()
