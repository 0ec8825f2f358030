"""Kidney function for drug dosing: the latest eGFR, or creatinine clearance by Cockcroft-Gault where a label defines
its rule on CrCl.

CrCl (mL/min) = (140 - age) x weight (kg) / (72 x serum creatinine (mg/dL)), x 0.85 for women (Cockcroft and Gault
1976), with actual body weight as the DOAC labels do. It is dated by its creatinine. When CrCl cannot be computed (no
weight, most often) the eGFR stands in for it and the card says so; a rule on eGFR never uses CrCl.

The value is rounded half up to a whole number before any threshold is applied, so that the number on the card is
the number the rule saw ("CrCl 30 mL/min" is never treated as below 30).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.calculators.common import age_of, positive_number, round_half_up, sex_of
from engine.finding import Evidence, MissingInput
from engine.inputs import FeatureSet

CRCL = "crcl_cockcroft_gault_mlmin"
CRCL_LABEL = "CrCl (Cockcroft–Gault)"
FEMALE_FACTOR = 0.85


@dataclass(frozen=True)
class KidneyFunction:
    measure: str  # "crcl" | "egfr": what the value is (an eGFR standing in for CrCl has measure "egfr")
    value: int  # rounded half up
    evidence: Evidence  # what the card lists (CrCl with the inputs it was derived from, or the eGFR)
    text: str  # "CrCl 24 mL/min (Cockcroft–Gault, 2026-11-02)": the value that triggered a rule
    substitute_note: str | None = None  # why an eGFR stands in for CrCl

    @property
    def short(self) -> str:
        return f"CrCl {self.value} mL/min" if self.measure == "crcl" else f"eGFR {self.value} mL/min/1.73m2"


def kidney_function(features: FeatureSet, measure: str) -> tuple[KidneyFunction | None, list[MissingInput]]:
    """The kidney function a rule on ``measure`` ("crcl" or "egfr") reads, or None and what is missing."""
    if measure == "egfr":
        return _egfr(features, None)
    crcl, missing = creatinine_clearance(features)
    if crcl is not None:
        return crcl, []
    labels = ", ".join(m.label.lower() for m in missing)
    egfr, egfr_missing = _egfr(features, f"eGFR used in place of CrCl (Cockcroft–Gault needs {labels})")
    if egfr is not None:
        return egfr, []
    return None, missing + [m for m in egfr_missing if m not in missing]


def creatinine_clearance(features: FeatureSet) -> tuple[KidneyFunction | None, list[MissingInput]]:
    creatinine, missing_cr = positive_number(features, "creatinine_mgdl")
    weight, missing_wt = positive_number(features, "weight_kg")
    age, missing_age = age_of(features)
    sex, missing_sex = sex_of(features)
    missing = [m for m in (missing_cr, missing_age, missing_sex, missing_wt) if m is not None]
    if missing:
        return None, missing
    raw = (140 - age.value) * weight.value / (72 * creatinine.value)
    if sex.value == "female":
        raw *= FEMALE_FACTOR
    value = int(round_half_up(max(raw, 0.0)))
    day = _day(creatinine)
    evidence = Evidence(name=CRCL, label=CRCL_LABEL, value=value, unit="mL/min", effective=creatinine.effective,
                        derived_from=(creatinine, age, sex, weight),
                        note=f"Cockcroft-Gault with actual body weight: {raw:.1f} mL/min")
    return KidneyFunction("crcl", value, evidence, f"CrCl {value} mL/min (Cockcroft–Gault{day})"), []


def _egfr(features: FeatureSet, substitute_note: str | None) -> tuple[KidneyFunction | None, list[MissingInput]]:
    egfr, missing = positive_number(features, "egfr_mlmin173m2")
    if egfr is None:
        return None, [missing]
    value = int(round_half_up(egfr.value))
    method = "CKD-EPI 2021" if egfr.derived_from else "reported"
    text = f"eGFR {value} mL/min/1.73m2 ({method}{_day(egfr)})"
    if substitute_note:
        text += " in place of CrCl"
    return KidneyFunction("egfr", value, egfr, text, substitute_note), []


def _day(evidence: Evidence) -> str:
    when = evidence.effective
    if when is None:
        return ""
    return ", " + (when.date() if isinstance(when, datetime) else when).isoformat()
