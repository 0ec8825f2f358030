"""Drafted orders (CDS Hooks order-select / order-sign ``context.draftOrders``) → ``engine.clinical_record.DraftOrder``.

The drafts are read with the same readers as the medication list (drug knowledge by RxNorm code, else by name;
dosage as written), but they become their own records: a drafted drug is not a drug the patient takes, so it never
enters ``FeatureSet.medications``. A draft that names another patient is left out and reported; one that names no
patient is kept (the EHR sends the drafts of the patient in context, and a draft may not have its subject yet).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.clinical_record import DraftDose, DraftOrder
from engine.finding import InputProblem
from fhir_adapter.codes import CONDITION_CONCEPTS
from fhir_adapter.parse import iter_entries, parse_medication, resource_ref
from fhir_adapter.parse.datatypes import coding_concepts, read_codings
from fhir_adapter.parse.json_values import dict_or_empty, list_or_empty, nonblank_str
from fhir_adapter.parse.patient_scope import subject_problem
from fhir_adapter.parse.records import MedicationRecord

_MEDICATION_TYPES = frozenset({"MedicationRequest"})
_COUNT_UNITS = frozenset({"", "1", "{tbl}", "tablet", "tablets", "tab", "{tablet}", "{capsule}", "capsule", "capsules",
                          "{cap}", "cap"})
_CONDITIONS = frozenset(CONDITION_CONCEPTS)


def read_draft_orders(draft_orders: Any, *, patient_id: str | None,
                      selections: Iterable[str] | None = None) -> tuple[tuple[DraftOrder, ...], list[InputProblem]]:
    """The drafts of ``draft_orders`` (a Bundle) about ``patient_id``, and the problems met.

    ``selections``: the relative references of the drafts this call is about (order-select); None: every draft
    (order-sign). Medications a draft refers to by ``medicationReference`` are resolved from the same Bundle or the
    draft's contained resources."""
    problems: list[InputProblem] = []
    entries = list(iter_entries(draft_orders, problems)) if draft_orders is not None else []
    medications: dict[str, Mapping] = {}
    for resource, full_url in entries:
        if resource.get("resourceType") == "Medication":
            medications[resource_ref(resource, full_url)] = resource
            if full_url:
                medications[full_url] = resource
    allowed = {f"Patient/{patient_id}", f"urn:uuid:{patient_id}"} if patient_id else None
    chosen = set(selections) if selections is not None else None
    drafts: list[DraftOrder] = []
    seen: set[str] = set()
    for resource, full_url in entries:
        if resource.get("resourceType") == "Medication":
            continue
        reference = resource_ref(resource, full_url)
        if reference in seen:
            continue
        seen.add(reference)
        subject = _patient_reference(resource)
        if allowed is not None and subject is not None and subject_problem(subject, allowed) is not None:
            problems.append(InputProblem(reference, None, "drafted order for a different patient than the request; "
                                                          "not checked"))
            continue
        try:
            drafts.append(_draft(resource, reference, medications, selected=chosen is None or reference in chosen))
        except Exception as exc:  # noqa: BLE001 - one malformed draft must not fail the hook
            problems.append(InputProblem(reference, None, f"drafted order could not be read ({type(exc).__name__}); "
                                                          "not checked"))
    return tuple(drafts), problems


def _draft(resource: Mapping, reference: str, medications: Mapping[str, Mapping], *, selected: bool) -> DraftOrder:
    rtype = str(resource.get("resourceType"))
    reasons = tuple(c for concept in list_or_empty(resource.get("reasonCode"))
                    for c in coding_concepts(read_codings(concept)) if c in _CONDITIONS)
    common = dict(reference=reference, resource_type=rtype, selected=selected,
                  status=nonblank_str(resource.get("status")), intent=nonblank_str(resource.get("intent")),
                  has_reason=bool(list_or_empty(resource.get("reasonCode")) or list_or_empty(resource.get("reasonReference"))),
                  reason_concepts=tuple(dict.fromkeys(reasons)))
    if rtype in _MEDICATION_TYPES:
        record = parse_medication(resource, None, medications)
        return DraftOrder(name=record.name, codes=_pairs(record.codes), ingredients=tuple(i.name for i in record.ingredients),
                          ingredient_rxcuis=tuple(i.rxcui for i in record.ingredients), classes=record.classes,
                          strength_mg=_strength(record), dose=_dose(record), route=_route(resource),
                          recognised_by=record.medication_source, **common)
    concept = dict_or_empty(resource.get("code")) or dict_or_empty(resource.get("medicationCodeableConcept"))
    codings = read_codings(concept)
    name = next((c.display for c in codings if c.display), None) or nonblank_str(concept.get("text")) or rtype
    return DraftOrder(name=name, codes=_pairs(codings), recognised_by="code" if codings else "none", **common)


def _pairs(codings) -> tuple[tuple[str, str], ...]:
    return tuple((c.system, c.code) for c in codings if c.system and c.code)


def _strength(record: MedicationRecord) -> float | None:
    return record.ingredients[0].strength_mg if len(record.ingredients) == 1 else None


def _dose(record: MedicationRecord) -> DraftDose | None:
    dosage = record.dosage
    if dosage is None:
        return None
    amount = unit = None
    if dosage.dose is not None and isinstance(dosage.dose.value, (int, float)) and not isinstance(dosage.dose.value,
                                                                                                  bool):
        amount = float(dosage.dose.value)
        unit = dosage.dose.code or dosage.dose.unit
    amount_mg = daily_mg = None
    note = None
    if len(record.ingredients) == 1 and amount is not None:
        written = (unit or "").strip().lower()
        strength = record.ingredients[0].strength_mg
        if written in ("mg", "milligram", "milligrams"):
            amount_mg = amount
        elif written == "g":
            amount_mg = amount * 1000
        elif written in _COUNT_UNITS and strength is not None:
            amount_mg = amount * strength
        else:
            note = f"dose unit '{written or 'none'}' not convertible to mg"
        if amount_mg is not None:
            if dosage.per_day is not None:
                daily_mg = amount_mg * dosage.per_day
            else:
                note = "frequency not recorded"
    elif len(record.ingredients) > 1:
        note = "combination product: no single-ingredient dose"
    return DraftDose(text=dosage.text, amount=amount, unit=unit, per_day=dosage.per_day, amount_mg=amount_mg,
                     daily_mg=daily_mg, as_needed=dosage.as_needed, note=note)


def _route(resource: Mapping) -> str | None:
    first = dict_or_empty((list_or_empty(resource.get("dosageInstruction")) or [{}])[0])
    route = dict_or_empty(first.get("route"))
    text = nonblank_str(route.get("text"))
    if text:
        return text.lower()
    for coding in read_codings(route):
        if coding.display:
            return coding.display.lower()
    return None


def _patient_reference(resource: Mapping) -> str | None:
    for key in ("subject", "patient"):
        reference = nonblank_str(dict_or_empty(resource.get(key)).get("reference"))
        if reference:
            return reference
    return None


def draft_orders_by_reference(draft_orders: Any) -> dict[str, dict]:
    """``{"MedicationRequest/d1": resource}`` for every drafted resource with an id (what a CDS Hooks update action
    sends back whole)."""
    out: dict[str, dict] = {}
    for resource, _full_url in iter_entries(draft_orders):
        if isinstance(resource, dict) and isinstance(resource.get("id"), str):
            out.setdefault(f"{resource['resourceType']}/{resource['id']}", resource)
    return out
