"""Kidney replacement therapy from the record: a status Condition, a kidney transplant, or recent dialysis procedures.

``dialysis_or_transplant`` (HAS-BLED, KFRE, the CKD detector) counts either; ``on_dialysis`` (the statin rule: the
2018 AHA/ACC cholesterol guideline advises against starting a statin in dialysis, not after a kidney transplant)
counts dialysis only. One reader serves both, so the two never disagree about a dialysis session.
"""
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
    _kidney_replacement(ctx, "dialysis_or_transplant", status_concept="dialysis_or_transplant", transplant=True,
                        words="dialysis or kidney-transplant status on the problem list, no kidney transplant")


def on_dialysis(ctx: ExtractionContext) -> None:
    """A chronic-dialysis status Condition, or a dialysis procedure in the last 90 days (a transplant does not count)."""
    _kidney_replacement(ctx, "on_dialysis", status_concept="chronic_dialysis", transplant=False,
                        words="dialysis status on the problem list")


def _kidney_replacement(ctx: ExtractionContext, name: str, *, status_concept: str, transplant: bool,
                        words: str) -> None:
    found, inactive = qualifying_conditions(ctx, name, (status_concept,), False)
    if found:
        ctx.fs.put(condition_evidence(name, found[0], (status_concept,), False))
        return
    procedures = ("dialysis_procedure", "kidney_transplant_procedure") if transplant else ("dialysis_procedure",)
    window = ctx.lookback[name]
    best = None
    older_dialysis = 0
    for proc in sorted(ctx.parsed.procedures, key=lambda p: chronological_key(p.performed), reverse=True):
        if proc.status not in _DONE_PROCEDURE or not any(c in proc.concepts for c in procedures):
            continue  # not-done / entered-in-error / preparation / stopped-before-start, or another procedure
        day = day_of(proc.performed)
        if day is None or day > ctx.as_of:
            ctx.problem(proc.ref, name, "procedure without a usable performed date; not counted")
            continue
        is_transplant = "kidney_transplant_procedure" in proc.concepts
        if not is_transplant and day < ctx.as_of - timedelta(days=window):
            older_dialysis += 1
            continue
        invalid = ctx.parsed.check(proc, name)
        if invalid is not None:
            ctx.fs.problems.append(invalid)
            continue
        best = proc
        break
    if best is not None:
        coding = matching_coding(best.codes, procedures)
        note = coding.label() if coding else None
        ctx.fs.put(Evidence(name=name, label=feature_label(name), value=True, effective=best.performed,
                            source=best.ref, note=note))
        return
    note = f"no {words} and no dialysis in the last {window} days"
    if older_dialysis:
        note += f" ({older_dialysis} older dialysis procedure{'s' if older_dialysis > 1 else ''} not counted)"
    ctx.fs.put(absent_evidence(name, note, inactive))
