"""patient-view: cardiovascular risk (ACC/AHA Pooled Cohort Equations, AHA PREVENT) and kidney function."""
from __future__ import annotations

from cds_hooks.declaration import HookCall, service


@service(
    id="cardiovascular-risk",
    hook="patient-view",
    title="Cardiovascular risk (PCE 2013, PREVENT 2024)",
    description=(
        "10-year ASCVD risk by the ACC/AHA 2013 Pooled Cohort Equations and 10-year total CVD, ASCVD and heart-failure "
        "risk by the AHA PREVENT equations, with eGFR by CKD-EPI 2021 when needed; every card lists its inputs, "
        "their dates and sources."
    ),
    engines=("pce-2013", "prevent-2024-base", "ckd-epi-2021-cr"),
)
def cardiovascular_risk(call: HookCall):
    return call.run_engines()
