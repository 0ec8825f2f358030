"""select, made faster, against select as it was written plainly: the same Selection and the same input problems."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.finding import Evidence
from engine.inputs import FeatureSet, feature_label, feature_unit
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.dates import chronological_key, day_of
from fhir_adapter.features.quantities import quantity_interpreter
from fhir_adapter.features.selection import (
    _DROPPED_OBS_STATUS,
    _PLAIN,
    _SAME_DAY_SPAN,
    USABLE_OBS_STATUS,
    Reading,
    Reject,
    Selection,
    _settle_same_day,
    order_unknown,
    select,
)
from fhir_adapter.features.windows import HISTORY_MAX_ENTRIES, window_adj, window_noun
from fhir_adapter.parse import ObservationRecord, ParsedRecord, Quantity

AS_OF = date(2024, 6, 1)
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
NAME = "chol_total_mgdl"


# The selection as it was written before each reading's moment was kept and the future check inlined (kept here as
# the reference the faster one must equal).
def _reference_select(ctx: ExtractionContext, name: str, readings: list[Reading],
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
    cutoff = ctx.as_of - timedelta(days=window)
    history_cutoff = ctx.as_of - timedelta(days=history_window)
    plain = _PLAIN.get(name, name)
    shown_as = reported_as or name
    live = [r for r in readings if r.record.status not in _DROPPED_OBS_STATUS]
    live.sort(key=lambda r: chronological_key(r.when), reverse=True)
    latest: Evidence | None = None
    history: list[Evidence] = []
    rejected = 0
    stale_day: date | None = None
    # Readings already judged while settling a same-day tie: judged once, so their problems are recorded once.
    judged: dict[int, Evidence | None] = {}
    settled: tuple[Evidence, Evidence] | None = None  # (the tied reading chosen, the same with its conflict note)

    label, unit = feature_label(name), feature_unit(name)

    def judge(reading: Reading, validate: bool) -> Evidence | None:
        """The reading as evidence, or None after recording why it is not used."""
        record = reading.record
        ref = record.ref
        future = ctx.future_reason(record.effective)
        if future:
            ctx.problem(ref, shown_as, future)
            return None
        status = record.status
        if status not in USABLE_OBS_STATUS:
            ctx.problem(ref, shown_as, f"status '{status or 'missing'}' is not a final result; not used")
            return None
        if validate:
            invalid = ctx.parsed.check(record, shown_as)
        else:
            invalid = ctx.parsed.known_problem(record, shown_as)
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
        return Evidence(name, label, value, unit, record.effective, ref, (), note)

    for position, reading in enumerate(live):
        ref = reading.record.ref
        when = reading.when
        day = day_of(when)
        if day is None:
            ctx.problem(ref, shown_as, "no effective date or issued time, so its age is unknown; not used")
            rejected += latest is None
            continue
        if day < history_cutoff:
            if latest is None and stale_day is None:
                # Everything after this one is older still: one problem for the newest stale value.
                stale_day = day
                ctx.problem(ref, shown_as, f"latest result ({day.isoformat()}) is older than the "
                                           f"{window_adj(window)} look-back; not used")
            break
        in_window = day >= cutoff
        candidate = latest is None and in_window  # could still become the value in FeatureSet.values
        if latest is None and not in_window and stale_day is None:
            stale_day = day  # used in the history only; the latest-value window has nothing
        if id(reading) in judged:
            evidence = judged[id(reading)]
        else:
            evidence = judge(reading, candidate or ctx.validate_history)
        if evidence is None:
            rejected += candidate
            continue
        if candidate:
            latest = evidence
            tied = [(reading, evidence)]
            newest = chronological_key(when)
            for other in live[position + 1:]:
                if newest - chronological_key(other.when) >= _SAME_DAY_SPAN:
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


_zones = st.sampled_from([None, timezone.utc, timezone(timedelta(hours=-11)), timezone(timedelta(hours=13))])
# A few days, so that readings often share one (same-day ties, across zones up to 48 hours apart in UTC), around the
# look-back (365 days), the history window (730) and the request date (AS_OF, NOW).
_days = st.sampled_from([date(2024, 6, 2), date(2024, 6, 1), date(2024, 5, 31), date(2024, 5, 30), date(2023, 6, 2),
                         date(2023, 5, 31), date(2022, 6, 2), date(2022, 5, 31)])
_when = st.one_of(
    st.none(), _days,
    st.builds(lambda day, minutes, zone: datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(
        minutes=minutes), _days, st.sampled_from([0, 5, 600, 723, 725, 730, 1439]), _zones))
_reading = st.tuples(_when, st.sampled_from(["final", "amended", "preliminary", "entered-in-error", None]),
                     st.sampled_from([150, 150.5, 151, 240, 10, 2000, None, "x"]),
                     st.sampled_from(["mg/dL", "mmol/L", "furlong"]), st.integers(0, 6),
                     st.none() | st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"]))


def _readings(specs) -> list[Reading]:
    readings = []
    for when, status, value, unit, rid, issued in specs:
        quantity = None if value is None else Quantity(value, unit, None, unit)
        raw = {"resourceType": "Observation", "id": str(rid), "status": status or "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "2093-3"}]}}
        if issued:
            raw["issued"] = issued
        record = ObservationRecord(f"Observation/{rid}", status, (), ("chol_total",), when, quantity, (), (), None,
                                   "Patient/1", raw)
        readings.append(Reading(record, quantity, (), None, None, (), "chol_total"))
    return readings


def _run(chooser, readings, keep_history, validate_history, now):
    fs = FeatureSet(as_of=AS_OF, now=now)
    ctx = ExtractionContext(as_of=AS_OF, now=now, lookback={NAME: 365}, history_days={NAME: 730}, options={},
                            parsed=ParsedRecord(), fs=fs, validate_history=validate_history)
    selection = chooser(ctx, NAME, list(readings), quantity_interpreter(NAME, "cholesterol"),
                        keep_history=keep_history)
    return selection, fs.problems


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(_reading, max_size=8), keep_history=st.booleans(), validate_history=st.booleans(),
       now=st.sampled_from([None, NOW]))
def test_select_equals_the_plain_selection(specs, keep_history, validate_history, now):
    readings = _readings(specs)
    fast, fast_problems = _run(select, readings, keep_history, validate_history, now)
    slow, slow_problems = _run(_reference_select, readings, keep_history, validate_history, now)
    assert fast == slow
    assert fast_problems == slow_problems


def test_select_keeps_at_most_the_history_cap():
    specs = [(datetime(2024, 1, 1, tzinfo=timezone.utc) - timedelta(hours=5 * i), "final", 150, "mg/dL", i, None)
             for i in range(HISTORY_MAX_ENTRIES + 20)]
    fast, _ = _run(select, _readings(specs), True, False, NOW)
    slow, _ = _run(_reference_select, _readings(specs), True, False, NOW)
    assert len(fast.history) == HISTORY_MAX_ENTRIES and fast == slow


def _at(day: date, minutes: int, hours_east: int | None) -> datetime:
    zone = None if hours_east is None else timezone(timedelta(hours=hours_east))
    return datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=minutes)


def test_select_equals_the_plain_selection_at_the_edges():
    """Cases the random ones meet rarely: just past the clock skew, and same-day ties 48 hours apart in UTC."""
    today, yesterday = date(2024, 6, 1), date(2024, 5, 31)
    cases = [
        [(_at(today, 730, 0), "final", 150, "mg/dL", 1, None), (_at(today, 724, 0), "final", 151, "mg/dL", 2, None)],
        [(_at(today, 726, 0), "final", 150, "mg/dL", 1, None), (yesterday, "final", 240, "mg/dL", 2, None)],
        [(_at(yesterday, 0, 13), "final", 150, "mg/dL", 1, None), (_at(yesterday, 1439, -11), "final", 240, "mg/dL",
                                                                    2, None), (yesterday, "final", 200, "mg/dL", 3,
                                                                               "2024-01-02T00:00:00Z")],
        [(_at(yesterday, 1439, -11), "final", 240, "mg/dL", 2, None), (yesterday, "final", 10, "mg/dL", 3, None),
         (_at(yesterday, 0, 13), "amended", 150, "mmol/L", 1, None)],
    ]
    for specs in cases:
        for now in (None, NOW):
            fast = _run(select, _readings(specs), True, False, now)
            assert fast == _run(_reference_select, _readings(specs), True, False, now), (specs, now)
