"""Creatinine clearance by Cockcroft-Gault, declared once: the order-time renal dosing checks and the patient-view AF
anticoagulation rule both read it, because the drug labels dose by CrCl rather than by eGFR.

CrCl (mL/min) = (140 - age) x weight (kg) / (72 x serum creatinine (mg/dL)), x 0.85 for women (Cockcroft DW, Gault
MH. Nephron 1976;16:31-41), with actual body weight as the DOAC labels do. It is dated by its creatinine.

The value is rounded half up to a whole number before a lower threshold is applied, so that the number on the card is
the number the rule saw ("CrCl 30 mL/min" is never treated as below 30); an upper bound is judged on the unrounded
value (``unrounded``), as a CrCl of 95.4 rounds to 95 but is above 95.
"""
from __future__ import annotations

from datetime import datetime

from engine.calculators.common import age_of, positive_number, round_half_up, sex_of
from engine.finding import Evidence, MissingInput
from engine.inputs import FeatureSet

CRCL = "crcl_cockcroft_gault_mlmin"
CRCL_LABEL = "CrCl (Cockcroft–Gault)"
FEMALE_FACTOR = 0.85


def creatinine_clearance(features: FeatureSet) -> tuple[Evidence | None, list[MissingInput]]:
    """CrCl as evidence (a whole number of mL/min, derived from creatinine, age, sex and weight), or None and what
    is missing."""
    creatinine, missing_cr = positive_number(features, "creatinine_mgdl")
    weight, missing_wt = positive_number(features, "weight_kg")
    age, missing_age = age_of(features)
    sex, missing_sex = sex_of(features)
    missing = [m for m in (missing_cr, missing_age, missing_sex, missing_wt) if m is not None]
    if missing:
        return None, missing
    raw = _formula(creatinine.value, age.value, sex.value, weight.value)
    value = int(round_half_up(max(raw, 0.0)))
    return Evidence(name=CRCL, label=CRCL_LABEL, value=value, unit="mL/min", effective=creatinine.effective,
                    derived_from=(creatinine, age, sex, weight),
                    note=f"Cockcroft-Gault with actual body weight: {raw:.1f} mL/min"), []


def _formula(creatinine: float, age: float, sex: str, weight: float) -> float:
    raw = (140 - age) * weight / (72 * creatinine)
    return raw * FEMALE_FACTOR if sex == "female" else raw


def unrounded(crcl: Evidence) -> float:
    """The CrCl before rounding, from the evidence it was derived from: an upper bound ("not above 95 mL/min") is
    judged on it, as 95.4 rounds to 95 but is above 95."""
    creatinine, age, sex, weight = (e.value for e in crcl.derived_from)
    return max(_formula(creatinine, age, sex, weight), 0.0)


def crcl_text(crcl: Evidence) -> str:
    """'CrCl 24 mL/min (Cockcroft–Gault, 2026-11-02)': the value and the day of its creatinine."""
    return f"CrCl {crcl.value} mL/min (Cockcroft–Gault{day_of(crcl)})"


def day_of(evidence: Evidence) -> str:
    """', 2026-11-02' for dated evidence, '' otherwise."""
    when = evidence.effective
    if when is None:
        return ""
    return ", " + (when.date() if isinstance(when, datetime) else when).isoformat()
