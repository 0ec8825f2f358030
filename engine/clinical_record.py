"""The medication list and allergies as the engines see them: plain data, no FHIR.

Scores read booleans ("on a statin"); treatment and safety rules need the list itself: which ingredient, which
class, what daily dose and intensity, since when, from which resource; and which substances the patient reacts to.
The adapter fills ``FeatureSet.medications`` and ``FeatureSet.allergies`` with these entries.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class MedicationEntry:
    source: str  # "MedicationStatement/12"
    resource_type: str  # MedicationRequest | MedicationStatement
    name: str  # what the record calls it ("atorvastatin 40 MG Oral Tablet")
    ingredients: tuple[str, ...]  # lower-case ingredient names from the drug knowledge
    classes: tuple[str, ...]  # drug classes, parents included ("statin", "ace_inhibitor", "antihypertensive")
    active: bool  # currently taken: status active, not a proposal / plan, not ended, not in the future
    status: str | None
    start: date | datetime | None = None
    end: date | datetime | None = None
    dose: str | None = None  # "2 tablet, 1 per day" or the dosage text
    daily_dose_mg: float | None = None  # of the single ingredient (None for combinations without per-ingredient dose)
    statin_intensity: str | None = None  # "high" | "moderate" | "low" (2018 AHA/ACC Table 3), statins only
    note: str | None = None  # assumptions made (e.g. "frequency not recorded: taken as once daily")
    recognised_by: str = "code"  # "code" | "text"
    # Why it is given, as recorded (reasonReference / reasonCode): "Condition/7", "Gout"; and the reason codes.
    reasons: tuple[str, ...] = ()
    reason_codes: tuple[tuple[str | None, str], ...] = ()

    def has_class(self, cls: str) -> bool:
        return cls in self.classes


@dataclass(frozen=True)
class AllergyEntry:
    source: str  # "AllergyIntolerance/3"
    substance: str
    ingredients: tuple[str, ...]
    classes: tuple[str, ...]
    concepts: tuple[str, ...]  # terminology value sets of the substance (e.g. "statin_intolerance")
    type: str | None  # allergy | intolerance
    criticality: str | None
    reactions: tuple[str, ...]
    clinical_status: str | None
    verification_status: str | None
    recorded: date | datetime | None = None
    codes: tuple[tuple[str | None, str], ...] = ()  # (system, code) of the substance, e.g. "No known drug allergy"
    category: tuple[str, ...] = ()  # food | medication | environment | biologic
