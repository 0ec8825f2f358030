"""Medication features: True from an active MedicationRequest / MedicationStatement of the class."""
from __future__ import annotations

from engine.finding import Evidence
from engine.inputs import feature_label
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.dates import chronological_key, day_of
from fhir_adapter.features.evidence import matching_coding
from fhir_adapter.parse import MedicationRecord

_NOT_TAKEN_INTENTS = frozenset({"proposal", "plan"})

MEDICATION_RULES: dict[str, tuple[tuple[str, ...], str]] = {
    "bp_treated": (("antihypertensive",), "antihypertensive medication"),
    "statin": (("statin",), "statin"),
    "antiplatelet_or_nsaid": (("antiplatelet", "nsaid"), "antiplatelet or NSAID"),
    "anticoagulant": (("anticoagulant",), "oral anticoagulant"),
}


def medication_feature(ctx: ExtractionContext, name: str) -> None:
    concepts, words = MEDICATION_RULES[name]
    best: MedicationRecord | None = None
    inactive = 0
    for med in ctx.parsed.medications:
        if not any(c in med.matched_concepts() for c in concepts):
            continue
        if med.status == "entered-in-error":
            continue
        if med.status != "active" or med.do_not_perform or (
                med.resource_type == "MedicationRequest" and med.intent in _NOT_TAKEN_INTENTS):
            inactive += 1
            continue
        end = day_of(med.period_end)
        if end is not None and end < ctx.as_of:
            inactive += 1
            continue
        start = day_of(med.date)
        if start is not None and start > ctx.as_of:
            ctx.problem(med.ref, name, f"dated in the future ({start.isoformat()}); not counted")
            continue
        invalid = ctx.parsed.check(med, name)
        if invalid is not None:
            ctx.fs.problems.append(invalid)
            continue
        if best is None or chronological_key(med.date) > chronological_key(best.date):
            best = med
    if best is not None:
        coding = matching_coding(best.codes, concepts)
        if coding is not None:
            note = coding.label()
        else:
            matched = next(best.text_matches[c] for c in concepts if c in best.text_matches)
            note = f"matched by name '{matched}' in the medication text"
        ctx.fs.put(Evidence(name=name, label=feature_label(name), value=True, unit=None,
                            effective=best.date, source=best.ref, note=note))
        return
    note = f"no active {words} on the medication list"
    if inactive:
        note += f" ({inactive} stopped, completed or not-yet-active entr{'y' if inactive == 1 else 'ies'} not counted)"
    ctx.fs.put(Evidence(name=name, label=feature_label(name), value=False, unit=None, source=None, note=note))
