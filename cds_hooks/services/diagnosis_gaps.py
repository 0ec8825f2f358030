"""patient-view: possible undiagnosed conditions (diabetes, hypertension, CKD, obesity, FH, anaemia) from results.

The ``@service`` declaration derives the prefetch from every feature the detectors read: the observation codes of
those features, the problem list (a detector fires only when its condition is not on it), active medications
(antihypertensive / statin treatment is named on the card) and dialysis / transplant procedures (known kidney
failure suppresses the CKD card).
"""
from __future__ import annotations

from cds_hooks.declaration import HookCall, service

DIAGNOSIS_ENGINES = ("diabetes-gap", "hypertension-gap", "ckd-gap", "obesity-gap", "fh-possible", "anemia-gap")


@service(
    id="diagnosis-gaps",
    hook="patient-view",
    title="Possible undiagnosed conditions (diabetes, hypertension, CKD, obesity, FH, anaemia)",
    description=(
        "Finds conditions that the patient's own results meet guideline criteria for but that are not on the active "
        "problem list: diabetes and prediabetes (ADA 2024), hypertension (ACC/AHA 2017), chronic kidney disease "
        "(KDIGO 2012), obesity class (WHO), possible familial hypercholesterolaemia (LDL-C >= 190 mg/dL) and anaemia "
        "(WHO). Each card names the results that meet each criterion and offers a provisional problem-list entry "
        "and/or the confirmatory test."
    ),
    engines=DIAGNOSIS_ENGINES,
)
def diagnosis_gaps(call: HookCall):
    return call.run_engines()
