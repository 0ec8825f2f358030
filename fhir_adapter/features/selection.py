"""Generic Observation selection: the newest usable reading in the look-back window, and the history."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import Any, Callable, Mapping

from engine import feature_catalog
from engine.finding import Evidence
from engine.inputs import FeatureSet, feature_label, feature_unit
from engine.quick_init import quick_init
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.dates import chronological_key, day_of
from fhir_adapter.features.windows import HISTORY_MAX_ENTRIES, window_adj, window_noun
from fhir_adapter.parse import Coding, ObservationRecord, ParsedRecord, Quantity
from fhir_adapter.parse.dates import parse_fhir_datetime

USABLE_OBS_STATUS = frozenset({"final", "amended", "corrected"})
_DROPPED_OBS_STATUS = frozenset({"entered-in-error", "cancelled"})  # as if never recorded

# Two times on the same day, each in its own zone (offsets of less than 24 hours either way), are less than this apart
# in UTC; readings sorted newest first that are further apart than this from the newest are on earlier days.
_SAME_DAY_SPAN = timedelta(hours=72)
_MOMENT = itemgetter(0)  # of a (moment, reading) pair

# Nouns for "no {noun} result in the last year" (declared per feature in engine/feature_catalog.py).
_PLAIN: dict[str, str] = feature_catalog.plain_nouns()


class Reject(Exception):
    """Raised by an ``interpret`` function: this reading is not used, for ``reason`` (an input problem)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@quick_init  # one per Observation a feature reads
@dataclass(frozen=True)
class Reading:
    """One candidate value: an Observation, or one component of a panel Observation."""

    record: ObservationRecord
    quantity: Quantity | None
    value_codes: tuple[Coding, ...]
    absent_reason: str | None
    value_text: str | None = None
    codes: tuple[Coding, ...] = ()  # the code of the component (or Observation) this value is for
    kind: str = ""  # which of several concepts fed this reading (e.g. "o2_flow" / "fio2")

    @property
    def when(self) -> date | datetime | None:
        return self.record.effective


@dataclass
class Selection:
    """What :func:`select` found for one feature."""

    latest: Evidence | None
    reason: str  # why latest is None ("" when found)
    history: list[Evidence] = field(default_factory=list)


def select(ctx: ExtractionContext, name: str, readings: list[Reading],
           interpret: Callable[[Reading], tuple[Any, str | None]], *, reported_as: str | None = None,
           keep_history: bool = True) -> Selection:
    """Newest usable reading inside the look-back window, plus every usable reading in the history window.

    ``interpret`` returns (value, note) or raises Reject(reason). Rejected readings become input
    problems (attributed to ``reported_as`` or the feature); a rejected value never hides an older
    valid one.

    The latest by time wins. Readings of the newest day whose order the record cannot tell (one of them has a
    date but no time, or they carry the same time) are settled by :func:`same_day_choice`; when their values
    differ, the conflict and the rule used become an input problem and a note on the value, so the card says so.
    """
    window = ctx.lookback[name]
    history_window = max(window, ctx.history_days.get(name, window)) if keep_history else window
    as_of = ctx.as_of
    cutoff = as_of - timedelta(days=window)
    history_cutoff = as_of - timedelta(days=history_window)
    plain = _PLAIN.get(name, name)
    shown_as = reported_as or name
    # Newest first, each with its moment (worked out once: the sort and the same-day walk below read it). Sorted by
    # the moment alone, so readings of the same moment keep their order (the sort is stable), as with a key function.
    keyed = [(chronological_key(r.record.effective), r) for r in readings
             if r.record.status not in _DROPPED_OBS_STATUS]
    keyed.sort(key=_MOMENT, reverse=True)
    latest: Evidence | None = None
    history: list[Evidence] = []
    rejected = 0
    stale_day: date | None = None
    # Readings already judged while settling a same-day tie: judged once, so their problems are recorded once.
    judged: dict[int, Evidence | None] = {}
    settled: tuple[Evidence, Evidence] | None = None  # (the tied reading chosen, the same with its conflict note)

    label, unit = feature_label(name), feature_unit(name)
    parsed = ctx.parsed
    is_future = ctx.is_future

    def judge(reading: Reading, validate: bool) -> Evidence | None:
        """The reading as evidence, or None after recording why it is not used."""
        record = reading.record
        ref = record.ref
        effective = record.effective
        if is_future(effective):  # asked for its reason only then
            ctx.problem(ref, shown_as, ctx.future_reason(effective))
            return None
        status = record.status
        if status not in USABLE_OBS_STATUS:
            ctx.problem(ref, shown_as, f"status '{status or 'missing'}' is not a final result; not used")
            return None
        if validate:
            invalid = parsed.check(record, shown_as)
        else:
            invalid = parsed.known_problem(record, shown_as)
        if invalid is not None:
            ctx.fs.problems.append(invalid)
            return None
        try:
            value, note = interpret(reading)
        except Reject as rej:
            ctx.problem(ref, shown_as, rej.reason)
            return None
        # Positional (name, label, value, unit, effective, source, derived_from, note): one per reading, and keywords
        # cost a quarter of it.
        return Evidence(name, label, value, unit, effective, ref, (), note)

    for position, (newest, reading) in enumerate(keyed):
        when = reading.record.effective
        day = when.date() if isinstance(when, datetime) else when  # day_of, inlined: once per reading
        if day is None:
            ctx.problem(reading.record.ref, shown_as,
                        "no effective date or issued time, so its age is unknown; not used")
            rejected += latest is None
            continue
        if day < history_cutoff:
            if latest is None and stale_day is None:
                # Everything after this one is older still: one problem for the newest stale value.
                stale_day = day
                ctx.problem(reading.record.ref, shown_as, f"latest result ({day.isoformat()}) is older than the "
                                                          f"{window_adj(window)} look-back; not used")
            break
        in_window = day >= cutoff
        candidate = latest is None and in_window  # could still become the value in FeatureSet.values
        if latest is None and not in_window and stale_day is None:
            stale_day = day  # used in the history only; the latest-value window has nothing
        if judged and id(reading) in judged:
            evidence = judged[id(reading)]
        else:
            evidence = judge(reading, candidate or ctx.validate_history)
        if evidence is None:
            rejected += candidate
            continue
        if candidate:
            latest = evidence
            tied = [(reading, evidence)]
            for moment, other in keyed[position + 1:]:
                if newest - moment >= _SAME_DAY_SPAN:
                    break  # this one and every older one lie on an earlier day (see _SAME_DAY_SPAN)
                if id(other) not in judged and order_unknown(reading, other):
                    judged[id(other)] = judge(other, True)
                    if judged[id(other)] is not None:
                        tied.append((other, judged[id(other)]))
            if len(tied) > 1:
                settled = _settle_same_day(ctx, shown_as, plain, tied)
                latest = settled[1]
        if not keep_history:
            break
        history.append(evidence)
        if len(history) >= HISTORY_MAX_ENTRIES:
            break
    if settled is not None and keep_history:
        chosen, noted = settled
        history = ([noted] + [ev for ev in history if ev is not chosen])[:HISTORY_MAX_ENTRIES]
    if latest is not None:
        return Selection(latest, "", history)
    if rejected:
        reason = (f"no usable {plain} result in the last {window_noun(window)} "
                  f"({rejected} not used: see input problems)")
    elif stale_day is not None:
        reason = f"latest {plain} result ({stale_day.isoformat()}) older than the {window_adj(window)} look-back"
    else:
        reason = f"no {plain} result in the last {window_noun(window)}"
    return Selection(None, reason, history)


# -- same-day results whose order is unknown ---------------------------------------------------------------------------
# A result that carries only a date may have been taken at any time of that day, so "the latest by time" cannot
# order it against another result of the same day. The rule below is about determinism and transparency, not
# clinical preference: it never depends on the order of the resources in the data, and the card names it.
SAME_DAY_RULE = ("latest Observation.issued, then latest meta.lastUpdated, then the highest resource id; "
                 "a step decides only when every result has the element and one is the latest")
# Values closer than this (relative) are the same result, e.g. one specimen reported in mmol/L and in mg/dL.
SAME_VALUE_TOLERANCE = 0.01


def order_unknown(newest: Reading, other: Reading) -> bool:
    """Whether the record cannot tell which of two readings (``newest`` sorted first) is the later one: same day,
    and one has no time, or both have the same time in different resources."""
    if day_of(newest.when) != day_of(other.when):
        return False
    if not isinstance(newest.when, datetime) or not isinstance(other.when, datetime):
        return True
    return (chronological_key(newest.when) == chronological_key(other.when)
            and newest.record.ref != other.record.ref)


def _instant(raw: Any, *path: str) -> datetime | None:
    value: Any = raw
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    parsed = parse_fhir_datetime(value)
    return chronological_key(parsed) if parsed is not None else None


def _resource_id_key(ref: str) -> tuple:
    """Order of resource ids: numeric ids by number (Observation/10 after Observation/9), others as text."""
    rid = ref.rsplit("/", 1)[-1]
    return (1, int(rid), "") if rid.isdigit() else (0, 0, rid)


def same_day_choice(tied: list[Reading]) -> tuple[int, str]:
    """Index of the reading to use among readings whose order is unknown, and the step of ``SAME_DAY_RULE``
    that chose it."""
    for why, path in (("issued last (Observation.issued)", ("issued",)),
                      ("updated last on the server (meta.lastUpdated)", ("meta", "lastUpdated"))):
        stamps = [_instant(r.record.raw, *path) for r in tied]
        if all(stamp is not None for stamp in stamps):
            newest = max(stamps)
            if stamps.count(newest) == 1:
                return stamps.index(newest), why
    keys = [_resource_id_key(r.record.ref) for r in tied]
    return keys.index(max(keys)), ("with the highest resource id, an arbitrary but repeatable choice (issued and "
                                   "meta.lastUpdated do not tell them apart)")


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=SAME_VALUE_TOLERANCE)
    return a == b


def shown_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _settle_same_day(ctx: ExtractionContext, shown_as: str, plain: str,
                     tied: list[tuple[Reading, Evidence]]) -> tuple[Evidence, Evidence]:
    """The evidence to use among same-day readings whose order is unknown, and the same evidence as it goes on the
    card: when their values differ, the conflict is recorded as an input problem and noted on the evidence."""
    index, why = same_day_choice([reading for reading, _ in tied])
    chosen = tied[index][1]
    values = [ev.value for _, ev in tied]
    if all(same_value(chosen.value, v) for v in values):
        return chosen, chosen
    day = day_of(chosen.effective)
    untimed = sum(not isinstance(r.when, datetime) for r, _ in tied)
    if untimed == len(tied):
        how = "without times"
    elif untimed:
        how = "not all with a time, so their order is unknown"
    else:
        how = "with the same time"
    unit = f" {chosen.unit}" if chosen.unit else ""
    listing = ", ".join(shown_value(v) for v in sorted(values, key=lambda v: (str(type(v)), v)))
    used = f"{shown_value(chosen.value)}{unit} ({chosen.source})"
    ctx.problem(None, shown_as, f"{len(tied)} {plain} results on {day.isoformat()} {how} ({listing}{unit}); used "
                                f"{used}, the one {why}. Same-day rule: {SAME_DAY_RULE}")
    note = f"chosen among {len(tied)} same-day results with different values ({listing}{unit}): the one {why}"
    return chosen, replace(chosen, note=f"{chosen.note}; {note}" if chosen.note else note)


def _check_planned(parsed: ParsedRecord, concept: str, panel: str | None = None, anywhere: bool = False) -> None:
    """A builder reading Observations the parse skipped would silently miss data: fail instead."""
    plan = parsed.observation_reads
    if plan is not None and not plan.covers(concept, panel, anywhere):
        raise LookupError(f"Observations of '{concept}' were not parsed for this extraction: add the feature's reads "
                          f"to fhir_adapter/features/observation_reads.py")


def readings_of(parsed: ParsedRecord, concept: str, panel_concept: str | None = None) -> list[Reading]:
    """Observations coded as ``concept``, plus ``concept`` components of ``panel_concept`` panels."""
    _check_planned(parsed, concept, panel_concept)
    out: list[Reading] = []
    for obs in parsed.observations_coded(concept, panel_concept):
        if concept in obs.concepts:
            out.append(Reading(obs, obs.quantity, obs.value_codes, obs.absent_reason, obs.value_text, obs.codes,
                               concept))
        elif panel_concept is not None and panel_concept in obs.concepts:
            for comp in obs.components:
                if concept in comp.concepts:
                    out.append(Reading(obs, comp.quantity, comp.value_codes, comp.absent_reason, comp.value_text,
                                       comp.codes, concept))
    return out


def component_readings_of(parsed: ParsedRecord, concept: str) -> list[Reading]:
    """Observations coded ``concept`` and ``concept`` components of any Observation we read."""
    _check_planned(parsed, concept)
    _check_planned(parsed, concept, anywhere=True)
    out: list[Reading] = []
    for obs in parsed.observations:
        if concept in obs.concepts:
            out.append(Reading(obs, obs.quantity, obs.value_codes, obs.absent_reason, obs.value_text, obs.codes,
                               concept))
        for comp in obs.components:
            if concept in comp.concepts:
                out.append(Reading(obs, comp.quantity, comp.value_codes, comp.absent_reason, comp.value_text,
                                   comp.codes, concept))
    return out


def store(fs: FeatureSet, name: str, selection: Selection, *, history: bool = True) -> None:
    if selection.latest is not None:
        fs.put(selection.latest)
    else:
        fs.mark_missing(name, selection.reason)
    if history:
        fs.history[name] = selection.history
