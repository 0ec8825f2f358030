"""Builders of order-select / order-sign hook requests as an EHR sends them: a patient, results, problem list,
medication list and allergies as prefetch, and the drafted orders in ``context.draftOrders`` (used by the order-check
tests and benchmarks/bench_order_sign.py)."""
from __future__ import annotations

import uuid
from collections.abc import Iterable

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
PATIENT_ID = "order-patient"
RESULT_DATE = "2026-05-02"


def patient(*, gender: str = "male", birth_date: str = "1946-01-01") -> dict:
    return {"resourceType": "Patient", "id": PATIENT_ID, "gender": gender, "birthDate": birth_date}


def observation(oid: str, loinc: str, display: str, value: float, unit: str, *, when: str = RESULT_DATE) -> dict:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "laboratory" if unit != "kg" else "vital-signs"}]}],
            "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}]},
            "subject": {"reference": f"Patient/{PATIENT_ID}"}, "effectiveDateTime": f"{when}T08:00:00Z",
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}


def creatinine(value: float, when: str = RESULT_DATE) -> dict:
    return observation(f"cr-{when}", "2160-0", "Creatinine [Mass/volume] in Serum or Plasma", value, "mg/dL", when=when)


def weight(kg: float, when: str = RESULT_DATE) -> dict:
    return observation(f"wt-{when}", "29463-7", "Body weight", kg, "kg", when=when)


def egfr(value: float, when: str = RESULT_DATE) -> dict:
    return observation(f"egfr-{when}", "98979-8",
                       "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood by "
                       "Creatinine-based formula (CKD-EPI 2021)", value, "mL/min/{1.73_m2}", when=when)


def condition(cid: str, code: str, display: str, *, onset: str = "2025-01-01") -> dict:
    return {"resourceType": "Condition", "id": cid,
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                               "code": "confirmed"}]},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                      "code": "problem-list-item"}]}],
            "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
            "subject": {"reference": f"Patient/{PATIENT_ID}"}, "onsetDateTime": onset}


def atrial_fibrillation() -> dict:
    return condition("af", "49436004", "Atrial fibrillation")


def pregnancy() -> dict:
    return condition("preg", "77386006", "Pregnancy", onset="2026-03-01")


def medication(mid: str, code: str, display: str, *, amount: float | None = None, unit: str = "mg",
               per_day: int | None = 1, status: str = "active", intent: str = "order",
               resource_type: str = "MedicationRequest") -> dict:
    """An active medication of the list (MedicationRequest by default, as the prefetch gives it)."""
    resource = {"resourceType": resource_type, "id": mid, "status": status,
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": display}],
                                              "text": display},
                "subject": {"reference": f"Patient/{PATIENT_ID}"}}
    if resource_type == "MedicationRequest":
        resource.update({"intent": intent, "authoredOn": "2026-01-10"})
        key = "dosageInstruction"
    else:
        resource["effectivePeriod"] = {"start": "2026-01-10"}
        key = "dosage"
    if amount is not None:
        dosage: dict = {"text": f"{amount:g} {unit}",
                        "doseAndRate": [{"doseQuantity": {"value": amount, "unit": unit, "system": UCUM,
                                                          "code": unit}}]}
        if per_day is not None:
            dosage["timing"] = {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}}
        resource[key] = [dosage]
    return resource


def draft(did: str, code: str, display: str, *, amount: float | None = None, unit: str = "mg",
          per_day: int | None = 1, route: str | None = "Oral route", reason: tuple[str, str] | None = None,
          subject: str | None = PATIENT_ID) -> dict:
    """A drafted MedicationRequest (status draft, intent order), as order-select / order-sign send it."""
    resource = medication(did, code, display, amount=amount, unit=unit, per_day=per_day, status="draft")
    resource.pop("authoredOn")
    if subject is None:
        resource.pop("subject")
    else:
        resource["subject"] = {"reference": f"Patient/{subject}"}
    if route and "dosageInstruction" in resource:
        resource["dosageInstruction"][0]["route"] = {"coding": [{"system": SNOMED, "code": "26643006",
                                                                 "display": route}]}
    if reason:
        resource["reasonCode"] = [{"coding": [{"system": SNOMED, "code": reason[0], "display": reason[1]}]}]
    return resource


def allergy(aid: str, *, code: str, system: str = RXNORM, display: str, criticality: str | None = None,
            reaction: str | None = None, verification: str = "confirmed", clinical: str = "active") -> dict:
    resource = {"resourceType": "AllergyIntolerance", "id": aid,
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                         "allergyintolerance-clinical", "code": clinical}]},
                "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                             "allergyintolerance-verification",
                                                   "code": verification}]},
                "type": "allergy", "category": ["medication"],
                "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
                "patient": {"reference": f"Patient/{PATIENT_ID}"}, "recordedDate": "2019-04-01"}
    if criticality:
        resource["criticality"] = criticality
    if reaction:
        resource["reaction"] = [{"manifestation": [{"text": reaction}]}]
    return resource


def bundle(resources: Iterable[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def order_request(hook: str, drafts: list[dict], *, selections: list[str] | None = None, record: Iterable[dict] = (),
                  pat: dict | None = None, hook_instance: str | None = None) -> dict:
    """A complete order-select / order-sign request; ``record`` is sorted into the service's prefetch keys (every key
    present, empty when the record has nothing of its kind)."""
    record = list(record)
    by_type = {t: [r for r in record if r["resourceType"] == t] for t in
               ("Observation", "Condition", "MedicationRequest", "MedicationStatement", "AllergyIntolerance")}
    context: dict = {"userId": "Practitioner/dr-order", "patientId": PATIENT_ID,
                     "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                     "entry": [{"resource": d} for d in drafts]}}
    if hook == "order-select":
        context["selections"] = selections if selections is not None else [
            f"{d['resourceType']}/{d['id']}" for d in drafts[:1]]
    return {"hookInstance": hook_instance or str(uuid.uuid4()), "hook": hook, "context": context,
            "prefetch": {"patient": pat or patient(),
                         "observations": bundle(by_type["Observation"]),
                         "conditions": bundle(by_type["Condition"]),
                         "medications": bundle(by_type["MedicationRequest"]),
                         "medication_statements": bundle(by_type["MedicationStatement"]),
                         "allergies": bundle(by_type["AllergyIntolerance"])}}
