"""pregnant: a current pregnancy Condition, a pregnancy-status Observation or a qualitative pregnancy (hCG) test,
whichever is newest. A negative test or a 'not pregnant' status newer than a pregnancy entry makes it False."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from engine.finding import Evidence
from fhir_adapter.codes import concepts_of_coding
from fhir_adapter.features.conditions import condition_evidence, qualifying_conditions
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.dates import chronological_key, day_of
from fhir_adapter.features.evidence import absent_evidence
from fhir_adapter.features.selection import Reading, Reject, readings_of, select


def pregnant(ctx: ExtractionContext) -> None:
    """Newest of: a current pregnancy Condition (onset within 42 weeks) or a pregnancy-status Observation."""
    name = "pregnant"
    window = ctx.lookback[name]
    cutoff = ctx.as_of - timedelta(days=window)
    candidates: list[Evidence] = []
    found, inactive = qualifying_conditions(ctx, name, ("pregnancy",), False)
    for cond in found:
        onset = day_of(cond.onset)
        if onset is not None and onset < cutoff:
            ctx.problem(cond.ref, name, f"pregnancy recorded as active but began {onset.isoformat()}, more than "
                                        f"{window} days (42 weeks) ago; not counted")
            continue
        evidence = condition_evidence(name, cond, ("pregnancy",), False)
        if onset is None:
            evidence = replace(evidence, note=f"{evidence.note}; onset date not recorded")
        candidates.append(evidence)

    def interpret(reading: Reading) -> tuple[Any, str | None]:
        if reading.absent_reason is not None:
            raise Reject(f"no value (dataAbsentReason '{reading.absent_reason}'); not used")
        for coding in reading.value_codes:
            concepts = concepts_of_coding(coding.system, coding.code)
            if "answer_pregnant" in concepts:
                return True, coding.label()
            if "answer_not_pregnant" in concepts:
                return False, coding.label()
        raise Reject("pregnancy status answer is not 'pregnant' or 'not pregnant'; not used")

    observed = select(ctx, name, readings_of(ctx.parsed, "pregnancy_status"), interpret, keep_history=False)
    if observed.latest is not None:
        candidates.append(observed.latest)
    tested = select(ctx, name, readings_of(ctx.parsed, "pregnancy_test"), _pregnancy_test, keep_history=False)
    if tested.latest is not None:
        candidates.append(tested.latest)
    if candidates:
        candidates.sort(key=lambda e: chronological_key(e.effective), reverse=True)
        ctx.fs.put(candidates[0])
        return
    ctx.fs.put(absent_evidence(name, "no current pregnancy on the problem list, no pregnancy-status observation and "
                                     f"no pregnancy test in the last {window} days", inactive))


_POSITIVE_TEXT = frozenset({"positive", "pos", "detected", "reactive"})
_NEGATIVE_TEXT = frozenset({"negative", "neg", "not detected", "non-reactive", "nonreactive"})


def _pregnancy_test(reading: Reading) -> tuple[Any, str | None]:
    """A qualitative hCG test (VSAC Pregnancy Test value set): positive means pregnant, negative not pregnant."""
    if reading.absent_reason is not None:
        raise Reject(f"no value (dataAbsentReason '{reading.absent_reason}'); not used")
    for coding in reading.value_codes:
        concepts = concepts_of_coding(coding.system, coding.code)
        if "answer_positive" in concepts:
            return True, f"pregnancy test positive ({coding.label()})"
        if "answer_negative" in concepts:
            return False, f"pregnancy test negative ({coding.label()})"
    text = (reading.value_text or "").strip().lower()
    if text in _POSITIVE_TEXT:
        return True, "pregnancy test positive"
    if text in _NEGATIVE_TEXT:
        return False, "pregnancy test negative"
    raise Reject("pregnancy test result is not a positive or negative answer (a quantitative hCG is not read); "
                 "not used")
