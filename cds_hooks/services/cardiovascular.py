"""patient-view: cardiovascular risk (ACC/AHA Pooled Cohort Equations, AHA PREVENT) and kidney function."""
from __future__ import annotations

from cds_hooks.declaration import HookCall, service
from cds_hooks.services.prefetch_queries import observation_query

CARDIOVASCULAR_FEATURES = (
    "chol_total_mgdl", "hdl_mgdl", "ldl_mgdl", "sbp_mmhg", "dbp_mmhg", "smoker_current", "hba1c_pct",
    "creatinine_mgdl", "egfr_mlmin173m2", "bmi_kgm2",
)


@service(
    id="cardiovascular-risk",
    hook="patient-view",
    title="Cardiovascular risk (PCE 2013, PREVENT 2024)",
    description=(
        "10-year ASCVD risk by the ACC/AHA 2013 Pooled Cohort Equations and 10-year total CVD, ASCVD and heart-failure "
        "risk by the AHA PREVENT equations, with eGFR by CKD-EPI 2021 when needed; every card lists its inputs, "
        "their dates and sources."
    ),
    prefetch={
        "patient": "Patient/{{context.patientId}}",
        "observations": observation_query(CARDIOVASCULAR_FEATURES),
        "conditions": "Condition?patient={{context.patientId}}",
        "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
    },
    engines=("pce-2013", "prevent-2024-base", "ckd-epi-2021-cr"),
)
def cardiovascular_risk(call: HookCall):
    return call.run_engines()
