"""patient-view: possible undiagnosed conditions (diabetes, hypertension, CKD, obesity, FH, anaemia) from results.

The ``@service`` declaration derives the prefetch from every feature the detectors read: the observation codes of
those features, the problem list (a detector fires only when its condition is not on it), active medications
(antihypertensive / statin treatment is named on the card) and dialysis / transplant procedures (known kidney
failure suppresses the CKD card).
"""
from __future__ import annotations

from cds_hooks.declaration import HookCall, service

DIAGNOSIS_ENGINES = ("diabetes-gap", "hypertension-gap", "ckd-gap", "obesity-gap", "fh-possible", "anemia-gap")
# Weight management (USPSTF 2018) reads the obesity detector: on the obesity card when it is shown.
TREATMENT_RULES = ("weight-loss-uspstf-2018",)


@service(
    id="diagnosis-gaps",
    hook="patient-view",
    title="Possible undiagnosed conditions (diabetes, hypertension, CKD, obesity, FH, anaemia)",
    description=(
        "Finds conditions that the patient's own results meet guideline criteria for but that are not on the active "
        "problem list: diabetes and prediabetes (ADA 2024), hypertension (ACC/AHA 2017), chronic kidney disease "
        "(KDIGO 2012), obesity class (WHO), possible familial hypercholesterolaemia (LDL-C >= 190 mg/dL) and anaemia "
        "(WHO). Each card names the results that meet each criterion and offers a provisional problem-list entry "
        "and/or the confirmatory test. Adults with BMI >= 30 are offered a referral to a behavioural weight-loss "
        "programme (USPSTF 2018, grade B)."
    ),
    engines=DIAGNOSIS_ENGINES + TREATMENT_RULES,
)
def diagnosis_gaps(call: HookCall):
    return call.run_engines()
