"""patient-view: conditions affirmed in clinical notes but missing from the problem list (transformer engine).

The note engine ("note-diagnosis") runs like every other engine, through the service pipeline: it reads the notes of
the patient-scoped record (a note about another patient is dropped and reported, never read), a deceased patient
gets no suggestions, and note text held by URL (Binary) is read within what is left of the hook's deadline.
"""
from __future__ import annotations

import functools

from cds_hooks.declaration import HookCall, service


@functools.cache
def note_matcher():
    """One concept matcher (and sentence encoder) per process; lexical-only when the encoder can't load.
    The note engine uses the same one (engine.models.notes.shared_matcher); warming it here warms the engine."""
    from engine.models.notes import shared_matcher

    return shared_matcher()


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
    engines=("note-diagnosis",),
)
def note_diagnosis_gaps(call: HookCall):
    return call.run_engines()
