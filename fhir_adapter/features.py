"""The record -> features adapter: FHIR resources in, an engine.inputs.FeatureSet out.

Every feature is either an Evidence (value in the canonical unit, unit, date, source reference,
conversion / derivation note) or a MissingInput with a reason; every value that was present but
not used (invalid resource, unknown unit, implausible, stale, future-dated, censored, not final)
is an InputProblem. Rules, windows and bounds are documented in docs/features.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping

from engine.finding import Evidence, InputProblem
from engine.inputs import FeatureSet, feature_label, feature_unit
from fhir_adapter import units
from fhir_adapter.codes import concepts_of_coding
from fhir_adapter.parse import (
    Coding,
    ConditionRecord,
    MedicationRecord,
    ObservationRecord,
    ParsedRecord,
    PatientRecord,
    Quantity,
    parse_resources,
)

_YEAR = 365

# Default look-back windows in days (project defaults, rationale in docs/features.md):
# lipids 5 y (2019 ACC/AHA primary-prevention guideline, Arnett 2019: assess risk factors every 4-6 years),
# BP 1 y and HbA1c / kidney function 1 y (values that change and drive treatment),
# smoking 2 y, BMI / weight 2 y, adult height 10 y (stable in adults).
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
}

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
}

_USABLE_OBS_STATUS = frozenset({"final", "amended", "corrected"})
_DROPPED_OBS_STATUS = frozenset({"entered-in-error", "cancelled"})  # as if never recorded
_ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
_DROPPED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
_UNCONFIRMED_VERIFICATION = frozenset({"unconfirmed", "provisional", "differential"})
_NOT_TAKEN_INTENTS = frozenset({"proposal", "plan"})

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
}

_EXTRA_LABELS = {"weight_kg": ("Body weight", "kg"), "height_cm": ("Body height", "cm")}
# Weight and height are not engine features: their problems are reported under the BMI they feed.
_REPORTED_AS = {"weight_kg": "bmi_kgm2", "height_cm": "bmi_kgm2"}


def _label(name: str) -> str:
    return _EXTRA_LABELS[name][0] if name in _EXTRA_LABELS else feature_label(name)


def _unit(name: str) -> str | None:
    return _EXTRA_LABELS[name][1] if name in _EXTRA_LABELS else feature_unit(name)


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


# -- generic "latest usable value" selection -----------------------------------------------------
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

    @property
    def when(self) -> date | datetime | None:
        return self.record.effective


@dataclass
class _Context:
    as_of: date
    lookback: dict[str, int]
    parsed: ParsedRecord
    fs: FeatureSet

    def problem(self, source: str | None, name: str | None, reason: str) -> None:
        self.fs.problems.append(InputProblem(source, name, reason))


def _select_latest(ctx: _Context, name: str, readings: list[_Reading],
                   interpret: Callable[[_Reading], tuple[Any, str | None]]) -> tuple[Evidence | None, str]:
    """Newest usable reading inside the look-back window, or None and the reason why not.

    ``interpret`` returns (value, note) or raises _Reject(reason).
    """
    window = ctx.lookback[name]
    cutoff = ctx.as_of - timedelta(days=window)
    plain = _PLAIN.get(name, name)
    shown_as = _REPORTED_AS.get(name, name)
    live = [r for r in readings if r.record.status not in _DROPPED_OBS_STATUS]
    live.sort(key=lambda r: _sort_key(r.when), reverse=True)
    rejected = 0
    stale_day: date | None = None
    for reading in live:
        ref = reading.record.ref
        day = _day(reading.when)
        if day is None:
            ctx.problem(ref, shown_as, "no effective date or issued time, so its age is unknown; not used")
            rejected += 1
            continue
        if day > ctx.as_of:
            ctx.problem(ref, shown_as, f"dated in the future ({day.isoformat()}); not used")
            rejected += 1
            continue
        if day < cutoff:
            # Everything after this one is older still: one problem for the newest stale value.
            stale_day = day
            ctx.problem(ref, shown_as, f"latest result ({day.isoformat()}) is older than the "
                                   f"{_window_adj(window)} look-back; not used")
            break
        status = reading.record.status
        if status not in _USABLE_OBS_STATUS:
            ctx.problem(ref, shown_as, f"status '{status or 'missing'}' is not a final result; not used")
            rejected += 1
            continue
        invalid = ctx.parsed.check(reading.record, shown_as)
        if invalid is not None:
            ctx.fs.problems.append(invalid)
            rejected += 1
            continue
        try:
            value, note = interpret(reading)
        except _Reject as rej:
            ctx.problem(ref, shown_as, rej.reason)
            rejected += 1
            continue
        return Evidence(name=name, label=_label(name), value=value, unit=_unit(name),
                        effective=reading.when, source=ref, note=note), ""
    if rejected:
        reason = (f"no usable {plain} result in the last {_window_noun(window)} "
                  f"({rejected} not used: see input problems)")
    elif stale_day is not None:
        reason = f"latest {plain} result ({stale_day.isoformat()}) older than the {_window_adj(window)} look-back"
    else:
        reason = f"no {plain} result in the last {_window_noun(window)}"
    return None, reason


def _quantity_interpreter(name: str, kind: str) -> Callable[[_Reading], tuple[Any, str | None]]:
    low, high = PLAUSIBLE_RANGE[name]
    canonical = _unit(name)

    def interpret(reading: _Reading) -> tuple[Any, str | None]:
        if reading.absent_reason is not None:
            raise _Reject(f"no value (dataAbsentReason '{reading.absent_reason}'); not used")
        if reading.quantity is None:
            raise _Reject("no numeric value (valueQuantity); not used")
        try:
            conv = units.convert_quantity(reading.quantity.as_mapping(), kind)
        except units.UnitError as err:
            raise _Reject(f"{err.reason}; not used") from None
        if not low <= conv.value <= high:
            shown = f"{conv.value:.4g} {canonical}"
            if conv.converted:
                shown = f"{conv.original_value:g} {conv.original_unit} = {shown}"
            raise _Reject(f"implausible value ({shown}; accepted range {low:g}-{high:g} {canonical}); "
                          f"likely a unit or entry error; not used")
        return conv.value, conv.note

    return interpret


def _readings(parsed: ParsedRecord, concept: str, panel_concept: str | None = None) -> list[_Reading]:
    """Observations coded as ``concept``, plus ``concept`` components of ``panel_concept`` panels."""
    out: list[_Reading] = []
    for obs in parsed.observations:
        if concept in obs.concepts:
            out.append(_Reading(obs, obs.quantity, obs.value_codes, obs.absent_reason))
        elif panel_concept is not None and panel_concept in obs.concepts:
            for comp in obs.components:
                if concept in comp.concepts:
                    out.append(_Reading(obs, comp.quantity, (), comp.absent_reason))
    return out


# Feature -> (value-set concept, unit kind)
_QUANTITY_FEATURES: dict[str, tuple[str, str]] = {
    "chol_total_mgdl": ("chol_total", "cholesterol"),
    "hdl_mgdl": ("hdl", "cholesterol"),
    "ldl_mgdl": ("ldl", "cholesterol"),
    "hba1c_pct": ("hba1c", "hba1c"),
    "creatinine_mgdl": ("creatinine", "creatinine"),
    "egfr_mlmin173m2": ("egfr", "egfr"),
    "bmi_kgm2": ("bmi", "bmi"),
    "weight_kg": ("body_weight", "mass"),
    "height_cm": ("body_height", "length"),
}


def _quantity_feature(ctx: _Context, name: str) -> tuple[Evidence | None, str]:
    concept, kind = _QUANTITY_FEATURES[name]
    return _select_latest(ctx, name, _readings(ctx.parsed, concept), _quantity_interpreter(name, kind))


def _blood_pressure(ctx: _Context, name: str, concept: str) -> tuple[Evidence | None, str]:
    # Single systolic/diastolic Observations and the components of BP panels (85354-9, 55284-4).
    return _select_latest(ctx, name, _readings(ctx.parsed, concept, panel_concept="bp_panel"),
                          _quantity_interpreter(name, "pressure"))


# -- smoking ---------------------------------------------------------------------------------------
_SMOKING_VALUE = {"smoker_current": True, "smoker_former": False, "smoker_never": False}


def _smoking(ctx: _Context) -> tuple[Evidence | None, str]:
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

    return _select_latest(ctx, "smoker_current", _readings(ctx.parsed, "smoking_status"), interpret)


# -- conditions ------------------------------------------------------------------------------------
_CONDITION_WORDS = {
    "diabetes": "diabetes",
    "hypertension": "hypertension",
    "ascvd": "ASCVD condition (MI, coronary disease, angina, stroke/TIA, PAD)",
}


def _condition(ctx: _Context, name: str, concept: str, history_counts: bool) -> None:
    """True from a qualifying Condition; otherwise False with a note (absence on the problem list).

    ``history_counts``: a resolved/inactive entry still counts (ASCVD is a lifetime history;
    diabetes and hypertension must be current).
    """
    best: ConditionRecord | None = None
    inactive = 0
    for cond in ctx.parsed.conditions:
        if concept not in cond.concepts:
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
        if best is None or _sort_key(cond.onset) > _sort_key(best.onset):
            best = cond
    if best is not None:
        coding = _matching_coding(best.codes, concept)
        note = coding.label() if coding else None
        if best.clinical_status is None:
            note = f"{note}; clinical status not recorded, taken as active" if note else \
                "clinical status not recorded, taken as active"
        elif history_counts and best.clinical_status not in _ACTIVE_CLINICAL:
            note = f"{note}; clinical status '{best.clinical_status}' (history counts)"
        ctx.fs.put(Evidence(name=name, label=feature_label(name), value=True, unit=None,
                            effective=best.onset, source=best.ref, note=note))
        return
    note = f"no {'active ' if not history_counts else ''}{_CONDITION_WORDS[concept]} on the problem list"
    if inactive:
        note += f" ({inactive} inactive or resolved entr{'y' if inactive == 1 else 'ies'} not counted)"
    ctx.fs.put(Evidence(name=name, label=feature_label(name), value=False, unit=None, source=None, note=note))


def _matching_coding(codings: Iterable[Coding], concept: str) -> Coding | None:
    for c in codings:
        if concept in concepts_of_coding(c.system, c.code):
            return c
    return None


# -- medications -----------------------------------------------------------------------------------
_MEDICATION_WORDS = {"antihypertensive": "antihypertensive medication", "statin": "statin"}


def _medication(ctx: _Context, name: str, concept: str) -> None:
    best: MedicationRecord | None = None
    inactive = 0
    for med in ctx.parsed.medications:
        if concept not in med.matched_concepts():
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
        coding = _matching_coding(best.codes, concept)
        if coding is not None:
            note = coding.label()
        else:
            note = f"matched by name '{best.text_matches.get(concept)}' in the medication text"
        ctx.fs.put(Evidence(name=name, label=feature_label(name), value=True, unit=None,
                            effective=best.date, source=best.ref, note=note))
        return
    note = f"no active {_MEDICATION_WORDS[concept]} on the medication list"
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
    years = ctx.as_of.year - born.year - ((ctx.as_of.month, ctx.as_of.day) < (born.month, born.day))
    low, high = PLAUSIBLE_RANGE["age_years"]
    if not low <= years <= high:
        ctx.problem(patient.ref, "age_years", f"implausible age ({years} years); not used")
        ctx.fs.mark_missing("age_years", "implausible birth date")
        return
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
def _bmi(ctx: _Context) -> None:
    observed, observed_reason = _quantity_feature(ctx, "bmi_kgm2")
    mark = len(ctx.fs.problems)
    weight, weight_reason = _quantity_feature(ctx, "weight_kg")
    # An observed BMI wins unless a more recent weight allows a fresher derived value.
    if observed is not None and (weight is None or _sort_key(observed.effective) >= _sort_key(weight.effective)):
        del ctx.fs.problems[mark:]  # weight problems do not matter when the observed BMI is used
        ctx.fs.put(observed)
        return
    height, height_reason = _quantity_feature(ctx, "height_cm")
    if weight is not None and height is not None:
        value = weight.value / (height.value / 100.0) ** 2
        low, high = PLAUSIBLE_RANGE["bmi_kgm2"]
        if low <= value <= high:
            ctx.fs.put(Evidence(name="bmi_kgm2", label=feature_label("bmi_kgm2"), value=value,
                                unit=feature_unit("bmi_kgm2"), effective=weight.effective, source=None,
                                derived_from=(weight, height), note="derived: weight / height\u00b2"))
            return
        ctx.problem(None, "bmi_kgm2", f"BMI derived from weight and height is implausible ({value:.3g} kg/m2; "
                                      f"accepted {low:g}-{high:g}); not used")
    if observed is not None:
        ctx.fs.put(observed)
        return
    if weight is None:
        derive = f"cannot derive: {weight_reason}"
    elif height is None:
        derive = f"cannot derive: {height_reason}"
    else:
        derive = "derived value implausible"
    ctx.fs.mark_missing("bmi_kgm2", f"{observed_reason}; {derive}")


def _egfr(ctx: _Context, creatinine: Evidence | None, creatinine_reason: str) -> None:
    observed, observed_reason = _quantity_feature(ctx, "egfr_mlmin173m2")
    # A reported eGFR wins unless a more recent creatinine allows a fresher derived value.
    if observed is not None and (creatinine is None
                                 or _sort_key(observed.effective) >= _sort_key(creatinine.effective)):
        ctx.fs.put(observed)
        return
    derived, derive_reason = _derive_egfr(ctx, creatinine, creatinine_reason)
    if derived is not None:
        ctx.fs.put(derived)
    elif observed is not None:
        ctx.fs.put(observed)
    else:
        ctx.fs.mark_missing("egfr_mlmin173m2", f"{observed_reason}; cannot derive: {derive_reason}")


def _derive_egfr(ctx: _Context, creatinine: Evidence | None, creatinine_reason: str) -> tuple[Evidence | None, str]:
    if creatinine is None:
        return None, creatinine_reason
    age, sex = ctx.fs.get("age_years"), ctx.fs.get("sex")
    if age is None:
        return None, "age unknown"
    if sex is None:
        return None, "sex unknown"
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
def extract_features(resources: Iterable[dict] | Mapping, *, as_of: date,
                     lookback_days: Mapping[str, int] | None = None,
                     patient_id: str | None = None) -> FeatureSet:
    """Build the FeatureSet of one patient at ``as_of`` from FHIR R4 resources.

    ``resources``: resources and/or Bundles (any iterable, or one Bundle/resource dict).
    ``lookback_days``: per-feature overrides of DEFAULT_LOOKBACK_DAYS (keys are feature names,
    plus "weight_kg" / "height_cm" for BMI derivation).
    ``patient_id``: the request's patient (CDS Hooks context.patientId); resources about anyone
    else are skipped. Without it, the Patient in the input (if any) decides.
    Never raises on bad input: problems are recorded on the FeatureSet.
    """
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    fs = FeatureSet(as_of=as_of)
    lookback = dict(DEFAULT_LOOKBACK_DAYS)
    for key, days in (lookback_days or {}).items():
        if isinstance(days, int) and not isinstance(days, bool) and days >= 0:
            lookback[key] = days
    parsed = parse_resources(resources, patient_id=patient_id)
    fs.problems.extend(parsed.problems)
    ctx = _Context(as_of=as_of, lookback=lookback, parsed=parsed, fs=fs)

    patient = parsed.patient
    if patient is None:
        reason = "no usable Patient resource in the input"
        for name in ("age_years", "sex", "race", "ethnicity"):
            fs.mark_missing(name, reason)
    else:
        _age(ctx, patient)
        _sex(ctx, patient)
        _race(ctx, patient)
        _ethnicity(ctx, patient)

    for name in ("chol_total_mgdl", "hdl_mgdl", "ldl_mgdl", "hba1c_pct"):
        _put_or_missing(fs, name, *_quantity_feature(ctx, name))
    _put_or_missing(fs, "sbp_mmhg", *_blood_pressure(ctx, "sbp_mmhg", "sbp"))
    _put_or_missing(fs, "dbp_mmhg", *_blood_pressure(ctx, "dbp_mmhg", "dbp"))
    _put_or_missing(fs, "smoker_current", *_smoking(ctx))

    creatinine, creatinine_reason = _quantity_feature(ctx, "creatinine_mgdl")
    _put_or_missing(fs, "creatinine_mgdl", creatinine, creatinine_reason)
    _egfr(ctx, creatinine, creatinine_reason)
    _bmi(ctx)

    _condition(ctx, "diabetes", "diabetes", history_counts=False)
    _condition(ctx, "hypertension", "hypertension", history_counts=False)
    _condition(ctx, "ascvd", "ascvd", history_counts=True)
    _medication(ctx, "bp_treated", "antihypertensive")
    _medication(ctx, "statin", "statin")
    return fs


def _put_or_missing(fs: FeatureSet, name: str, evidence: Evidence | None, reason: str) -> None:
    if evidence is not None:
        fs.put(evidence)
    else:
        fs.mark_missing(name, reason)
