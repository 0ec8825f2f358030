"""The plain readers the fast ones in fhir_adapter/parse/resources.py must equal, word for word as they were before
the fast readings were written: the tests' reference (tests/adapter/test_parse.py), never called by the service."""
from __future__ import annotations

from datetime import date, datetime
from typing import Mapping

from fhir_adapter import codes
from fhir_adapter.parse.datatypes import coding_concepts, first_code, read_coded, read_codings, read_quantity
from fhir_adapter.parse.dates import parse_fhir_datetime
from fhir_adapter.parse.json_values import dict_or_empty, list_or_empty, nonblank_str
from fhir_adapter.parse.records import Component, ConditionRecord, MedicationRecord, ObservationRecord, ProcedureRecord
from fhir_adapter.parse.references import resource_ref, subject_ref
from fhir_adapter.parse.resources import (
    _CLASS_CONCEPTS,
    _MEDICATION_CONCEPTS,
    _PROCEDURE_CONCEPTS,
    _ingredients,
    _resolve_medication,
    _value_text,
    read_dosage,
)
from fhir_adapter.terminology import drugs


def reference_observation_record(resource: Mapping, full_url: str | None,
                                 effective: date | datetime | None) -> ObservationRecord:
    """:func:`observation_record` written plainly, element by element: what the fast reading must equal. Only a
    reference for the tests (``tests/adapter/test_parse.py``): the service never calls it."""
    components = []
    for comp in list_or_empty(resource.get("component")):
        comp = dict_or_empty(comp)
        comp_codes, comp_concepts = read_coded(comp.get("code"))
        components.append(Component(comp_codes, comp_concepts, read_quantity(comp.get("valueQuantity")),
                                    first_code(comp.get("dataAbsentReason")),
                                    read_codings(comp.get("valueCodeableConcept")), _value_text(comp)))
    obs_codes, obs_concepts = read_coded(resource.get("code"))
    return ObservationRecord(
        ref=resource_ref(resource, full_url),
        status=nonblank_str(resource.get("status")),
        codes=obs_codes,
        concepts=obs_concepts,
        effective=effective,
        quantity=read_quantity(resource.get("valueQuantity")),
        value_codes=read_codings(resource.get("valueCodeableConcept")),
        components=tuple(components),
        absent_reason=first_code(resource.get("dataAbsentReason")),
        subject=subject_ref(resource),
        raw=resource,
        value_text=_value_text(resource),
    )


def reference_parse_condition(resource: Mapping, full_url: str | None = None) -> ConditionRecord:
    """:func:`parse_condition` written plainly: what the fast reading must equal (only for the tests)."""
    cond_codes = read_codings(resource.get("code"))
    onset = (parse_fhir_datetime(resource.get("onsetDateTime"))
             or parse_fhir_datetime(dict_or_empty(resource.get("onsetPeriod")).get("start"))
             or parse_fhir_datetime(resource.get("recordedDate")))
    abated = any(k.startswith("abatement") and resource.get(k) not in (None, False) for k in resource)
    return ConditionRecord(
        ref=resource_ref(resource, full_url),
        codes=cond_codes,
        concepts=coding_concepts(cond_codes),
        clinical_status=first_code(resource.get("clinicalStatus")),
        verification_status=first_code(resource.get("verificationStatus")),
        onset=onset,
        abated=abated,
        subject=subject_ref(resource),
        raw=resource,
    )


def reference_parse_medication(resource: Mapping, full_url: str | None = None,
                               medications: Mapping[str, Mapping] | None = None) -> MedicationRecord:
    """:func:`parse_medication` written plainly: what the fast reading must equal (only for the tests)."""
    concept_json: Mapping = dict_or_empty(resource.get("medicationCodeableConcept"))
    unresolved = None
    reference_display = None
    if not concept_json:
        reference = dict_or_empty(resource.get("medicationReference"))
        ref = nonblank_str(reference.get("reference"))
        med = _resolve_medication(ref, resource, medications or {})
        concept_json = dict_or_empty(med.get("code")) if med else {}
        if med is None and ref:
            unresolved = ref
            reference_display = nonblank_str(reference.get("display"))
    med_codes = read_codings(concept_json)
    # A reference the input does not resolve may still name the drug in its display ("Lisinopril 10 mg tablet").
    text = nonblank_str(concept_json.get("text")) or reference_display
    ingredients, source = _ingredients(med_codes, text)
    classes = tuple(sorted(drugs.classes_of(ingredients)))
    concepts = tuple(dict.fromkeys([*(c for c in coding_concepts(med_codes) if c in _MEDICATION_CONCEPTS),
                                    *(_CLASS_CONCEPTS[c] for c in classes if c in _CLASS_CONCEPTS and source == "code")]))
    text_matches: dict[str, str] = {}
    if not concepts:
        # Documented fallback: ingredient/brand names in the text or coding displays.
        blob = " ".join(filter(None, [text, *(c.display for c in med_codes)]))
        text_matches = codes.medication_concepts_by_text(blob)
        for ingredient in ingredients:
            for cls in drugs.classes_of((ingredient,)):
                if cls in _CLASS_CONCEPTS:
                    text_matches.setdefault(_CLASS_CONCEPTS[cls], ingredient.name)
    rtype = nonblank_str(resource.get("resourceType")) or "MedicationRequest"
    period = dict_or_empty(resource.get("effectivePeriod"))
    when = (parse_fhir_datetime(resource.get("authoredOn"))
            or parse_fhir_datetime(resource.get("effectiveDateTime"))
            or parse_fhir_datetime(period.get("start"))
            or parse_fhir_datetime(resource.get("dateAsserted")))
    dosage_key = "dosageInstruction" if rtype == "MedicationRequest" else "dosage"
    return MedicationRecord(
        ref=resource_ref(resource, full_url),
        resource_type=rtype,
        status=nonblank_str(resource.get("status")),
        intent=nonblank_str(resource.get("intent")),
        do_not_perform=resource.get("doNotPerform") is True,
        codes=med_codes,
        text=text,
        concepts=concepts,
        text_matches=text_matches,
        date=when,
        period_end=parse_fhir_datetime(period.get("end")),
        subject=subject_ref(resource),
        raw=resource,
        ingredients=ingredients,
        classes=classes,
        dosage=read_dosage(list_or_empty(resource.get(dosage_key))),
        medication_source=source,
        unresolved_reference=unresolved,
    )


def reference_parse_procedure(resource: Mapping, full_url: str | None = None) -> ProcedureRecord:
    """:func:`parse_procedure` written plainly: what the fast reading must equal (only for the tests)."""
    proc_codes = read_codings(resource.get("code"))
    period = dict_or_empty(resource.get("performedPeriod"))
    performed = (parse_fhir_datetime(resource.get("performedDateTime"))
                 or parse_fhir_datetime(period.get("end")) or parse_fhir_datetime(period.get("start")))
    return ProcedureRecord(
        ref=resource_ref(resource, full_url),
        status=nonblank_str(resource.get("status")),
        codes=proc_codes,
        concepts=tuple(c for c in coding_concepts(proc_codes) if c in _PROCEDURE_CONCEPTS),
        performed=performed,
        subject=subject_ref(resource),
        raw=resource,
    )
