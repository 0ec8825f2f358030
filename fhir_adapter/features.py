"""The record -> features adapter: FHIR resources in, an engine.inputs.FeatureSet out.

Every feature is either an Evidence (value in the canonical unit, unit, date, source reference,
conversion / derivation note) or a MissingInput with a reason; every value that was present but
not used (invalid resource, unknown unit, implausible, stale, future-dated, censored, not final)
is an InputProblem. Lab and vital-sign features also get a history: every usable value inside
the feature's history window, newest first. Rules, windows and bounds are documented in
docs/features.md.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping

from engine.finding import Evidence, InputProblem
from engine.inputs import FeatureSet, feature_label, feature_unit
from fhir_adapter import units
from fhir_adapter.codes import concepts_of_coding
from fhir_adapter.parse import (
    ACTIVE_CLINICAL_STATUS,
    DROPPED_VERIFICATION_STATUS,
    SPO2_TARGET_TEXT,
    Coding,
    ConditionRecord,
    GoalRecord,
    MedicationRecord,
    ObservationRecord,
    ParsedRecord,
    PatientRecord,
    Quantity,
    parse_resources,
)

_YEAR = 365

# Default look-back windows in days for the value in FeatureSet.values (project defaults, rationale
# in docs/features.md): lipids 5 y (2019 ACC/AHA primary-prevention guideline, Arnett 2019: assess
# risk factors every 4-6 years), BP, HbA1c, glucose, kidney function and other labs 1 y (values that
# change and drive treatment), smoking 2 y, BMI / weight / waist 2 y, adult height 10 y (stable in
# adults), vital signs and level of consciousness 30 days (acute scores check their own recency
# against FeatureSet.now), pregnancy 42 weeks (the upper limit of a post-term pregnancy).
DEFAULT_LOOKBACK_DAYS: dict[str, int] = {
    "chol_total_mgdl": 5 * _YEAR,
    "hdl_mgdl": 5 * _YEAR,
    "ldl_mgdl": 5 * _YEAR,
    "sbp_mmhg": 1 * _YEAR,
    "dbp_mmhg": 1 * _YEAR,
    "smoker_current": 2 * _YEAR,
    "hba1c_pct": 1 * _YEAR,
    "creatinine_mgdl": 1 * _YEAR,
    "egfr_mlmin173m2": 1 * _YEAR,
    "bmi_kgm2": 2 * _YEAR,
    "weight_kg": 2 * _YEAR,
    "height_cm": 10 * _YEAR,
    "waist_cm": 2 * _YEAR,
    "cystatin_c_mgl": 1 * _YEAR,
    "uacr_mgg": 1 * _YEAR,
    "glucose_fasting_mgdl": 1 * _YEAR,
    "glucose_ogtt_2h_mgdl": 1 * _YEAR,
    "glucose_random_mgdl": 1 * _YEAR,
    "hemoglobin_gdl": 1 * _YEAR,
    "platelets_10e9l": 1 * _YEAR,
    "ast_ul": 1 * _YEAR,
    "alt_ul": 1 * _YEAR,
    "bilirubin_total_mgdl": 1 * _YEAR,
    "inr": 1 * _YEAR,
    "respiratory_rate_min": 30,
    "heart_rate_min": 30,
    "temperature_c": 30,
    "spo2_pct": 30,
    "on_supplemental_o2": 30,
    "consciousness_avpu": 30,
    "gcs_total": 30,
    "hypercapnic_target": 30,  # the NEWS2 scale-2 Observation; Goals and Conditions have no window
    "pregnant": 294,
    "physically_active": 2 * _YEAR,
    "dialysis_or_transplant": 90,  # a dialysis procedure this recent means chronic dialysis
}

# History windows (FeatureSet.history) where they are longer than the look-back above: detectors
# need repeated results - two abnormal glucose / HbA1c results (ADA), BP on >= 2 occasions
# (ACC/AHA 2017), eGFR / ACR abnormal for > 90 days (KDIGO 2012) - and the first of two results may
# be older than a year. Other history features use their look-back window.
DEFAULT_HISTORY_DAYS: dict[str, int] = {
    "sbp_mmhg": 2 * _YEAR,
    "dbp_mmhg": 2 * _YEAR,
    "hba1c_pct": 2 * _YEAR,
    "glucose_fasting_mgdl": 2 * _YEAR,
    "glucose_ogtt_2h_mgdl": 2 * _YEAR,
    "glucose_random_mgdl": 2 * _YEAR,
    "creatinine_mgdl": 2 * _YEAR,
    "egfr_mlmin173m2": 2 * _YEAR,
    "uacr_mgg": 2 * _YEAR,
    "cystatin_c_mgl": 2 * _YEAR,
}

# At most this many history entries per feature (the newest), so a long inpatient stay with hourly
# vitals costs a bounded time. Far more than any detector needs.
HISTORY_MAX_ENTRIES = 100

# Full FHIR model validation costs ~0.3 ms per resource, so by default it is applied to the value
# chosen for FeatureSet.values (and to every Condition, medication, Procedure, Goal or family history
# used), not to the older history entries, which pass every other rule. options["validate_history"]
# = True validates those too (offline evaluation); a resource already found invalid is never used.
VALIDATE_HISTORY_DEFAULT = False

# Physiological plausibility bounds in canonical units, inclusive. These are sanity limits chosen
# by this project to catch unit mix-ups and typing errors, deliberately much wider than any
# reference range (they are not clinical thresholds). See docs/features.md.
PLAUSIBLE_RANGE: dict[str, tuple[float, float]] = {
    "chol_total_mgdl": (50.0, 1000.0),
    "hdl_mgdl": (5.0, 200.0),
    "ldl_mgdl": (5.0, 900.0),
    "sbp_mmhg": (50.0, 300.0),
    "dbp_mmhg": (20.0, 200.0),
    "hba1c_pct": (3.0, 20.0),
    "creatinine_mgdl": (0.1, 30.0),
    "egfr_mlmin173m2": (1.0, 200.0),
    "bmi_kgm2": (10.0, 100.0),
    "height_cm": (40.0, 275.0),
    "weight_kg": (2.0, 650.0),
    "age_years": (0.0, 120.0),
    "waist_cm": (40.0, 250.0),
    "cystatin_c_mgl": (0.2, 10.0),
    "uacr_mgg": (0.0, 25000.0),
    "glucose_fasting_mgdl": (10.0, 2000.0),
    "glucose_ogtt_2h_mgdl": (10.0, 2000.0),
    "glucose_random_mgdl": (10.0, 2000.0),
    "hemoglobin_gdl": (2.0, 25.0),
    "platelets_10e9l": (1.0, 2000.0),
    "ast_ul": (1.0, 20000.0),
    "alt_ul": (1.0, 20000.0),
    "bilirubin_total_mgdl": (0.05, 50.0),
    "inr": (0.5, 20.0),
    "respiratory_rate_min": (1.0, 80.0),
    "heart_rate_min": (15.0, 300.0),
    "temperature_c": (25.0, 45.0),
    "spo2_pct": (40.0, 100.0),
    "gcs_total": (3.0, 15.0),
    "o2_flow_lmin": (0.0, 80.0),
    "fio2_pct": (21.0, 100.0),
    "pa_min_per_week": (0.0, 10080.0),
    "pa_min_per_day": (0.0, 1440.0),
    "pa_days_per_week": (0.0, 7.0),
}

# A reading timed this far after FeatureSet.now is future-dated; less is clock skew between systems.
CLOCK_SKEW = timedelta(minutes=5)

# Physical activity: >= 150 min/week of moderate-to-vigorous activity (Physical Activity Guidelines for
# Americans, 2nd ed., US HHS 2018; WHO guidelines on physical activity and sedentary behaviour 2020).
# Override with options["physically_active_min_per_week"].
PHYSICALLY_ACTIVE_MIN_PER_WEEK = 150.0

_USABLE_OBS_STATUS = frozenset({"final", "amended", "corrected"})
_DROPPED_OBS_STATUS = frozenset({"entered-in-error", "cancelled"})  # as if never recorded
_ACTIVE_CLINICAL = ACTIVE_CLINICAL_STATUS
_DROPPED_VERIFICATION = DROPPED_VERIFICATION_STATUS
_UNCONFIRMED_VERIFICATION = frozenset({"unconfirmed", "provisional", "differential"})
_NOT_TAKEN_INTENTS = frozenset({"proposal", "plan"})
_ACTIVE_GOAL = frozenset({"active", "accepted"})
_DONE_PROCEDURE = frozenset({"completed", "in-progress"})
_DROPPED_FAMILY_HISTORY = frozenset({"entered-in-error", "health-unknown"})

# OMB race / ethnicity categories (CDC Race & Ethnicity code system 2.16.840.1.113883.6.238,
# as bound by the US Core race / ethnicity extensions).
OMB_WHITE = "2106-3"
OMB_BLACK = "2054-5"
OMB_HISPANIC = "2135-2"
OMB_NOT_HISPANIC = "2186-5"
_NULL_FLAVOURS = frozenset({"ASKU", "UNK", "NASK", "NI", "NAV", "OTH", "PHC1175"})

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

# Weight and height are features in their own right and also feed BMI: when BMI is derived from them
# (or cannot be), their problems are repeated under bmi_kgm2 so that a BMI-based card shows them.
_FEEDS_BMI = frozenset({"weight_kg", "height_cm"})
_label = feature_label
_unit = feature_unit


# -- dates ------------------------------------------------------------------------------------------
def _day(when: date | datetime | None) -> date | None:
    if when is None:
        return None
    return when.date() if isinstance(when, datetime) else when


def _sort_key(when: date | datetime | None) -> datetime:
    if when is None:
        return datetime.min
    if isinstance(when, datetime):
        if when.tzinfo is not None:
            try:
                return when.astimezone(timezone.utc).replace(tzinfo=None)
            except OverflowError:  # year 1 or 9999 shifted out of range by its offset
                return when.replace(tzinfo=None)
        return when
    return datetime(when.year, when.month, when.day)


def _window_noun(days: int) -> str:
    if days % _YEAR == 0:
        years = days // _YEAR
        return "year" if years == 1 else f"{years} years"
    return "day" if days == 1 else f"{days} days"


def _window_adj(days: int) -> str:
    if days % _YEAR == 0:
        return f"{days // _YEAR}-year"
    return f"{days}-day"


def _age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


# -- generic selection: latest usable value and history ---------------------------------------------
class _Reject(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Reading:
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
class _Selection:
    latest: Evidence | None
    reason: str  # why latest is None ("" when found)
    history: list[Evidence] = field(default_factory=list)


@dataclass
class _Context:
    as_of: date
    now: datetime | None
    lookback: dict[str, int]
    history_days: dict[str, int]
    options: Mapping[str, Any]
    parsed: ParsedRecord
    fs: FeatureSet
    born: date | None = None
    validate_history: bool = VALIDATE_HISTORY_DEFAULT
    _egfr_cache: dict[int, tuple[Evidence | None, str]] = field(default_factory=dict)

    def problem(self, source: str | None, name: str | None, reason: str) -> None:
        self.fs.problems.append(InputProblem(source, name, reason))

    def future_reason(self, when: date | datetime) -> str | None:
        """Why ``when`` is in the future relative to the request, or None."""
        day = _day(when)
        if day is not None and day > self.as_of:
            return f"dated in the future ({day.isoformat()}); not used"
        if (self.now is not None and isinstance(when, datetime) and when.tzinfo is not None
                and when > self.now + CLOCK_SKEW):
            return f"timed after the request time ({when.isoformat()}); not used"
        return None


def _select(ctx: _Context, name: str, readings: list[_Reading],
            interpret: Callable[[_Reading], tuple[Any, str | None]], *, reported_as: str | None = None,
            keep_history: bool = True) -> _Selection:
    """Newest usable reading inside the look-back window, plus every usable reading in the history window.

    ``interpret`` returns (value, note) or raises _Reject(reason). Rejected readings become input
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
    live.sort(key=lambda r: _sort_key(r.when), reverse=True)
    latest: Evidence | None = None
    history: list[Evidence] = []
    rejected = 0
    stale_day: date | None = None
    for reading in live:
        ref = reading.record.ref
        when = reading.when
        day = _day(when)
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
                                           f"{_window_adj(window)} look-back; not used")
            break
        in_window = day >= cutoff
        candidate = latest is None and in_window  # could still become the value in FeatureSet.values
        if latest is None and not in_window and stale_day is None:
            stale_day = day  # used in the history only; the latest-value window has nothing
        status = reading.record.status
        if status not in _USABLE_OBS_STATUS:
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
        except _Reject as rej:
            ctx.problem(ref, shown_as, rej.reason)
            rejected += candidate
            continue
        evidence = Evidence(name=name, label=_label(name), value=value, unit=_unit(name),
                            effective=when, source=ref, note=note)
        if latest is None and in_window:
            latest = evidence
        if not keep_history:
            break
        history.append(evidence)
        if len(history) >= HISTORY_MAX_ENTRIES:
            break
    if latest is not None:
        return _Selection(latest, "", history)
    if rejected:
        reason = (f"no usable {plain} result in the last {_window_noun(window)} "
                  f"({rejected} not used: see input problems)")
    elif stale_day is not None:
        reason = f"latest {plain} result ({stale_day.isoformat()}) older than the {_window_adj(window)} look-back"
    else:
        reason = f"no {plain} result in the last {_window_noun(window)}"
    return _Selection(None, reason, history)


def _plausible(name: str, conv: units.Converted, canonical: str | None = None) -> None:
    low, high = PLAUSIBLE_RANGE[name]
    if not low <= conv.value <= high:
        canonical = canonical or conv.unit
        unit = "" if canonical == "1" else f" {canonical}"  # INR and GCS have no unit
        shown = f"{conv.value:.4g}{unit}"
        if conv.converted:
            shown = f"{conv.original_value:g} {conv.original_unit} = {shown}"
        raise _Reject(f"implausible value ({shown}; accepted range {low:g}-{high:g}{unit}); "
                      f"likely a unit or entry error; not used")


def _convert(reading: _Reading, kind: str) -> units.Converted:
    if reading.absent_reason is not None:
        raise _Reject(f"no value (dataAbsentReason '{reading.absent_reason}'); not used")
    if reading.quantity is None:
        raise _Reject("no numeric value (valueQuantity); not used")
    try:
        return units.convert_quantity(reading.quantity.as_mapping(), kind)
    except units.UnitError as err:
        raise _Reject(f"{err.reason}; not used") from None


# Notes for codes that are accepted with a caveat (shown in Evidence.note).
_CODE_NOTES = {
    ("http://loinc.org", "1518-0"): "LOINC 1518-0 does not state the glucose dose; read as a 75 g OGTT",
}


def _quantity_interpreter(name: str, kind: str) -> Callable[[_Reading], tuple[Any, str | None]]:
    canonical = _unit(name) or units.CANONICAL_UNIT[kind]

    def interpret(reading: _Reading) -> tuple[Any, str | None]:
        conv = _convert(reading, kind)
        _plausible(name, conv, canonical)
        note = conv.note
        for coding in reading.codes or reading.record.codes:
            extra = _CODE_NOTES.get((coding.system, coding.code))
            if extra:
                note = f"{note}; {extra}" if note else extra
        return conv.value, note

    return interpret


def _readings(parsed: ParsedRecord, concept: str, panel_concept: str | None = None) -> list[_Reading]:
    """Observations coded as ``concept``, plus ``concept`` components of ``panel_concept`` panels."""
    out: list[_Reading] = []
    for obs in parsed.observations:
        if concept in obs.concepts:
            out.append(_Reading(obs, obs.quantity, obs.value_codes, obs.absent_reason, obs.value_text, obs.codes,
                                concept))
        elif panel_concept is not None and panel_concept in obs.concepts:
            for comp in obs.components:
                if concept in comp.concepts:
                    out.append(_Reading(obs, comp.quantity, comp.value_codes, comp.absent_reason, comp.value_text,
                                        comp.codes, concept))
    return out


def _component_readings(parsed: ParsedRecord, concept: str) -> list[_Reading]:
    """Observations coded ``concept`` and ``concept`` components of any Observation we read."""
    out: list[_Reading] = []
    for obs in parsed.observations:
        if concept in obs.concepts:
            out.append(_Reading(obs, obs.quantity, obs.value_codes, obs.absent_reason, obs.value_text, obs.codes,
                                concept))
        for comp in obs.components:
            if concept in comp.concepts:
                out.append(_Reading(obs, comp.quantity, comp.value_codes, comp.absent_reason, comp.value_text,
                                    comp.codes, concept))
    return out


# Feature -> (value-set concept, unit kind, panel concept whose components may carry it)
_QUANTITY_FEATURES: dict[str, tuple[str, str, str | None]] = {
    "chol_total_mgdl": ("chol_total", "cholesterol", None),
    "hdl_mgdl": ("hdl", "cholesterol", None),
    "ldl_mgdl": ("ldl", "cholesterol", None),
    "hba1c_pct": ("hba1c", "hba1c", None),
    "creatinine_mgdl": ("creatinine", "creatinine", None),
    "egfr_mlmin173m2": ("egfr", "egfr", None),
    "bmi_kgm2": ("bmi", "bmi", None),
    "weight_kg": ("body_weight", "mass", None),
    "height_cm": ("body_height", "length", None),
    "waist_cm": ("waist_circumference", "length", None),
    "cystatin_c_mgl": ("cystatin_c", "cystatin_c", None),
    "uacr_mgg": ("uacr", "uacr", None),
    "glucose_fasting_mgdl": ("glucose_fasting", "glucose", None),
    "glucose_ogtt_2h_mgdl": ("glucose_ogtt_2h", "glucose", None),
    "glucose_random_mgdl": ("glucose_random", "glucose", None),
    "hemoglobin_gdl": ("hemoglobin", "hemoglobin", None),
    "platelets_10e9l": ("platelets", "platelets", None),
    "ast_ul": ("ast", "enzyme", None),
    "alt_ul": ("alt", "enzyme", None),
    "bilirubin_total_mgdl": ("bilirubin_total", "bilirubin", None),
    "inr": ("inr", "ratio", None),
    "respiratory_rate_min": ("respiratory_rate", "rate", "vital_signs_panel"),
    "heart_rate_min": ("heart_rate", "rate", "vital_signs_panel"),
    "temperature_c": ("body_temperature", "temperature", "vital_signs_panel"),
    "spo2_pct": ("spo2", "percent", "vital_signs_panel"),
    "gcs_total": ("gcs_total", "score", None),
}

# Quantity features selected plainly (latest + history), in the order they are built.
_SIMPLE_QUANTITY_FEATURES = (
    "chol_total_mgdl", "hdl_mgdl", "ldl_mgdl", "hba1c_pct", "waist_cm", "cystatin_c_mgl", "uacr_mgg",
    "glucose_fasting_mgdl", "glucose_ogtt_2h_mgdl", "glucose_random_mgdl", "hemoglobin_gdl", "platelets_10e9l",
    "ast_ul", "alt_ul", "bilirubin_total_mgdl", "inr", "respiratory_rate_min", "heart_rate_min", "temperature_c",
    "spo2_pct", "gcs_total",
)


def _quantity_feature(ctx: _Context, name: str, *, reported_as: str | None = None) -> _Selection:
    concept, kind, panel = _QUANTITY_FEATURES[name]
    return _select(ctx, name, _readings(ctx.parsed, concept, panel), _quantity_interpreter(name, kind),
                   reported_as=reported_as)


def _blood_pressure(ctx: _Context, name: str, concept: str) -> _Selection:
    # Single systolic/diastolic Observations and the components of BP panels (85354-9, 55284-4).
    return _select(ctx, name, _readings(ctx.parsed, concept, panel_concept="bp_panel"),
                   _quantity_interpreter(name, "pressure"))


def _store(fs: FeatureSet, name: str, selection: _Selection, *, history: bool = True) -> None:
    if selection.latest is not None:
        fs.put(selection.latest)
    else:
        fs.mark_missing(name, selection.reason)
    if history:
        fs.history[name] = selection.history


# -- smoking ---------------------------------------------------------------------------------------
_SMOKING_VALUE = {"smoker_current": True, "smoker_former": False, "smoker_never": False}


def _smoking(ctx: _Context) -> _Selection:
    def interpret(reading: _Reading) -> tuple[Any, str | None]:
        if reading.absent_reason is not None:
            raise _Reject(f"no value (dataAbsentReason '{reading.absent_reason}'); not used")
        for coding in reading.value_codes:
            for concept in concepts_of_coding(coding.system, coding.code):
                if concept in _SMOKING_VALUE:
                    return _SMOKING_VALUE[concept], coding.label()
                if concept == "smoker_unknown":
                    raise _Reject("smoking status recorded as unknown; not used")
        raise _Reject("smoking status answer is not a recognised SNOMED CT / LOINC answer code; not used")

    return _select(ctx, "smoker_current", _readings(ctx.parsed, "smoking_status"), interpret, keep_history=False)


# -- acute-care observations -----------------------------------------------------------------------
_AVPU_LETTER = {"avpu_alert": "A", "avpu_confusion": "C", "avpu_voice": "V", "avpu_pain": "P",
                "avpu_unresponsive": "U"}
# Free-text / valueString answers (whole words, case-insensitive); checked after the codes.
_AVPU_TEXT = (
    (re.compile(r"^\s*([ACVPU])\s*$", re.IGNORECASE), None),
    (re.compile(r"\bunrespons", re.IGNORECASE), "U"),
    (re.compile(r"\bpain\b", re.IGNORECASE), "P"),
    (re.compile(r"\b(voice|verbal)\b", re.IGNORECASE), "V"),
    (re.compile(r"\bconfus", re.IGNORECASE), "C"),
    (re.compile(r"\balert\b", re.IGNORECASE), "A"),
)
_NOT_ALERT = re.compile(r"\b(not|non|less)[\s-]+alert\b", re.IGNORECASE)


def _consciousness(ctx: _Context) -> _Selection:
    def interpret(reading: _Reading) -> tuple[Any, str | None]:
        if reading.absent_reason is not None:
            raise _Reject(f"no value (dataAbsentReason '{reading.absent_reason}'); not used")
        for coding in reading.value_codes:
            for concept in concepts_of_coding(coding.system, coding.code):
                if concept in _AVPU_LETTER:
                    return _AVPU_LETTER[concept], coding.label()
        text = reading.value_text
        if text:
            for pattern, letter in _AVPU_TEXT:
                match = pattern.search(text)
                if match:
                    if letter == "A" and _NOT_ALERT.search(text):
                        break  # "not alert" without a V / P / U word: not an ACVPU answer we can read
                    return (letter or match.group(1).upper()), f"read from the text answer '{text[:40]}'"
        raise _Reject("level-of-consciousness answer is not a recognised ACVPU code or text; not used")

    return _select(ctx, "consciousness_avpu", _readings(ctx.parsed, "consciousness"), interpret)


_ROOM_AIR_TEXT = re.compile(r"\b(room air|none|no oxygen|ra)\b", re.IGNORECASE)


def _supplemental_o2(ctx: _Context) -> _Selection:
    """Newest of: oxygen flow (> 0 L/min), FiO2 (> 21 %), or an oxygen-delivery answer (room air or a device)."""
    name = "on_supplemental_o2"

    def interpret(reading: _Reading) -> tuple[Any, str | None]:
        if reading.kind == "o2_flow":
            conv = _convert(reading, "o2_flow")
            _plausible("o2_flow_lmin", conv)
            return conv.value > 0, f"inhaled oxygen flow {conv.value:g} L/min"
        if reading.kind == "fio2":
            conv = _convert(reading, "fio2")
            _plausible("fio2_pct", conv)
            # Room air is 21 % oxygen; anything above it is supplemental (RCP NEWS2 2017: "any supplemental oxygen").
            return conv.value > 21.0, f"inhaled oxygen concentration {conv.value:g} %"
        if reading.absent_reason is not None:
            raise _Reject(f"no value (dataAbsentReason '{reading.absent_reason}'); not used")
        for coding in reading.value_codes:
            if "room_air" in concepts_of_coding(coding.system, coding.code):
                return False, coding.label()
        text = reading.value_text or " ".join(filter(None, (c.display for c in reading.value_codes)))
        if text and _ROOM_AIR_TEXT.search(text):
            return False, f"oxygen delivery recorded as '{text[:40]}'"
        if text or reading.value_codes:
            label = text or reading.value_codes[0].label()
            return True, f"oxygen delivery device '{label[:60]}'"
        raise _Reject("oxygen-delivery observation without an answer; not used")

    readings = (_component_readings(ctx.parsed, "o2_flow") + _component_readings(ctx.parsed, "fio2")
                + _readings(ctx.parsed, "o2_device"))
    return _select(ctx, name, readings, interpret)


def _physical_activity(ctx: _Context) -> _Selection:
    """Exercise vital sign: minutes/week (82290-8), or days/week x minutes/day recorded on the same day."""
    name = "physically_active"
    threshold = _number_option(ctx.options, "physically_active_min_per_week", PHYSICALLY_ACTIVE_MIN_PER_WEEK)
    per_day: dict[date, list[_Reading]] = {}
    for reading in _readings(ctx.parsed, "pa_minutes_per_day"):
        if reading.record.status in _USABLE_OBS_STATUS and _day(reading.when) is not None:
            per_day.setdefault(_day(reading.when), []).append(reading)

    def interpret(reading: _Reading) -> tuple[Any, str | None]:
        if reading.kind == "pa_minutes_per_week":
            conv = _convert(reading, "minutes_per_week")
            _plausible("pa_min_per_week", conv)
            minutes = conv.value
            how = f"{minutes:g} min/week"
        else:
            days_conv = _convert(reading, "days_per_week")
            _plausible("pa_days_per_week", days_conv)
            partners = per_day.get(_day(reading.when), [])
            if not partners:
                raise _Reject("days per week of exercise without minutes per day on the same date; not used")
            mins_conv = _convert(partners[0], "minutes_per_day")
            _plausible("pa_min_per_day", mins_conv)
            minutes = days_conv.value * mins_conv.value
            how = f"{days_conv.value:g} days/week x {mins_conv.value:g} min/day = {minutes:g} min/week"
        return minutes >= threshold, f"{how} of moderate-to-vigorous activity (active if >= {threshold:g})"

    readings = _readings(ctx.parsed, "pa_minutes_per_week") + _readings(ctx.parsed, "pa_days_per_week")
    return _select(ctx, name, readings, interpret, keep_history=False)


def _number_option(options: Mapping[str, Any], key: str, default: float) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return default
    return float(value)


# -- conditions ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ConditionRule:
    concepts: tuple[str, ...]
    history_counts: bool  # a resolved / inactive entry still counts (a lifetime history)
    words: str  # for "no ... on the problem list"


_CONDITION_RULES: dict[str, _ConditionRule] = {
    "diabetes": _ConditionRule(("diabetes",), False, "diabetes"),
    "hypertension": _ConditionRule(("hypertension",), False, "hypertension"),
    "ascvd": _ConditionRule(("ascvd",), True, "ASCVD condition (MI, coronary disease, angina, stroke/TIA, PAD)"),
    # CHA2DS2-VASc items count a history (Lip 2010); AF that was cardioverted or ablated still counts
    # (ESC 2020: anticoagulation follows stroke risk, not rhythm).
    "atrial_fibrillation": _ConditionRule(("atrial_fibrillation",), True, "atrial fibrillation or flutter"),
    "heart_failure": _ConditionRule(("heart_failure",), True, "heart failure or LV systolic dysfunction"),
    "stroke_tia_thromboembolism": _ConditionRule(("stroke_tia_thromboembolism",), True,
                                                 "stroke, TIA or systemic thromboembolism"),
    "vascular_disease": _ConditionRule(("vascular_disease",), True,
                                       "vascular disease (MI, PAD, aortic plaque, coronary disease)"),
    "chronic_kidney_disease": _ConditionRule(("chronic_kidney_disease",), False, "chronic kidney disease"),
    "liver_disease": _ConditionRule(("liver_disease",), False, "chronic liver disease or cirrhosis"),
    # HAS-BLED "B": previous major bleeding (a history) or predisposition (Pisters 2010).
    "bleeding_history": _ConditionRule(("bleeding_history",), True, "bleeding history or bleeding disorder"),
    "alcohol_excess": _ConditionRule(("alcohol_excess",), False, "alcohol use disorder"),
    "obesity": _ConditionRule(("obesity",), False, "obesity"),
    "familial_hypercholesterolemia": _ConditionRule(("familial_hypercholesterolemia",), True,
                                                    "familial hypercholesterolaemia"),
    "anemia": _ConditionRule(("anemia",), False, "anaemia"),
    "prediabetes": _ConditionRule(("prediabetes",), False, "prediabetes"),
    "gestational_diabetes_history": _ConditionRule(("gestational_diabetes",), True, "gestational diabetes"),
}


def _qualifying_conditions(ctx: _Context, name: str, concepts: tuple[str, ...],
                           history_counts: bool) -> tuple[list[ConditionRecord], int]:
    """Confirmed, validated Conditions of ``concepts`` (newest onset first) and how many were inactive."""
    found: list[ConditionRecord] = []
    inactive = 0
    for cond in ctx.parsed.conditions:
        if not any(c in cond.concepts for c in concepts):
            continue
        if cond.verification_status in _DROPPED_VERIFICATION:
            continue  # refuted / entered in error: as if never recorded
        invalid = ctx.parsed.check(cond, name)
        if invalid is not None:
            ctx.fs.problems.append(invalid)
            continue
        if cond.verification_status in _UNCONFIRMED_VERIFICATION:
            ctx.problem(cond.ref, name, f"verification status '{cond.verification_status}' is not confirmed; "
                                        f"not counted")
            continue
        onset_day = _day(cond.onset)
        if onset_day is not None and onset_day > ctx.as_of:
            ctx.problem(cond.ref, name, f"onset dated in the future ({onset_day.isoformat()}); not counted")
            continue
        current = (cond.clinical_status in _ACTIVE_CLINICAL
                   or (cond.clinical_status is None and not cond.abated))
        if not (current or history_counts):
            inactive += 1
            continue
        found.append(cond)
    found.sort(key=lambda c: _sort_key(c.onset), reverse=True)
    return found, inactive


def _condition_evidence(name: str, cond: ConditionRecord, concepts: tuple[str, ...],
                        history_counts: bool) -> Evidence:
    coding = _matching_coding(cond.codes, concepts)
    note = coding.label() if coding else None
    if cond.clinical_status is None:
        note = f"{note}; clinical status not recorded, taken as active" if note else \
            "clinical status not recorded, taken as active"
    elif history_counts and cond.clinical_status not in _ACTIVE_CLINICAL:
        note = f"{note}; clinical status '{cond.clinical_status}' (history counts)"
    return Evidence(name=name, label=feature_label(name), value=True, unit=None, effective=cond.onset,
                    source=cond.ref, note=note)


def _absent(name: str, note: str, inactive: int = 0) -> Evidence:
    if inactive:
        note += f" ({inactive} inactive or resolved entr{'y' if inactive == 1 else 'ies'} not counted)"
    return Evidence(name=name, label=feature_label(name), value=False, unit=None, source=None, note=note)


def _condition(ctx: _Context, name: str) -> None:
    """True from a qualifying Condition; otherwise False with a note (absence on the problem list)."""
    rule = _CONDITION_RULES[name]
    found, inactive = _qualifying_conditions(ctx, name, rule.concepts, rule.history_counts)
    if found:
        ctx.fs.put(_condition_evidence(name, found[0], rule.concepts, rule.history_counts))
        return
    words = f"no {'active ' if not rule.history_counts else ''}{rule.words} on the problem list"
    ctx.fs.put(_absent(name, words, inactive))


def _matching_coding(codings: Iterable[Coding], concepts: str | tuple[str, ...]) -> Coding | None:
    wanted = (concepts,) if isinstance(concepts, str) else concepts
    for c in codings:
        if any(w in concepts_of_coding(c.system, c.code) for w in wanted):
            return c
    return None


def _dialysis_or_transplant(ctx: _Context) -> None:
    """A dialysis / transplant status Condition, a kidney transplant, or a dialysis procedure in the last 90 days."""
    name = "dialysis_or_transplant"
    found, inactive = _qualifying_conditions(ctx, name, ("dialysis_or_transplant",), False)
    if found:
        ctx.fs.put(_condition_evidence(name, found[0], ("dialysis_or_transplant",), False))
        return
    window = ctx.lookback[name]
    best = None
    older_dialysis = 0
    for proc in sorted(ctx.parsed.procedures, key=lambda p: _sort_key(p.performed), reverse=True):
        if proc.status not in _DONE_PROCEDURE:
            continue  # not-done / entered-in-error / preparation / stopped-before-start
        day = _day(proc.performed)
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
        coding = _matching_coding(best.codes, ("dialysis_procedure", "kidney_transplant_procedure"))
        note = coding.label() if coding else None
        ctx.fs.put(Evidence(name=name, label=feature_label(name), value=True, effective=best.performed,
                            source=best.ref, note=note))
        return
    note = "no dialysis or kidney-transplant status on the problem list, no kidney transplant and no dialysis " \
           f"in the last {window} days"
    if older_dialysis:
        note += f" ({older_dialysis} older dialysis procedure{'s' if older_dialysis > 1 else ''} not counted)"
    ctx.fs.put(_absent(name, note, inactive))


def _pregnant(ctx: _Context) -> None:
    """Newest of: a current pregnancy Condition (onset within 42 weeks) or a pregnancy-status Observation."""
    name = "pregnant"
    window = ctx.lookback[name]
    cutoff = ctx.as_of - timedelta(days=window)
    candidates: list[Evidence] = []
    found, inactive = _qualifying_conditions(ctx, name, ("pregnancy",), False)
    for cond in found:
        onset = _day(cond.onset)
        if onset is not None and onset < cutoff:
            ctx.problem(cond.ref, name, f"pregnancy recorded as active but began {onset.isoformat()}, more than "
                                        f"{window} days (42 weeks) ago; not counted")
            continue
        evidence = _condition_evidence(name, cond, ("pregnancy",), False)
        if onset is None:
            evidence = replace(evidence, note=f"{evidence.note}; onset date not recorded")
        candidates.append(evidence)

    def interpret(reading: _Reading) -> tuple[Any, str | None]:
        if reading.absent_reason is not None:
            raise _Reject(f"no value (dataAbsentReason '{reading.absent_reason}'); not used")
        for coding in reading.value_codes:
            concepts = concepts_of_coding(coding.system, coding.code)
            if "answer_pregnant" in concepts:
                return True, coding.label()
            if "answer_not_pregnant" in concepts:
                return False, coding.label()
        raise _Reject("pregnancy status answer is not 'pregnant' or 'not pregnant'; not used")

    observed = _select(ctx, name, _readings(ctx.parsed, "pregnancy_status"), interpret, keep_history=False)
    if observed.latest is not None:
        candidates.append(observed.latest)
    if candidates:
        candidates.sort(key=lambda e: _sort_key(e.effective), reverse=True)
        ctx.fs.put(candidates[0])
        return
    ctx.fs.put(_absent(name, "no current pregnancy on the problem list and no pregnancy-status observation in "
                             f"the last {window} days", inactive))


def _family_history_diabetes(ctx: _Context) -> None:
    """First-degree relative with diabetes (FamilyMemberHistory), or the finding on the patient's problem list."""
    name = "family_history_diabetes"
    second_degree: list[str] = []
    unknown_degree: list[str] = []
    for fmh in sorted(ctx.parsed.family_history, key=lambda f: _sort_key(f.date), reverse=True):
        if fmh.status in _DROPPED_FAMILY_HISTORY:
            continue
        who = fmh.relationship_text or next((c.display or c.code for c in fmh.relationship if c.code), None) or "?"
        if "family_first_degree" in fmh.relationship_concepts:
            invalid = ctx.parsed.check(fmh, name)
            if invalid is not None:
                ctx.fs.problems.append(invalid)
                continue
            cond = next(c for c in fmh.conditions if c.concepts)
            coding = _matching_coding(cond.codes, "diabetes")
            note = f"first-degree relative ({who}) with {coding.label() if coding else 'diabetes'}"
            ctx.fs.put(Evidence(name=name, label=feature_label(name), value=True, effective=fmh.date,
                                source=fmh.ref, note=note))
            return
        (second_degree if "family_second_degree" in fmh.relationship_concepts else unknown_degree).append(who)
    found, _ = _qualifying_conditions(ctx, name, ("family_history_diabetes_finding",), True)
    if found:
        evidence = _condition_evidence(name, found[0], ("family_history_diabetes_finding",), True)
        ctx.fs.put(replace(evidence, note=f"{evidence.note}; relative's degree not recorded"))
        return
    negatives, _ = _qualifying_conditions(ctx, name, ("no_family_history_diabetes_finding",), True)
    note = "no first-degree relative with diabetes recorded (FamilyMemberHistory or problem list)"
    if second_degree:
        note += "; second-degree relative(s) only: " + ", ".join(second_degree)
    if unknown_degree:
        note += "; relationship not a recognised blood relative: " + ", ".join(unknown_degree)
    if negatives:
        ctx.fs.put(Evidence(name=name, label=feature_label(name), value=False, effective=negatives[0].onset,
                            source=negatives[0].ref, note="recorded: no family history of diabetes"
                            + (f"; {note}" if second_degree or unknown_degree else "")))
        return
    ctx.fs.put(_absent(name, note))


def _spo2_goal_note(goal: GoalRecord) -> str | None:
    """How ``goal`` documents an 88-92 % SpO2 target, or None if it does not."""
    for target in goal.targets:
        if "spo2" not in target.concepts or target.high is None:
            continue
        try:
            high = units.convert_quantity(target.high.as_mapping(), "percent").value
            low = units.convert_quantity(target.low.as_mapping(), "percent").value if target.low else None
        except units.UnitError:
            continue
        # BTS 2017 oxygen guideline (O'Driscoll BR et al., Thorax 2017;72:i1): 88-92 % for patients at risk of
        # hypercapnic respiratory failure, 94-98 % otherwise; an upper limit of 92 % or less is the former.
        if 85.0 <= high <= 92.0 and (low is None or low <= high):
            shown = f"{low:g}-{high:g} %" if low is not None else f"<= {high:g} %"
            return f"SpO2 target {shown} (Goal)"
    if goal.description and SPO2_TARGET_TEXT.search(goal.description):
        return f"SpO2 target in the goal text '{goal.description[:60]}'"
    return None


def _hypercapnic_target(ctx: _Context) -> None:
    """A documented 88-92 % SpO2 target: an active Goal, or a NEWS2 scale-2 observation (see docs)."""
    name = "hypercapnic_target"
    for goal in sorted(ctx.parsed.goals, key=lambda g: _sort_key(g.start), reverse=True):
        if goal.lifecycle_status not in _ACTIVE_GOAL:
            continue
        start = _day(goal.start)
        if start is not None and start > ctx.as_of:
            continue
        note = _spo2_goal_note(goal)
        if note is None:
            continue
        invalid = ctx.parsed.check(goal, name)
        if invalid is not None:
            ctx.fs.problems.append(invalid)
            continue
        ctx.fs.put(Evidence(name=name, label=feature_label(name), value=True, effective=goal.start,
                            source=goal.ref, note=note))
        return
    scale2 = _select(ctx, name, _readings(ctx.parsed, "news2_spo2_scale2"),
                     lambda r: (True, "NEWS2 SpO2 scale 2 recorded"), keep_history=False)
    if scale2.latest is not None:
        ctx.fs.put(scale2.latest)
        return
    found, _ = _qualifying_conditions(ctx, name, ("hypercapnic_respiratory_failure",), False)
    if found and ctx.options.get("hypercapnic_condition_counts") is True:
        evidence = _condition_evidence(name, found[0], ("hypercapnic_respiratory_failure",), False)
        ctx.fs.put(replace(evidence, note=f"{evidence.note}; hypercapnic respiratory failure taken as the "
                                          f"88-92 % target (service option)"))
        return
    note = "no documented 88-92 % SpO2 target (active Goal or NEWS2 scale-2 observation)"
    if found:
        note += (f"; hypercapnic respiratory failure is on the problem list ({found[0].ref}) but the RCP 2017 "
                 f"NEWS2 report asks for a prescribed target before scale 2 is used")
    ctx.fs.put(_absent(name, note))


# -- medications -----------------------------------------------------------------------------------
_MEDICATION_RULES: dict[str, tuple[tuple[str, ...], str]] = {
    "bp_treated": (("antihypertensive",), "antihypertensive medication"),
    "statin": (("statin",), "statin"),
    "antiplatelet_or_nsaid": (("antiplatelet", "nsaid"), "antiplatelet or NSAID"),
    "anticoagulant": (("anticoagulant",), "oral anticoagulant"),
}


def _medication(ctx: _Context, name: str) -> None:
    concepts, words = _MEDICATION_RULES[name]
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
        end = _day(med.period_end)
        if end is not None and end < ctx.as_of:
            inactive += 1
            continue
        start = _day(med.date)
        if start is not None and start > ctx.as_of:
            ctx.problem(med.ref, name, f"dated in the future ({start.isoformat()}); not counted")
            continue
        invalid = ctx.parsed.check(med, name)
        if invalid is not None:
            ctx.fs.problems.append(invalid)
            continue
        if best is None or _sort_key(med.date) > _sort_key(best.date):
            best = med
    if best is not None:
        coding = _matching_coding(best.codes, concepts)
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


# -- demographics ----------------------------------------------------------------------------------
def _age(ctx: _Context, patient: PatientRecord) -> None:
    raw = patient.birth_date
    if raw is None:
        ctx.fs.mark_missing("age_years", "no birth date on the Patient resource")
        return
    note = None
    try:
        if len(raw) == 4:
            born = date(int(raw), 7, 1)
            note = "birth date has the year only; 1 July assumed"
        elif len(raw) == 7:
            born = date(int(raw[:4]), int(raw[5:7]), 15)
            note = "birth date has year and month only; the 15th assumed"
        else:
            born = date.fromisoformat(raw[:10])
    except ValueError:
        ctx.problem(patient.ref, "age_years", "birth date is not a valid FHIR date; not used")
        ctx.fs.mark_missing("age_years", "birth date is not a valid date")
        return
    if born > ctx.as_of:
        ctx.problem(patient.ref, "age_years", "birth date is after the request date; not used")
        ctx.fs.mark_missing("age_years", "birth date is after the request date")
        return
    years = _age_on(born, ctx.as_of)
    low, high = PLAUSIBLE_RANGE["age_years"]
    if not low <= years <= high:
        ctx.problem(patient.ref, "age_years", f"implausible age ({years} years); not used")
        ctx.fs.mark_missing("age_years", "implausible birth date")
        return
    ctx.born = born
    ctx.fs.put(Evidence(name="age_years", label=feature_label("age_years"), value=years, unit="years",
                        effective=ctx.as_of, source=patient.ref, note=note))


def _sex(ctx: _Context, patient: PatientRecord) -> None:
    gender = patient.gender
    if gender in ("female", "male"):
        ctx.fs.put(Evidence(name="sex", label=feature_label("sex"), value=gender, source=patient.ref))
    elif gender is None:
        ctx.fs.mark_missing("sex", "no administrative gender on the Patient resource")
    else:
        ctx.fs.mark_missing("sex", f"administrative gender is '{gender}'; the calculators need female or male")


def _race(ctx: _Context, patient: PatientRecord) -> None:
    found = [c.code for c in patient.race_codes if c.code]
    if not found:
        ctx.fs.mark_missing("race", "no US Core race (OMB category) on the Patient resource")
        return
    real = [c for c in found if c not in _NULL_FLAVOURS]
    if not real:
        ctx.fs.mark_missing("race", "race recorded as unknown or declined")
        return
    # Any Black or African American category -> "african-american" (PCE has separate equations for
    # African-American and white/other patients); only White -> "white"; anything else -> "other".
    if OMB_BLACK in real:
        value = "african-american"
    elif all(c == OMB_WHITE for c in real):
        value = "white"
    else:
        value = "other"
    note = "US Core race OMB category " + ", ".join(real)
    if len(set(real)) > 1:
        note += " (more than one category recorded)"
    ctx.fs.put(Evidence(name="race", label=feature_label("race"), value=value, source=patient.ref, note=note))


def _ethnicity(ctx: _Context, patient: PatientRecord) -> None:
    found = [c.code for c in patient.ethnicity_codes if c.code]
    if OMB_HISPANIC in found:
        value = "hispanic-or-latino"
    elif OMB_NOT_HISPANIC in found:
        value = "not-hispanic-or-latino"
    elif found:
        ctx.fs.mark_missing("ethnicity", "ethnicity recorded as unknown or declined")
        return
    else:
        ctx.fs.mark_missing("ethnicity", "no US Core ethnicity (OMB category) on the Patient resource")
        return
    ctx.fs.put(Evidence(name="ethnicity", label=feature_label("ethnicity"), value=value, source=patient.ref,
                        note="US Core ethnicity OMB category " + ", ".join(found)))


# -- derived features ------------------------------------------------------------------------------
def _bmi(ctx: _Context, weight: _Selection, height: _Selection) -> None:
    """BMI observed, else derived from weight and height; history = observed values plus derived ones."""
    observed = _quantity_feature(ctx, "bmi_kgm2")
    ctx.fs.history["bmi_kgm2"] = _bmi_history(observed.history, weight.history, height.latest)
    # An observed BMI wins unless a more recent weight allows a fresher derived value.
    if observed.latest is not None and (weight.latest is None or
                                        _sort_key(observed.latest.effective) >= _sort_key(weight.latest.effective)):
        ctx.fs.put(observed.latest)
        return
    if weight.latest is not None and height.latest is not None:
        derived = _derive_bmi(weight.latest, height.latest)
        if derived is not None:
            ctx.fs.put(derived)
            return
        low, high = PLAUSIBLE_RANGE["bmi_kgm2"]
        value = weight.latest.value / (height.latest.value / 100.0) ** 2
        ctx.problem(None, "bmi_kgm2", f"BMI derived from weight and height is implausible ({value:.3g} kg/m2; "
                                      f"accepted {low:g}-{high:g}); not used")
    if observed.latest is not None:
        ctx.fs.put(observed.latest)
        return
    if weight.latest is None:
        derive = f"cannot derive: {weight.reason}"
    elif height.latest is None:
        derive = f"cannot derive: {height.reason}"
    else:
        derive = "derived value implausible"
    ctx.fs.mark_missing("bmi_kgm2", f"{observed.reason}; {derive}")


def _derive_bmi(weight: Evidence, height: Evidence) -> Evidence | None:
    value = weight.value / (height.value / 100.0) ** 2
    low, high = PLAUSIBLE_RANGE["bmi_kgm2"]
    if not low <= value <= high:
        return None
    return Evidence(name="bmi_kgm2", label=feature_label("bmi_kgm2"), value=value, unit=feature_unit("bmi_kgm2"),
                    effective=weight.effective, source=None, derived_from=(weight, height),
                    note="derived: weight / height\u00b2")


def _bmi_history(observed: list[Evidence], weights: list[Evidence], height: Evidence | None) -> list[Evidence]:
    """Observed BMIs, plus BMI derived (latest height) for weights with no observed BMI on the same day."""
    days = {_day(e.effective) for e in observed}
    merged = list(observed)
    if height is not None:
        for weight in weights:
            if _day(weight.effective) not in days:
                derived = _derive_bmi(weight, height)
                if derived is not None:
                    merged.append(derived)
    merged.sort(key=lambda e: _sort_key(e.effective), reverse=True)
    return merged[:HISTORY_MAX_ENTRIES]


def _egfr(ctx: _Context, creatinine: _Selection) -> None:
    observed = _quantity_feature(ctx, "egfr_mlmin173m2")
    ctx.fs.history["egfr_mlmin173m2"] = _egfr_history(ctx, observed.history, creatinine.history)
    # A reported eGFR wins unless a more recent creatinine allows a fresher derived value.
    if observed.latest is not None and (creatinine.latest is None or _sort_key(observed.latest.effective)
                                        >= _sort_key(creatinine.latest.effective)):
        ctx.fs.put(observed.latest)
        return
    derived, derive_reason = _derive_egfr(ctx, creatinine.latest, creatinine.reason)
    if derived is not None:
        ctx.fs.put(derived)
    elif observed.latest is not None:
        ctx.fs.put(observed.latest)
    else:
        ctx.fs.mark_missing("egfr_mlmin173m2", f"{observed.reason}; cannot derive: {derive_reason}")


def _egfr_history(ctx: _Context, observed: list[Evidence], creatinines: list[Evidence]) -> list[Evidence]:
    """Reported eGFRs, plus CKD-EPI 2021 eGFR for each creatinine with no reported eGFR on the same day."""
    days = {_day(e.effective) for e in observed}
    merged = list(observed)
    for creatinine in creatinines:
        if _day(creatinine.effective) in days:
            continue
        derived, _ = _derive_egfr(ctx, creatinine, "")
        if derived is not None:
            merged.append(derived)
    merged.sort(key=lambda e: _sort_key(e.effective), reverse=True)
    return merged[:HISTORY_MAX_ENTRIES]


def _derive_egfr(ctx: _Context, creatinine: Evidence | None, creatinine_reason: str) -> tuple[Evidence | None, str]:
    if creatinine is None:
        return None, creatinine_reason
    if id(creatinine) not in ctx._egfr_cache:
        ctx._egfr_cache[id(creatinine)] = _compute_egfr(ctx, creatinine)
    return ctx._egfr_cache[id(creatinine)]


def _compute_egfr(ctx: _Context, creatinine: Evidence) -> tuple[Evidence | None, str]:
    age, sex = ctx.fs.get("age_years"), ctx.fs.get("sex")
    if age is None:
        return None, "age unknown"
    if sex is None:
        return None, "sex unknown"
    # CKD-EPI takes the age at the time of the measurement.
    measured = _day(creatinine.effective)
    if ctx.born is not None and measured is not None and _age_on(ctx.born, measured) != age.value:
        age = Evidence(name="age_years", label=feature_label("age_years"), value=_age_on(ctx.born, measured),
                       unit="years", effective=measured, source=age.source, note="age at the creatinine date")
    try:
        from engine.calculators.ckd_epi import ckd_epi_2021_creatinine
    except ImportError:
        return None, "CKD-EPI 2021 calculator not available"
    try:
        value = float(ckd_epi_2021_creatinine(creatinine_mgdl=float(creatinine.value),
                                              age_years=float(age.value), sex=str(sex.value)))
    except ValueError as exc:  # e.g. age under 18; the calculator's messages carry no patient values
        return None, f"CKD-EPI 2021 not applicable: {exc}"
    except Exception as exc:  # noqa: BLE001 - a calculator bug must not fail the whole hook
        return None, f"CKD-EPI 2021 could not be computed ({type(exc).__name__})"
    low, high = PLAUSIBLE_RANGE["egfr_mlmin173m2"]
    if not low <= value <= high:
        return None, f"derived eGFR implausible ({value:.3g})"
    return Evidence(name="egfr_mlmin173m2", label=feature_label("egfr_mlmin173m2"), value=value,
                    unit=feature_unit("egfr_mlmin173m2"), effective=creatinine.effective, source=None,
                    derived_from=(creatinine, age, sex), note="CKD-EPI 2021"), ""


# -- entry point -----------------------------------------------------------------------------------
def extract_features(resources: Iterable[dict] | Mapping, *, as_of: date | None = None,
                     lookback_days: Mapping[str, int] | None = None,
                     patient_id: str | None = None,
                     now: datetime | None = None,
                     options: Mapping[str, Any] | None = None,
                     history_days: Mapping[str, int] | None = None) -> FeatureSet:
    """Build the FeatureSet of one patient at ``as_of`` from FHIR R4 resources.

    ``resources``: resources and/or Bundles (any iterable, or one Bundle/resource dict).
    ``as_of``: the request date; defaults to the date of ``now`` (in its own time zone).
    ``lookback_days``: per-feature overrides of DEFAULT_LOOKBACK_DAYS (keys are feature names).
    ``history_days``: per-feature overrides of DEFAULT_HISTORY_DAYS (never shorter than the look-back).
    ``patient_id``: the request's patient (CDS Hooks context.patientId); resources about anyone
    else are skipped. Without it, the Patient in the input (if any) decides.
    ``now``: the moment of the request, stored in FeatureSet.now (a naive datetime is taken as UTC);
    readings timed after it (beyond 5 minutes of clock skew) are future-dated.
    ``options``: engine options from the service configuration, stored in FeatureSet.options; the
    adapter itself reads "hypercapnic_condition_counts" and "physically_active_min_per_week".
    Never raises on bad input: problems are recorded on the FeatureSet.
    """
    if isinstance(now, datetime) and now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    elif not isinstance(now, datetime):
        now = None
    if as_of is None:
        if now is None:
            raise TypeError("extract_features needs as_of or now")
        as_of = now.date()
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    opts = dict(options) if isinstance(options, Mapping) else {}
    fs = FeatureSet(as_of=as_of, now=now, options=opts)
    ctx = _Context(as_of=as_of, now=now, lookback=_windows(DEFAULT_LOOKBACK_DAYS, lookback_days),
                   history_days=_windows(DEFAULT_HISTORY_DAYS, history_days), options=opts,
                   parsed=parse_resources(resources, patient_id=patient_id), fs=fs,
                   validate_history=opts.get("validate_history", VALIDATE_HISTORY_DEFAULT) is True)
    fs.problems.extend(ctx.parsed.problems)
    fs.condition_codes = set(ctx.parsed.condition_codes)

    patient = ctx.parsed.patient
    if patient is None:
        reason = "no usable Patient resource in the input"
        for name in ("age_years", "sex", "race", "ethnicity"):
            fs.mark_missing(name, reason)
    else:
        _age(ctx, patient)
        _sex(ctx, patient)
        _race(ctx, patient)
        _ethnicity(ctx, patient)

    for name in _SIMPLE_QUANTITY_FEATURES:
        _store(fs, name, _quantity_feature(ctx, name))
    _store(fs, "sbp_mmhg", _blood_pressure(ctx, "sbp_mmhg", "sbp"))
    _store(fs, "dbp_mmhg", _blood_pressure(ctx, "dbp_mmhg", "dbp"))
    _store(fs, "smoker_current", _smoking(ctx), history=False)
    _store(fs, "on_supplemental_o2", _supplemental_o2(ctx))
    _store(fs, "consciousness_avpu", _consciousness(ctx))
    _store(fs, "physically_active", _physical_activity(ctx), history=False)

    creatinine = _quantity_feature(ctx, "creatinine_mgdl")
    _store(fs, "creatinine_mgdl", creatinine)
    _egfr(ctx, creatinine)
    _body_size(ctx)

    for name in _CONDITION_RULES:
        _condition(ctx, name)
    _dialysis_or_transplant(ctx)
    _pregnant(ctx)
    _family_history_diabetes(ctx)
    _hypercapnic_target(ctx)
    for name in _MEDICATION_RULES:
        _medication(ctx, name)
    return fs


def _body_size(ctx: _Context) -> None:
    """Weight and height as features of their own, and BMI (observed or derived from them)."""
    mark = len(ctx.fs.problems)
    weight = _quantity_feature(ctx, "weight_kg")
    height = _quantity_feature(ctx, "height_cm")
    body_problems = [p for p in ctx.fs.problems[mark:] if p.name in _FEEDS_BMI]
    _store(ctx.fs, "weight_kg", weight)
    _store(ctx.fs, "height_cm", height)
    mark = len(ctx.fs.problems)
    _bmi(ctx, weight, height)
    bmi = ctx.fs.get("bmi_kgm2")
    if bmi is None or bmi.derived_from:
        ctx.fs.problems[mark:mark] = [InputProblem(p.source, "bmi_kgm2", p.reason) for p in body_problems]


def _windows(defaults: Mapping[str, int], overrides: Mapping[str, int] | None) -> dict[str, int]:
    out = dict(defaults)
    for key, days in (overrides or {}).items() if isinstance(overrides, Mapping) else ():
        if isinstance(days, int) and not isinstance(days, bool) and days >= 0:
            out[key] = days
    return out
