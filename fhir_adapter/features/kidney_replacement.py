"""dialysis_or_transplant: a status Condition, a kidney transplant, or recent dialysis procedures."""
from __future__ import annotations

from datetime import timedelta

from engine.finding import Evidence
from engine.inputs import feature_label
from fhir_adapter.features.conditions import condition_evidence, qualifying_conditions
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.dates import chronological_key, day_of
from fhir_adapter.features.evidence import absent_evidence, matching_coding

_DONE_PROCEDURE = frozenset({"completed", "in-progress"})


def dialysis_or_transplant(ctx: ExtractionContext) -> None:
    """A dialysis / transplant status Condition, a kidney transplant, or a dialysis procedure in the last 90 days."""
    name = "dialysis_or_transplant"
    found, inactive = qualifying_conditions(ctx, name, ("dialysis_or_transplant",), False)
    if found:
        ctx.fs.put(condition_evidence(name, found[0], ("dialysis_or_transplant",), False))
        return
    window = ctx.lookback[name]
    best = None
    older_dialysis = 0
    for proc in sorted(ctx.parsed.procedures, key=lambda p: chronological_key(p.performed), reverse=True):
        if proc.status not in _DONE_PROCEDURE:
            continue  # not-done / entered-in-error / preparation / stopped-before-start
        day = day_of(proc.performed)
        if day is None or day > ctx.as_of:
            ctx.problem(proc.ref, name, "procedure without a usable performed date; not counted")
            continue
        transplant = "kidney_transplant_procedure" in proc.concepts
        if not transplant and day < ctx.as_of - timedelta(days=window):
            older_dialysis += 1
            continue
        invalid = ctx.parsed.check(proc, name)
        if invalid is not None:
            ctx.fs.problems.append(invalid)
            continue
        best = proc
        break
    if best is not None:
        coding = matching_coding(best.codes, ("dialysis_procedure", "kidney_transplant_procedure"))
        note = coding.label() if coding else None
        ctx.fs.put(Evidence(name=name, label=feature_label(name), value=True, effective=best.performed,
                            source=best.ref, note=note))
        return
    note = "no dialysis or kidney-transplant status on the problem list, no kidney transplant and no dialysis " \
           f"in the last {window} days"
    if older_dialysis:
        note += f" ({older_dialysis} older dialysis procedure{'s' if older_dialysis > 1 else ''} not counted)"
    ctx.fs.put(absent_evidence(name, note, inactive))
