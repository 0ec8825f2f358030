"""Small helpers shared by the calculators: data loading, number checks, rounding, reading features,
validated ranges and risk bands, draft lab orders.

Nothing clinical lives here: every threshold and coefficient stays in the calculator's own data file,
and every formula in the calculator's own module.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any, Callable, Iterable, Mapping, Sequence

from engine.feature_catalog import threshold_safe_text
from engine.finding import Details, Evidence, MissingInput
from engine.inputs import FeatureSet
from engine.proposals import LOINC, Coding, OrderTest, Suggestion, suggest

SEXES = ("female", "male")
# Shown as the value of a yes/no item term; None: the record cannot tell.
ANSWER_TEXT = {True: "yes", False: "no", None: "unknown"}


@cache
def load_data(filename: str) -> dict[str, Any]:
    """A JSON file from ``engine/data`` (read-only package data, loaded once per process)."""
    path = resources.files("engine") / "data" / filename
    return json.loads(path.read_text(encoding="utf-8"))


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def round_half_up(value: float, ndigits: int = 0) -> float:
    """Round as labs and printed charts do (2.675 -> 2.68, 59.5 -> 60); Python's round() is banker's rounding.

    The decimal shift goes through repr so that 2.675 (stored as 2.67499999...) still rounds up.
    """
    scaled = float(f"{value:.12g}") * 10 ** ndigits
    return math.floor(float(f"{scaled:.12g}") + 0.5) / 10 ** ndigits


def positive_number(features: FeatureSet, name: str) -> tuple[Evidence | None, MissingInput | None]:
    """The feature if it is a finite positive number; otherwise why it cannot be used."""
    evidence = features.get(name)
    if evidence is None:
        return None, features.missing_reason(name)
    if not (is_finite_number(evidence.value) and evidence.value > 0):
        return None, MissingInput(name, evidence.label, "recorded value is not a positive number")
    return evidence, None


def yes_no(features: FeatureSet, name: str) -> tuple[Evidence | None, MissingInput | None]:
    """The feature if it is a yes/no value; otherwise why it cannot be used."""
    evidence = features.get(name)
    if evidence is None:
        return None, features.missing_reason(name)
    if not isinstance(evidence.value, bool):
        return None, MissingInput(name, evidence.label, "recorded value is neither yes nor no")
    return evidence, None


def age_of(features: FeatureSet) -> tuple[Evidence | None, MissingInput | None]:
    """The age if it is a finite number (the calculator judges its own age limits); otherwise why not."""
    evidence = features.get("age_years")
    if evidence is None:
        return None, features.missing_reason("age_years")
    if not is_finite_number(evidence.value):
        return None, MissingInput("age_years", evidence.label, "recorded age is not a number")
    return evidence, None


def sex_of(features: FeatureSet) -> tuple[Evidence | None, MissingInput | None]:
    evidence = features.get("sex")
    if evidence is None:
        return None, features.missing_reason("sex")
    if evidence.value not in ("female", "male"):
        return None, MissingInput("sex", evidence.label, "needs sex recorded as female or male")
    return evidence, None


def read_features(features: FeatureSet, names: Iterable[str],
                  read: Callable[[FeatureSet, str], tuple[Evidence | None, MissingInput | None]],
                  ) -> tuple[dict[str, Evidence], list[MissingInput]]:
    """Each feature through ``read`` (``positive_number``, ``yes_no``): the usable ones by name, in order, and
    why each of the others cannot be used."""
    usable, missing = {}, []
    for name in names:
        evidence, why = read(features, name)
        if evidence is not None:
            usable[name] = evidence
        else:
            missing.append(why)
    return usable, missing


def unusable_equation_inputs(features: FeatureSet, *, numbers: Iterable[str],
                             flags: Iterable[str]) -> list[MissingInput]:
    """Present features a sex-specific equation cannot use, reported like missing ones: ``numbers`` that are not
    positive numbers, ``flags`` that are not yes/no, and a sex other than female or male."""
    problems = []
    for name in numbers:
        ev = features.get(name)
        if ev is not None and not (is_finite_number(ev.value) and ev.value > 0):
            problems.append(MissingInput(name, ev.label, "recorded value is not a positive number"))
    for name in flags:
        ev = features.get(name)
        if ev is not None and not isinstance(ev.value, bool):
            problems.append(MissingInput(name, ev.label, "recorded value is neither yes nor no"))
    sex = features.get("sex")
    if sex is not None and sex.value not in SEXES:
        problems.append(MissingInput("sex", sex.label,
                                     "the equations are sex-specific and need sex recorded as female or male"))
    return problems


def atrial_fibrillation_gate(features: FeatureSet) -> tuple[Evidence | None, str | None]:
    """The AF feature and, unless it says AF or flutter is present, why a score for AF patients does not apply."""
    af = features.get("atrial_fibrillation")
    if af is not None and af.value is True:
        return af, None
    if af is not None and af.value is False:
        return af, "Atrial fibrillation or flutter is not recorded"
    return af, "Whether atrial fibrillation or flutter is present could not be determined from the record"


@dataclass(frozen=True)
class RangeViolation:
    name: str
    label: str
    value: float
    low: float
    high: float
    unit: str

    @property
    def message(self) -> str:
        return (f"{self.label} {self.value:g} {self.unit} is outside the validated range "
                f"{self.low:g}-{self.high:g} {self.unit}.")


def range_violations(values: Mapping[str, float], ranges: Mapping[str, Any],
                     labels: Mapping[str, str]) -> list[RangeViolation]:
    """Which values lie outside their range ({"min", "max", "unit"} per name, bounds inclusive); names without
    a range are not checked."""
    violations = []
    for name, value in values.items():
        bounds = ranges.get(name)
        if bounds and not bounds["min"] <= value <= bounds["max"]:
            violations.append(RangeViolation(name, labels.get(name, name), value,
                                             bounds["min"], bounds["max"], bounds["unit"]))
    return violations


def outside_range_message(messages: Iterable[str], equations: str) -> str:
    """The range messages, then that ``equations`` (e.g. "The PREVENT equations") give no estimate there."""
    return " ".join(messages) + f" {equations} give no estimate outside their validated range."


def band_below(value: float, bands: Sequence[Mapping[str, Any]]) -> str:
    """Name of the first band whose ``below_percent`` the value is under; the last band is open (None)."""
    for band in bands:
        if band["below_percent"] is None or value < band["below_percent"]:
            return band["name"]
    raise AssertionError("the last band is open-ended")  # pragma: no cover


def band_cut_points(bands: Iterable[Mapping[str, Any]]) -> tuple[float, ...]:
    """The ``below_percent`` bounds of a data file's bands: where ``band_below`` changes category (value >= bound is
    the next band). A card shows the value without rounding it across one (``Finding.cut_points``)."""
    return tuple(float(band["below_percent"]) for band in bands if band["below_percent"] is not None)


def percent_text(value: float, bands: Iterable[Mapping[str, Any]]) -> str:
    """A risk in percent at one decimal, never rounded into another band: 7.46 % (borderline) is "7.4", not "7.5"."""
    return threshold_safe_text(value, 1, band_cut_points(bands))


def band_texts(bands: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The human-readable thresholds of a data file's bands, in order."""
    return tuple(band["text"] for band in bands)


def category_with_unknowns(score: int, maximum_score: int | None, high_from: int, *, high: str, low: str) -> str:
    """``high`` from ``high_from`` points; 'indeterminate' when items the record cannot show could still reach it
    (``maximum_score``); otherwise ``low``."""
    if score >= high_from:
        return high
    if maximum_score is not None and maximum_score >= high_from:
        return "indeterminate"
    return low


def day_of(when: date | datetime | None) -> date | None:
    if isinstance(when, datetime):
        return when.date()
    return when


def different_days_note(evidences: Iterable[Evidence], what: str) -> str | None:
    """An assumption when results that belong together were not measured on the same day."""
    dated = [(ev.label, day_of(ev.effective)) for ev in evidences if day_of(ev.effective) is not None]
    days = {d for _, d in dated}
    if len(days) <= 1:
        return None
    listing = ", ".join(f"{label} {d.isoformat()}" for label, d in dated)
    span = (max(days) - min(days)).days
    return f"{what} were not measured on the same day ({listing}; {span} days apart)."


@dataclass(frozen=True)
class OutOfRange(Details):
    """Inputs present but outside the range the equation was validated in (why it was not computed)."""

    out_of_range: tuple[str, ...]


@dataclass(frozen=True)
class PartialScore(Details):
    """Points of the items that are known, when some are missing: the score can only be higher."""

    partial_score: int


@dataclass(frozen=True)
class ItemScore(Details):
    """A points score of yes/no items: those not known (counted as 0) and the highest score reachable."""

    unknown_items: tuple[str, ...]
    maximum_score: int


def lab_order_action(*, label: str, loinc: str, display: str, text: str, reason: str) -> Suggestion:
    """A suggestion to order one laboratory test (LOINC); cards/fhir.py writes it as a draft ServiceRequest with the
    patient as subject."""
    return suggest(label, OrderTest(code=Coding(LOINC, loinc, display), text=text, reason=reason))


def ckd_testing_indication(features: FeatureSet) -> str | None:
    """Why testing for CKD (eGFR and UACR) is indicated for this patient, or None: diabetes, hypertension or a CKD
    already on the problem list (KDIGO 2024 rec. 1.1.1.1; the list and its source: engine/data/kdigo_2012_ckd.json).
    The one rule that decides whether a missing creatinine or UACR is a gap to fill ("data needed") or no card at all,
    for every engine and so for the hook and population scoring alike."""
    for entry in load_data("kdigo_2012_ckd.json")["ckd_testing"]["in_people_with"]:
        if features.value(entry["feature"]) is True:
            return entry["label"]
    return None


def ckd_testing_features() -> tuple[str, ...]:
    """The features ``ckd_testing_indication`` reads (an engine that calls it declares them as optional)."""
    return tuple(entry["feature"] for entry in load_data("kdigo_2012_ckd.json")["ckd_testing"]["in_people_with"])


def uacr_action(reason: str) -> Suggestion:
    # LOINC 9318-7 "Albumin/Creatinine [Mass Ratio] in Urine": the ratio in mg/g the KDIGO A categories use.
    return lab_order_action(label="Order urine albumin-to-creatinine ratio", loinc="9318-7",
                            display="Albumin/Creatinine [Mass Ratio] in Urine",
                            text="Urine albumin-to-creatinine ratio (UACR)", reason=reason)


def cystatin_c_action(reason: str) -> Suggestion:
    # LOINC 33863-2 "Cystatin C [Mass/volume] in Serum or Plasma".
    return lab_order_action(label="Order serum cystatin C", loinc="33863-2",
                            display="Cystatin C [Mass/volume] in Serum or Plasma", text="Cystatin C", reason=reason)


def creatinine_action(reason: str) -> Suggestion:
    # LOINC 2160-0 "Creatinine [Mass/volume] in Serum or Plasma".
    return lab_order_action(label="Order serum creatinine (eGFR)", loinc="2160-0",
                            display="Creatinine [Mass/volume] in Serum or Plasma", text="Serum creatinine with eGFR",
                            reason=reason)


def hba1c_action(reason: str) -> Suggestion:
    # LOINC 4548-4 "Hemoglobin A1c/Hemoglobin.total in Blood".
    return lab_order_action(label="Order HbA1c", loinc="4548-4", display="Hemoglobin A1c/Hemoglobin.total in Blood",
                            text="HbA1c", reason=reason)


LIPID_FEATURES = ("chol_total_mgdl", "hdl_mgdl")


def lipid_panel_action(reason: str) -> Suggestion:
    # LOINC 57698-3 "Lipid panel with direct LDL - Serum or Plasma".
    return lab_order_action(label="Order a lipid panel", loinc="57698-3",
                            display="Lipid panel with direct LDL - Serum or Plasma", text="Lipid panel", reason=reason)


def lipid_panel_if_missing(missing: Iterable[MissingInput], reason: str) -> tuple[Suggestion, ...]:
    """A lipid-panel order when total or HDL cholesterol is among the missing inputs, else nothing."""
    if any(m.name in LIPID_FEATURES for m in missing):
        return (lipid_panel_action(reason),)
    return ()
