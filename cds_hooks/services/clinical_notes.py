"""patient-view: conditions affirmed in clinical notes but missing from the problem list (transformer engine)."""
from __future__ import annotations

import functools

from cds_hooks.declaration import HookCall, service


@functools.cache
def note_matcher():
    """One concept matcher (and sentence encoder) per process; lexical-only when the encoder can't load."""
    from engine.models.notes import build_matcher

    return build_matcher()


@service(
    id="note-diagnosis-gaps",
    hook="patient-view",
    title="Possible undocumented problems from clinical notes",
    description=(
        "Reads the patient's notes (DocumentReference, DiagnosticReport.presentedForm) and suggests adding conditions "
        "that the notes affirm as current (not negated, family, historical or hypothetical) but that are missing "
        "from the active problem list; each card quotes the sentence, its note and date."
    ),
    prefetch={
        "patient": "Patient/{{context.patientId}}",
        "documents": "DocumentReference?patient={{context.patientId}}&status=current&_sort=-date",
        "reports": "DiagnosticReport?patient={{context.patientId}}&_sort=-date",
        "conditions": "Condition?patient={{context.patientId}}",
    },
)
def note_diagnosis_gaps(call: HookCall):
    from engine.models.notes import note_diagnosis_findings
    from fhir_adapter.note_attachments import inline_note_attachments
    from fhir_adapter.notes import active_condition_codes, extract_notes

    data = call.prefetch
    client = call.fhir_client()
    if client is not None:  # note text held by URL (Binary) is read from the same FHIR server
        data, _ = inline_note_attachments(data, client, deadline_s=call.client_settings.deadline_s)
    notes = extract_notes(data)
    codes = active_condition_codes(call.prefetch.get("conditions") or [])
    return note_diagnosis_findings(notes, codes, call.as_of, matcher=note_matcher())
