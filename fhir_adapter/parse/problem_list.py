"""Which Conditions are on the active problem list (HL7 condition-clinical / condition-ver-status)."""
from __future__ import annotations

from fhir_adapter.parse.records import ConditionRecord

# Clinical statuses that put a Condition on the active problem list (HL7 condition-clinical).
ACTIVE_CLINICAL_STATUS = frozenset({"active", "recurrence", "relapse"})

# Verification statuses that take a Condition off the record altogether (HL7 condition-ver-status).
DROPPED_VERIFICATION_STATUS = frozenset({"refuted", "entered-in-error"})


def on_problem_list(record: ConditionRecord) -> bool:
    """Active (active / recurrence / relapse, or no clinical status and no abatement) and not refuted."""
    if record.verification_status in DROPPED_VERIFICATION_STATUS:
        return False
    if record.clinical_status is None:
        return not record.abated
    return record.clinical_status in ACTIVE_CLINICAL_STATUS
