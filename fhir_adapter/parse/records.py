"""The frozen records a FHIR resource is read into (plain data, no validation; built quickly: see quick_init)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Mapping

from fhir_adapter import codes
from engine.quick_init import quick_init
from fhir_adapter.terminology.drugs import Ingredient

# A Goal whose description reads like an 88-92 % oxygen-saturation target (e.g. "SpO2 target 88-92%").
SPO2_TARGET_TEXT = re.compile(r"\b88\s*(?:%\s*)?(?:-|\u2013|to)\s*92\s*%?", re.IGNORECASE)


@quick_init
@dataclass(frozen=True)
class Coding:
    system: str | None
    code: str | None
    display: str | None = None

    def label(self) -> str:
        """"Display (LOINC 1234-5)" for notes."""
        short = {codes.LOINC: "LOINC", codes.SNOMED: "SNOMED", codes.ICD10CM: "ICD-10-CM",
                 codes.ICD10: "ICD-10", codes.RXNORM: "RxNorm", codes.ATC: "ATC"}.get(self.system or "", self.system)
        head = self.display or self.code or "?"
        return f"{head} ({short} {self.code})" if self.code else head


@quick_init
@dataclass(frozen=True)
class Quantity:
    value: Any
    unit: str | None = None
    system: str | None = None
    code: str | None = None
    comparator: str | None = None

    def as_mapping(self) -> dict:
        return {"value": self.value, "unit": self.unit, "system": self.system, "code": self.code,
                "comparator": self.comparator}


@quick_init
@dataclass(frozen=True)
class Component:
    codes: tuple[Coding, ...]
    concepts: tuple[str, ...]
    quantity: Quantity | None
    absent_reason: str | None
    value_codes: tuple[Coding, ...] = ()
    value_text: str | None = None  # valueString, else valueCodeableConcept.text


@quick_init
@dataclass(frozen=True)
class PatientRecord:
    ref: str
    id: str | None
    full_url: str | None
    gender: str | None
    birth_date: str | None  # raw FHIR date (may be partial: "1970" or "1970-04")
    race_codes: tuple[Coding, ...]
    ethnicity_codes: tuple[Coding, ...]
    raw: Mapping = field(compare=False, repr=False, default_factory=dict)
    deceased: bool = False  # deceasedBoolean true, or a deceasedDateTime (compare deceased_at with the request date)
    deceased_at: date | datetime | None = None


@quick_init
@dataclass(frozen=True)
class ObservationRecord:
    ref: str
    status: str | None
    codes: tuple[Coding, ...]
    concepts: tuple[str, ...]
    effective: date | datetime | None  # effective[x], falling back to issued
    quantity: Quantity | None
    value_codes: tuple[Coding, ...]
    components: tuple[Component, ...]
    absent_reason: str | None
    subject: str | None
    raw: Mapping = field(compare=False, repr=False, default_factory=dict)
    value_text: str | None = None  # valueString, else valueCodeableConcept.text


@quick_init
@dataclass(frozen=True)
class ConditionRecord:
    ref: str
    codes: tuple[Coding, ...]
    concepts: tuple[str, ...]
    clinical_status: str | None
    verification_status: str | None
    onset: date | datetime | None  # onset[x], falling back to recordedDate
    abated: bool
    subject: str | None
    raw: Mapping = field(compare=False, repr=False, default_factory=dict)


@quick_init
@dataclass(frozen=True)
class Dosage:
    """The first dosage instruction: amount per dose and how often, as written (no inference beyond arithmetic)."""

    text: str | None = None
    dose: Quantity | None = None  # doseAndRate[0].doseQuantity (or the low end of doseRange)
    per_day: float | None = None  # administrations per day from timing.repeat or timing.code
    as_needed: bool = False


@quick_init
@dataclass(frozen=True)
class MedicationRecord:
    ref: str
    resource_type: str  # MedicationRequest | MedicationStatement
    status: str | None
    intent: str | None
    do_not_perform: bool
    codes: tuple[Coding, ...]
    text: str | None
    concepts: tuple[str, ...]  # value sets and drug classes matched by code
    text_matches: Mapping[str, str]  # concept -> matched ingredient name (fallback, only if no code matched)
    date: date | datetime | None  # authoredOn / effective start / dateAsserted
    period_end: date | datetime | None  # MedicationStatement.effectivePeriod.end
    subject: str | None
    raw: Mapping = field(compare=False, repr=False, default_factory=dict)
    ingredients: tuple[Ingredient, ...] = ()  # from the code (drug knowledge), else from the text
    classes: tuple[str, ...] = ()  # drug classes of the ingredients, parents included
    dosage: Dosage | None = None
    medication_source: str = "code"  # "code" | "text": how the ingredients were recognised
    unresolved_reference: str | None = None  # medicationReference to a Medication that is not in the input

    def matched_concepts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.concepts, *self.text_matches]))

    @property
    def name(self) -> str:
        """What a clinician would read: the coding display or text, else the ingredients."""
        for c in self.codes:
            if c.display:
                return c.display
        return self.text or " / ".join(i.name for i in self.ingredients) or "medication"

    def daily_dose_mg(self, ingredient: Ingredient) -> tuple[float | None, str | None]:
        """Total daily dose of one ingredient in mg, and how it was worked out (None when it can't be)."""
        dosage = self.dosage
        per_day = dosage.per_day if dosage else None
        dose = dosage.dose if dosage else None
        if dose is not None and isinstance(dose.value, (int, float)) and not isinstance(dose.value, bool):
            unit = (dose.code or dose.unit or "").strip().lower()
            if unit in ("mg", "milligram", "milligrams"):
                if len(self.ingredients) > 1:
                    return None, "dose in mg of a combination product"
                amount = float(dose.value)
            elif ingredient.strength_mg is not None and unit in ("", "1", "{tbl}", "tablet", "tablets", "tab",
                                                                  "{tablet}", "{capsule}", "capsule", "capsules"):
                amount = float(dose.value) * ingredient.strength_mg
            else:
                return None, f"dose unit '{unit or 'none'}' not convertible to mg"
            if per_day is None:
                return amount, "frequency not recorded: taken as once daily"
            return amount * per_day, None
        if ingredient.strength_mg is not None:
            if per_day is None:
                return ingredient.strength_mg, "dose not recorded: taken as one unit once daily"
            return ingredient.strength_mg * per_day, "amount per dose not recorded: taken as one unit"
        return None, "strength and dose not recorded"


@quick_init
@dataclass(frozen=True)
class AllergyRecord:
    """AllergyIntolerance: the substance (coded, with ingredients and classes when a drug) and its status."""

    ref: str
    clinical_status: str | None
    verification_status: str | None
    type: str | None  # allergy | intolerance
    category: tuple[str, ...]
    criticality: str | None
    codes: tuple[Coding, ...]
    text: str | None
    concepts: tuple[str, ...]  # value sets matched by the substance code (e.g. statin_intolerance)
    ingredients: tuple[Ingredient, ...]
    classes: tuple[str, ...]
    reactions: tuple[str, ...]  # manifestation displays / text
    recorded: date | datetime | None  # onset[x], else recordedDate
    subject: str | None  # AllergyIntolerance.patient
    raw: Mapping = field(compare=False, repr=False, default_factory=dict)

    @property
    def substance(self) -> str:
        for c in self.codes:
            if c.display:
                return c.display
        return self.text or " / ".join(i.name for i in self.ingredients) or "substance"


@quick_init
@dataclass(frozen=True)
class ProcedureRecord:
    ref: str
    status: str | None
    codes: tuple[Coding, ...]
    concepts: tuple[str, ...]
    performed: date | datetime | None  # performedDateTime, else performedPeriod end / start
    subject: str | None
    raw: Mapping = field(compare=False, repr=False, default_factory=dict)


@quick_init
@dataclass(frozen=True)
class RelativeCondition:
    codes: tuple[Coding, ...]
    concepts: tuple[str, ...]


@quick_init
@dataclass(frozen=True)
class FamilyHistoryRecord:
    ref: str
    status: str | None
    relationship: tuple[Coding, ...]
    relationship_concepts: tuple[str, ...]  # family_first_degree / family_second_degree
    relationship_text: str | None
    conditions: tuple[RelativeCondition, ...]
    date: date | datetime | None
    subject: str | None  # FamilyMemberHistory.patient
    raw: Mapping = field(compare=False, repr=False, default_factory=dict)

    @property
    def concepts(self) -> tuple[str, ...]:
        out: list[str] = []
        for cond in self.conditions:
            out.extend(c for c in cond.concepts if c not in out)
        return tuple(out)


@quick_init
@dataclass(frozen=True)
class GoalTarget:
    measure: tuple[Coding, ...]
    concepts: tuple[str, ...]
    low: Quantity | None  # detailRange.low
    high: Quantity | None  # detailRange.high
    quantity: Quantity | None  # detailQuantity


@quick_init
@dataclass(frozen=True)
class GoalRecord:
    ref: str
    lifecycle_status: str | None
    description: str | None
    targets: tuple[GoalTarget, ...]
    start: date | datetime | None  # startDate, else statusDate
    subject: str | None
    raw: Mapping = field(compare=False, repr=False, default_factory=dict)

    @property
    def concepts(self) -> tuple[str, ...]:
        # "spo2_goal": a Goal this adapter reads (an oxygen-saturation target by measure code or by text).
        if any("spo2" in t.concepts for t in self.targets) or (self.description and
                                                               SPO2_TARGET_TEXT.search(self.description)):
            return ("spo2_goal",)
        return ()


Record = (PatientRecord | ObservationRecord | ConditionRecord | MedicationRecord | ProcedureRecord
          | FamilyHistoryRecord | GoalRecord | AllergyRecord)
