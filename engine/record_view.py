"""The whole record of one patient as plain data, for answering questions about it.

The FeatureSet holds what the scores read (the latest usable value of each feature inside its look-back window).
A clinician's question needs more: every result of a test however old, every problem-list entry, procedure and
immunization, and the medication list with what is *not* active. The adapter (``fhir_adapter.record_view``) reads
FHIR into these records; nothing here knows FHIR. Every entry keeps the reference of the resource it came from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Mapping

from engine.clinical_record import AllergyEntry, MedicationEntry
from engine.inputs import FeatureSet


@dataclass(frozen=True)
class RecordCode:
    system: str | None
    code: str | None
    display: str | None = None

    def label(self) -> str:
        """"LOINC 4548-4" for answers (the system's short name when known)."""
        short = _SHORT_SYSTEMS.get(self.system or "", self.system or "no system")
        return f"{short} {self.code}" if self.code else short


_SHORT_SYSTEMS = {
    "http://loinc.org": "LOINC", "http://snomed.info/sct": "SNOMED", "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10", "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://hl7.org/fhir/sid/cvx": "CVX",
}


@dataclass(frozen=True)
class Measurement:
    """One Observation, or one component of a panel (then ``panel`` names the Observation's code)."""

    source: str  # "Observation/12" (a component has the reference of its Observation)
    name: str  # the display or text of its code, as recorded
    codes: tuple[RecordCode, ...]
    concepts: tuple[str, ...]  # terminology value sets of its codes
    effective: date | datetime | None
    status: str | None
    value: float | None = None
    unit: str | None = None  # as recorded (the Quantity's unit text, else its code)
    comparator: str | None = None
    answer: str | None = None  # a coded or text value ("Ex-smoker")
    answer_concepts: tuple[str, ...] = ()  # value sets of the coded value (e.g. smoker_former)
    components: tuple["Measurement", ...] = ()
    panel: str | None = None
    converted: str | None = None  # the value in the feature's canonical unit when it differs ("7.0 %")


@dataclass(frozen=True)
class RecordCondition:
    source: str
    name: str
    codes: tuple[RecordCode, ...]
    concepts: tuple[str, ...]
    clinical_status: str | None
    verification_status: str | None
    onset: date | datetime | None
    abated: bool


@dataclass(frozen=True)
class RecordProcedure:
    source: str
    name: str
    codes: tuple[RecordCode, ...]
    concepts: tuple[str, ...]
    status: str | None
    performed: date | datetime | None


@dataclass(frozen=True)
class RecordImmunization:
    source: str
    name: str
    codes: tuple[RecordCode, ...]
    status: str | None  # completed | not-done | entered-in-error
    occurred: date | datetime | None


@dataclass(frozen=True)
class RecordView:
    """Everything read for one patient at ``as_of``; ``searched`` counts the resources of each type read."""

    as_of: date
    age_years: int | None = None
    sex: str | None = None
    patient_source: str | None = None  # "Patient/12"
    birth_date: str | None = None  # as recorded (may be partial: "1961" or "1961-03")
    measurements: tuple[Measurement, ...] = ()
    conditions: tuple[RecordCondition, ...] = ()
    medications: tuple[MedicationEntry, ...] = ()
    allergies: tuple[AllergyEntry, ...] = ()
    procedures: tuple[RecordProcedure, ...] = ()
    immunizations: tuple[RecordImmunization, ...] = ()
    searched: Mapping[str, int] = field(default_factory=dict)
    features: FeatureSet | None = None  # what the calculators read, for answers that combine a guideline and a score

    def searched_text(self, *resource_types: str) -> str:
        """"12 MedicationRequest, 3 MedicationStatement" (types with none read are shown as 0)."""
        return ", ".join(f"{self.searched.get(t, 0)} {t}" for t in resource_types)
