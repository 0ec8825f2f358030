"""patient-view: cardiovascular risk (ACC/AHA Pooled Cohort Equations, AHA PREVENT), kidney function, and the treatment
that follows from them: statin therapy (2018 AHA/ACC, USPSTF 2022), blood-pressure drug therapy (2017 ACC/AHA) and
tobacco cessation (USPSTF 2021).

The treatment rules read the findings of the scores declared with them (two phases, engine.runner): the statin
recommendation is on the card of the 10-year risk it follows from (docs/treatment.md).
"""
from __future__ import annotations

from cds_hooks.declaration import HookCall, service


@service(
    id="cardiovascular-risk",
    hook="patient-view",
    title="Cardiovascular risk and prevention (PCE 2013, PREVENT 2024; statin, BP and tobacco therapy)",
    description=(
        "10-year ASCVD risk by the ACC/AHA 2013 Pooled Cohort Equations and 10-year total CVD, ASCVD and heart-failure "
        "risk by the AHA PREVENT equations, with eGFR by CKD-EPI 2021 when needed; every card lists its inputs, "
        "their dates and sources. With them, what the guidelines recommend: statin therapy (2018 AHA/ACC cholesterol "
        "guideline, USPSTF 2022), blood-pressure drug therapy (2017 ACC/AHA) and tobacco cessation (USPSTF 2021), "
        "each with its class or grade and a draft order to accept."
    ),
    engines=("pce-2013", "prevent-2024-base", "ckd-epi-2021-cr",
             "statin-aha-acc-2018", "bp-treatment-acc-aha-2017", "tobacco-cessation-uspstf-2021"),
)
def cardiovascular_risk(call: HookCall):
    return call.run_engines()
