"""FHIR R4 -> engine.record_view.RecordView: every entry of one patient's record, for questions about it.

Unlike the feature pipeline, which keeps only the candidates of the features it builds, this reads every
Observation, Condition, MedicationRequest / MedicationStatement, AllergyIntolerance, Procedure and Immunization of
the patient, whatever its code, so that an answer can say what it searched ("searched 12 MedicationRequest") and
find a test the features do not read. The resource readers are the parser's (``fhir_adapter.parse``); resources
about another patient are skipped the same way, and entered-in-error entries are never read.
"""
from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any, Iterable, Mapping

from engine.clinical_record import AllergyEntry
from engine.feature_catalog import FEATURES, QUANTITY, display_value
from engine.record_view import (
    Measurement,
    RecordCode,
    RecordCondition,
    RecordImmunization,
    RecordProcedure,
    RecordView,
)
from fhir_adapter import units
from fhir_adapter.features.extract import extract_features
from fhir_adapter.features.medications import medication_entry
from fhir_adapter.parse import ParsedRecord, iter_entries, parse_condition, parse_medication, parse_observation
from fhir_adapter.parse.datatypes import coding_concepts, read_codings
from fhir_adapter.parse.dates import parse_fhir_datetime
from fhir_adapter.parse.json_values import dict_or_empty, nonblank_str
from fhir_adapter.parse.patient_scope import choose_patient, subject_problem
from fhir_adapter.parse.records import Coding, ObservationRecord, Quantity
from fhir_adapter.parse.references import resource_ref, subject_ref
from fhir_adapter.parse.resources import parse_allergy, parse_procedure

RESOURCE_TYPES = ("Observation", "Condition", "MedicationRequest", "MedicationStatement", "AllergyIntolerance",
                  "Procedure", "Immunization")
_NOT_READ_STATUS = frozenset({"entered-in-error", "cancelled"})
_DROPPED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
# Value set -> (canonical unit, unit-conversion kind) of the quantity features, for "53 mmol/mol (7.0 %)".
_CANONICAL = {vs: (spec.name, spec.unit, spec.quantity_kind) for spec in FEATURES
              if spec.kind == QUANTITY and spec.quantity_kind for vs in spec.value_sets}


def read_record_view(data: object, *, as_of: date, patient_id: str | None = None,
                     with_features: bool = True) -> RecordView:
    """Read one patient's record from a resource, a Bundle or a list of them. Never raises on bad input."""
    if isinstance(data, Mapping) and "resourceType" not in data:
        data = list(data.values())  # a CDS Hooks prefetch object
    entries: list[tuple[Mapping, str | None]] = []
    patients: list[tuple[Mapping, str | None]] = []
    medication_resources: dict[str, Mapping] = {}
    for resource, full_url in iter_entries(data):
        rtype = resource.get("resourceType")
        if rtype == "Patient":
            patients.append((resource, full_url))
        elif rtype == "Medication":
            medication_resources[resource_ref(resource, full_url)] = resource
            if full_url:
                medication_resources[full_url] = resource
        elif rtype in RESOURCE_TYPES:
            entries.append((resource, full_url))
    chosen = ParsedRecord()
    allowed = choose_patient(chosen, patients, patient_id, "none")
    out: dict[str, list] = {"measurements": [], "conditions": [], "medications": [], "allergies": [],
                            "procedures": [], "immunizations": []}
    searched = {t: 0 for t in RESOURCE_TYPES}
    seen: set[str] = set()
    for resource, full_url in entries:
        ref = resource_ref(resource, full_url)
        if ref in seen:
            continue
        seen.add(ref)
        if allowed is not None and subject_problem(_patient_of(resource), allowed):
            continue
        rtype = resource["resourceType"]
        searched[rtype] += 1
        try:
            _read(resource, full_url, as_of, medication_resources, out)
        except Exception:  # noqa: BLE001 - a malformed resource is skipped, never fails the question
            searched[rtype] -= 1
    features = None
    if with_features:
        features = extract_features(data, as_of=as_of, patient_id=patient_id)
    age = features.value("age_years") if features is not None else None
    return RecordView(
        as_of=as_of, age_years=int(age) if isinstance(age, (int, float)) else None,
        sex=features.value("sex") if features is not None else None,
        patient_source=chosen.patient.ref if chosen.patient else None,
        birth_date=chosen.patient.birth_date if chosen.patient else None,
        measurements=tuple(out["measurements"]), conditions=tuple(out["conditions"]),
        medications=tuple(out["medications"]), allergies=tuple(out["allergies"]),
        procedures=tuple(out["procedures"]), immunizations=tuple(out["immunizations"]),
        searched=searched, features=features)


def _patient_of(resource: Mapping) -> str | None:
    if resource.get("resourceType") in ("AllergyIntolerance", "Immunization"):
        return nonblank_str(dict_or_empty(resource.get("patient")).get("reference"))
    return subject_ref(resource)


def _read(resource: Mapping, full_url: str | None, as_of: date, medications: Mapping[str, Mapping],
          out: dict[str, list]) -> None:
    rtype = resource["resourceType"]
    if rtype == "Observation":
        record = parse_observation(resource, full_url)
        if record.status not in _NOT_READ_STATUS:
            out["measurements"].append(_measurement(record))
    elif rtype == "Condition":
        cond = parse_condition(resource, full_url)
        if cond.verification_status not in _DROPPED_VERIFICATION:
            out["conditions"].append(RecordCondition(
                cond.ref, _name(resource.get("code"), cond.codes, "condition"), _codes(cond.codes), cond.concepts,
                cond.clinical_status, cond.verification_status, cond.onset, cond.abated))
    elif rtype in ("MedicationRequest", "MedicationStatement"):
        entry = medication_entry(parse_medication(resource, full_url, medications), as_of)
        if entry is not None:
            out["medications"].append(entry)
    elif rtype == "AllergyIntolerance":
        allergy = parse_allergy(resource, full_url)
        if allergy.verification_status not in _DROPPED_VERIFICATION:
            out["allergies"].append(AllergyEntry(
                source=allergy.ref, substance=allergy.substance, ingredients=tuple(i.name for i in allergy.ingredients),
                classes=allergy.classes, concepts=allergy.concepts, type=allergy.type,
                criticality=allergy.criticality, reactions=allergy.reactions, clinical_status=allergy.clinical_status,
                verification_status=allergy.verification_status, recorded=allergy.recorded,
                codes=tuple((c.system, c.code) for c in allergy.codes if c.code), category=allergy.category))
    elif rtype == "Procedure":
        proc = parse_procedure(resource, full_url)
        if proc.status not in ("entered-in-error",):
            out["procedures"].append(RecordProcedure(
                proc.ref, _name(resource.get("code"), proc.codes, "procedure"), _codes(proc.codes),
                coding_concepts(proc.codes), proc.status, proc.performed))
    elif rtype == "Immunization":
        status = nonblank_str(resource.get("status"))
        if status != "entered-in-error":
            vaccine = read_codings(resource.get("vaccineCode"))
            out["immunizations"].append(RecordImmunization(
                resource_ref(resource, full_url), _name(resource.get("vaccineCode"), vaccine, "vaccine"),
                _codes(vaccine), status,
                parse_fhir_datetime(resource.get("occurrenceDateTime"))
                or parse_fhir_datetime(resource.get("recorded"))))


def _codes(codings: Iterable[Coding]) -> tuple[RecordCode, ...]:
    return tuple(RecordCode(c.system, c.code, c.display) for c in codings)


def _name(concept: Any, codings: tuple[Coding, ...], fallback: str) -> str:
    text = nonblank_str(dict_or_empty(concept).get("text"))
    return text or next((c.display for c in codings if c.display), None) or next(
        (c.code for c in codings if c.code), fallback)


def _measurement(record: ObservationRecord) -> Measurement:
    name = _name(record.raw.get("code"), record.codes, "observation")
    components = tuple(
        _value_of(record.ref, _name(None, comp.codes, "component"), comp.codes, comp.concepts, record.effective,
                  record.status, comp.quantity, comp.value_codes, comp.value_text, panel=name)
        for comp in record.components)
    measurement = _value_of(record.ref, name, record.codes, record.concepts, record.effective, record.status,
                            record.quantity, record.value_codes, record.value_text)
    return dataclasses.replace(measurement, components=components) if components else measurement


def _value_of(source: str, name: str, codings: tuple[Coding, ...], concepts: tuple[str, ...], effective, status,
              quantity: Quantity | None, value_codes: tuple[Coding, ...], value_text: str | None,
              panel: str | None = None) -> Measurement:
    value = unit = comparator = converted = None
    if quantity is not None and isinstance(quantity.value, (int, float)) and not isinstance(quantity.value, bool):
        value = quantity.value
        unit = quantity.unit or quantity.code
        comparator = quantity.comparator
        converted = _converted(concepts, quantity)
    answer = value_text or next((c.display for c in value_codes if c.display), None) or next(
        (c.code for c in value_codes if c.code), None)
    return Measurement(source=source, name=name, codes=_codes(codings), concepts=concepts, effective=effective,
                       status=status, value=value, unit=unit, comparator=comparator, answer=answer,
                       answer_concepts=coding_concepts(value_codes), panel=panel, converted=converted)


def _converted(concepts: tuple[str, ...], quantity: Quantity) -> str | None:
    """The value in the feature's canonical unit, when the recorded unit is another one ("7.0 %")."""
    for concept in concepts:
        if concept not in _CANONICAL:
            continue
        feature, unit, kind = _CANONICAL[concept]
        try:
            result = units.convert_quantity(quantity.as_mapping(), kind)
        except units.UnitError:
            return None
        if result.note is None:
            return None
        return f"{display_value(feature, result.value)} {unit}" if unit else display_value(feature, result.value)
    return None
