"""Kidney function for drug dosing: the latest eGFR, or creatinine clearance by Cockcroft-Gault where a label defines
its rule on CrCl (the equation: engine/calculators/cockcroft_gault.py, which the AF anticoagulation rule reads too).

When CrCl cannot be computed (no weight, most often) the eGFR stands in for it and the card says so; a rule on eGFR
never uses CrCl. Either value is rounded half up to a whole number before any threshold is applied, so that the
number on the card is the number the rule saw ("CrCl 30 mL/min" is never treated as below 30).
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.calculators import cockcroft_gault
from engine.calculators.cockcroft_gault import day_of
from engine.calculators.common import positive_number, round_half_up
from engine.finding import Evidence, MissingInput
from engine.inputs import FeatureSet


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
    crcl, missing = cockcroft_gault.creatinine_clearance(features)
    if crcl is None:
        return None, missing
    return KidneyFunction("crcl", crcl.value, crcl, cockcroft_gault.crcl_text(crcl)), []


def _egfr(features: FeatureSet, substitute_note: str | None) -> tuple[KidneyFunction | None, list[MissingInput]]:
    egfr, missing = positive_number(features, "egfr_mlmin173m2")
    if egfr is None:
        return None, [missing]
    value = int(round_half_up(egfr.value))
    method = "CKD-EPI 2021" if egfr.derived_from else "reported"
    text = f"eGFR {value} mL/min/1.73m2 ({method}{day_of(egfr)})"
    if substitute_note:
        text += " in place of CrCl"
    return KidneyFunction("egfr", value, egfr, text, substitute_note), []
