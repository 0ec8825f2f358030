"""Generic Observation selection: the newest usable reading in the look-back window, and the history."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Callable

from engine.finding import Evidence
from engine.inputs import FeatureSet, feature_label, feature_unit
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.dates import chronological_key, day_of
from fhir_adapter.features.windows import HISTORY_MAX_ENTRIES, window_adj, window_noun
from fhir_adapter.parse import Coding, ObservationRecord, ParsedRecord, Quantity

USABLE_OBS_STATUS = frozenset({"final", "amended", "corrected"})
_DROPPED_OBS_STATUS = frozenset({"entered-in-error", "cancelled"})  # as if never recorded

_PLAIN = {
    "chol_total_mgdl": "total cholesterol",
    "hdl_mgdl": "HDL cholesterol",
    "ldl_mgdl": "LDL cholesterol",
    "sbp_mmhg": "systolic blood pressure",
    "dbp_mmhg": "diastolic blood pressure",
    "smoker_current": "smoking status",
    "hba1c_pct": "HbA1c",
    "creatinine_mgdl": "serum creatinine",
    "egfr_mlmin173m2": "eGFR",
    "bmi_kgm2": "BMI",
    "weight_kg": "body weight",
    "height_cm": "body height",
    "waist_cm": "waist circumference",
    "cystatin_c_mgl": "cystatin C",
    "uacr_mgg": "urine albumin/creatinine ratio",
    "glucose_fasting_mgdl": "fasting plasma glucose",
    "glucose_ogtt_2h_mgdl": "2-hour OGTT glucose",
    "glucose_random_mgdl": "random glucose",
    "hemoglobin_gdl": "haemoglobin",
    "platelets_10e9l": "platelet count",
    "ast_ul": "AST",
    "alt_ul": "ALT",
    "bilirubin_total_mgdl": "total bilirubin",
    "inr": "INR",
    "respiratory_rate_min": "respiratory rate",
    "heart_rate_min": "heart rate",
    "temperature_c": "body temperature",
    "spo2_pct": "SpO2",
    "on_supplemental_o2": "oxygen flow, FiO2 or oxygen-delivery",
    "consciousness_avpu": "level-of-consciousness (ACVPU)",
    "gcs_total": "Glasgow Coma Scale",
    "pregnant": "pregnancy-status",
    "physically_active": "physical-activity",
}


class Reject(Exception):
    """Raised by an ``interpret`` function: this reading is not used, for ``reason`` (an input problem)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


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
    for reading in live:
        ref = reading.record.ref
        when = reading.when
        day = day_of(when)
        if day is None:
            ctx.problem(ref, shown_as, "no effective date or issued time, so its age is unknown; not used")
            rejected += latest is None
            continue
        future = ctx.future_reason(when)
        if future:
            ctx.problem(ref, shown_as, future)
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
        status = reading.record.status
        if status not in USABLE_OBS_STATUS:
            ctx.problem(ref, shown_as, f"status '{status or 'missing'}' is not a final result; not used")
            rejected += candidate
            continue
        if candidate or ctx.validate_history:
            invalid = ctx.parsed.check(reading.record, shown_as)
        else:
            invalid = ctx.parsed.known_problem(reading.record, shown_as)
        if invalid is not None:
            ctx.fs.problems.append(invalid)
            rejected += candidate
            continue
        try:
            value, note = interpret(reading)
        except Reject as rej:
            ctx.problem(ref, shown_as, rej.reason)
            rejected += candidate
            continue
        evidence = Evidence(name=name, label=feature_label(name), value=value, unit=feature_unit(name),
                            effective=when, source=ref, note=note)
        if latest is None and in_window:
            latest = evidence
        if not keep_history:
            break
        history.append(evidence)
        if len(history) >= HISTORY_MAX_ENTRIES:
            break
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


def readings_of(parsed: ParsedRecord, concept: str, panel_concept: str | None = None) -> list[Reading]:
    """Observations coded as ``concept``, plus ``concept`` components of ``panel_concept`` panels."""
    out: list[Reading] = []
    for obs in parsed.observations:
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
