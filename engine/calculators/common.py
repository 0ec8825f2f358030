"""Small helpers shared by the calculators: data loading, number checks, rounding, draft lab orders.

Nothing clinical lives here: every threshold and coefficient stays in the calculator's own data file.
"""
from __future__ import annotations

import json
import math
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any, Iterable

from engine.finding import Action, Evidence, MissingInput
from engine.inputs import FeatureSet


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


def sex_of(features: FeatureSet) -> tuple[Evidence | None, MissingInput | None]:
    evidence = features.get("sex")
    if evidence is None:
        return None, features.missing_reason("sex")
    if evidence.value not in ("female", "male"):
        return None, MissingInput("sex", evidence.label, "needs sex recorded as female or male")
    return evidence, None


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


def lab_order_action(*, label: str, loinc: str, display: str, text: str, reason: str) -> Action:
    """A draft FHIR R4 ServiceRequest for one laboratory test.

    As in ``pce.lipid_panel_action``, ``subject`` is deliberately absent: the service layer adds
    ``{"reference": "Patient/<id>"}`` before the card leaves the server.
    """
    return Action(
        label=label,
        description=reason,
        resource={
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "proposal",
            "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "108252007",
                                      "display": "Laboratory procedure"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc, "display": display}], "text": text},
            "reasonCode": [{"text": reason}],
        },
    )


def uacr_action(reason: str) -> Action:
    # LOINC 9318-7 "Albumin/Creatinine [Mass Ratio] in Urine": the ratio in mg/g the KDIGO A categories use.
    return lab_order_action(label="Order urine albumin-to-creatinine ratio", loinc="9318-7",
                            display="Albumin/Creatinine [Mass Ratio] in Urine",
                            text="Urine albumin-to-creatinine ratio (UACR)", reason=reason)


def cystatin_c_action(reason: str) -> Action:
    # LOINC 33863-2 "Cystatin C [Mass/volume] in Serum or Plasma".
    return lab_order_action(label="Order serum cystatin C", loinc="33863-2",
                            display="Cystatin C [Mass/volume] in Serum or Plasma", text="Cystatin C", reason=reason)


def creatinine_action(reason: str) -> Action:
    # LOINC 2160-0 "Creatinine [Mass/volume] in Serum or Plasma".
    return lab_order_action(label="Order serum creatinine (eGFR)", loinc="2160-0",
                            display="Creatinine [Mass/volume] in Serum or Plasma", text="Serum creatinine with eGFR",
                            reason=reason)


def hba1c_action(reason: str) -> Action:
    # LOINC 4548-4 "Hemoglobin A1c/Hemoglobin.total in Blood".
    return lab_order_action(label="Order HbA1c", loinc="4548-4", display="Hemoglobin A1c/Hemoglobin.total in Blood",
                            text="HbA1c", reason=reason)
