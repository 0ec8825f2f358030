"""FHIR R4B model validation of the elements the adapter reads, and warming the validators up."""
from __future__ import annotations

import importlib
from typing import Any, Mapping

from engine.finding import InputProblem
from fhir_adapter.parse.json_values import list_or_empty
from fhir_adapter.parse.references import resource_ref
from fhir_adapter.parse.resources import US_CORE_ETHNICITY, US_CORE_RACE
from fhir_adapter.parse.valid_shapes import plainly_valid

_MODEL_MODULES = {
    "Patient": "fhir.resources.R4B.patient",
    "Observation": "fhir.resources.R4B.observation",
    "Condition": "fhir.resources.R4B.condition",
    "MedicationRequest": "fhir.resources.R4B.medicationrequest",
    "MedicationStatement": "fhir.resources.R4B.medicationstatement",
    "Procedure": "fhir.resources.R4B.procedure",
    "FamilyMemberHistory": "fhir.resources.R4B.familymemberhistory",
    "Goal": "fhir.resources.R4B.goal",
    "AllergyIntolerance": "fhir.resources.R4B.allergyintolerance",
}

_model_cache: dict[str, Any] = {}


def _model(resource_type: str):
    if resource_type not in _model_cache:
        module = importlib.import_module(_MODEL_MODULES[resource_type])
        _model_cache[resource_type] = getattr(module, resource_type)
    return _model_cache[resource_type]


# The elements the adapter reads, per resource type (with their `_element` primitive extensions). The
# record check validates these: an error in an element nothing here reads (narrative, telecom, an extension
# we ignore) does not make a value unusable, and validating a whole Synthea Patient costs ~1.7 ms against
# ~0.5 ms for the elements read (see docs/features.md).
_READ_ELEMENTS: dict[str, frozenset[str]] = {
    "Patient": frozenset({"id", "gender", "birthDate"}),
    "Observation": frozenset({"id", "status", "code", "subject", "effectiveDateTime", "effectiveInstant",
                              "effectivePeriod", "effectiveTiming", "issued", "valueQuantity", "valueCodeableConcept",
                              "valueString", "dataAbsentReason", "component"}),
    "Condition": frozenset({"id", "subject", "code", "clinicalStatus", "verificationStatus", "onsetDateTime",
                            "onsetAge", "onsetPeriod", "onsetRange", "onsetString", "abatementDateTime",
                            "abatementAge", "abatementPeriod", "abatementRange", "abatementString", "recordedDate"}),
    "MedicationRequest": frozenset({"id", "status", "intent", "doNotPerform", "subject", "medicationCodeableConcept",
                                    "medicationReference", "authoredOn", "contained", "dosageInstruction"}),
    "MedicationStatement": frozenset({"id", "status", "subject", "medicationCodeableConcept", "medicationReference",
                                      "effectiveDateTime", "effectivePeriod", "dateAsserted", "contained", "dosage"}),
    "AllergyIntolerance": frozenset({"id", "patient", "code", "clinicalStatus", "verificationStatus", "type",
                                     "category", "criticality", "reaction", "onsetDateTime", "onsetPeriod",
                                     "recordedDate"}),
    "Procedure": frozenset({"id", "status", "subject", "code", "performedDateTime", "performedPeriod",
                            "performedString", "performedAge", "performedRange"}),
    "FamilyMemberHistory": frozenset({"id", "status", "patient", "relationship", "condition", "date"}),
    "Goal": frozenset({"id", "lifecycleStatus", "subject", "description", "target", "startDate", "startCodeableConcept",
                       "statusDate"}),
}


def read_elements(resource: Mapping) -> Mapping:
    """The part of ``resource`` the adapter reads (plus resourceType), for validation; unknown types unchanged."""
    if not isinstance(resource, dict):
        return resource
    keep = _READ_ELEMENTS.get(resource.get("resourceType"))  # type: ignore[arg-type]
    if keep is None:
        return resource
    out = {k: v for k, v in resource.items() if k in keep or (k[:1] == "_" and k[1:] in keep)}
    out["resourceType"] = resource.get("resourceType")
    if out["resourceType"] == "Patient":
        ext = [e for e in list_or_empty(resource.get("extension"))
               if type(e) is dict and e.get("url") in (US_CORE_RACE, US_CORE_ETHNICITY)]
        if ext:
            out["extension"] = ext
    return out


def validation_problem(resource: Mapping, ref: str | None = None) -> InputProblem | None:
    """None if the resource is a valid FHIR R4B resource of a supported type, else the problem.

    The reason lists element paths and pydantic error types only (never input values).
    """
    # A dict, the usual resource, is told without isinstance against the Mapping ABC (~1 us a call).
    is_mapping = type(resource) is dict or isinstance(resource, Mapping)
    ref = ref or (resource_ref(resource) if is_mapping else None)
    rtype = resource.get("resourceType") if is_mapping else None
    if rtype not in _MODEL_MODULES:
        return InputProblem(ref, None, f"unsupported resource type for validation: {rtype!r}")
    if plainly_valid(resource):  # a shape the model surely accepts: skip its ~100 us (see valid_shapes.py)
        return None
    try:
        _model(rtype).model_validate(resource)
        return None
    except Exception as exc:  # noqa: BLE001 - pydantic or fhir.resources errors of any kind
        return InputProblem(ref, None, f"not a valid FHIR R4 {rtype} ({_describe_error(exc)}); skipped")


def _describe_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            items = errors(include_input=False, include_url=False)
        except TypeError:  # older pydantic signature
            items = errors()
        except Exception:  # noqa: BLE001
            items = []
        parts = []
        for e in items[:3]:
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "__root__") or "(resource)"
            parts.append(f"{loc}: {e.get('type', 'invalid')}")
        more = f"; +{len(items) - 3} more" if len(items) > 3 else ""
        if parts:
            return "; ".join(parts) + more
    return type(exc).__name__


def warm_up() -> None:
    """Build the pydantic validators once, so the first hook request does not pay for it.

    fhir.resources imports and compiles each complex type (Extension, Quantity, Period, ...) the
    first time it meets one, which costs ~100 ms on a first real record. These samples touch the
    elements typical EHR and Synthea resources carry. Call at service start.
    """
    coding = {"system": "http://loinc.org", "code": "x", "display": "x"}
    concept = {"coding": [coding], "text": "x"}
    ref = {"reference": "Patient/warm", "display": "x"}
    meta = {"versionId": "1", "lastUpdated": "2020-01-01T00:00:00Z", "tag": [coding], "profile": ["http://x"]}
    text = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}
    quantity = {"value": 1, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}
    period = {"start": "2020-01-01", "end": "2020-02-01"}
    ident = {"system": "http://x", "value": "x", "type": concept}
    samples = [
        {"resourceType": "Patient", "id": "warm", "meta": meta, "text": text, "identifier": [ident],
         "extension": [{"url": "http://x", "extension": [{"url": "ombCategory", "valueCoding": coding},
                                                         {"url": "text", "valueString": "x"}]},
                       {"url": "http://y", "valueCode": "F"}, {"url": "http://z", "valueDecimal": 1.5},
                       {"url": "http://w", "valueAddress": {"city": "x", "country": "US"}}],
         "name": [{"use": "official", "family": "x", "given": ["x"], "prefix": ["x"]}],
         "telecom": [{"system": "phone", "value": "x", "use": "home"}], "gender": "female",
         "birthDate": "1970-01-01", "deceasedBoolean": False, "maritalStatus": concept,
         "multipleBirthBoolean": False,
         "address": [{"line": ["x"], "city": "x", "state": "x", "postalCode": "x", "country": "US",
                      "extension": [{"url": "http://g", "extension": [{"url": "latitude", "valueDecimal": 1.0}]}]}],
         "communication": [{"language": concept}]},
        {"resourceType": "Observation", "id": "warm", "meta": meta, "status": "final", "category": [concept],
         "code": concept, "subject": ref, "encounter": ref, "effectiveDateTime": "2020-01-01T00:00:00+00:00",
         "issued": "2020-01-01T00:00:00.000+00:00", "performer": [ref], "valueQuantity": quantity,
         "interpretation": [concept], "note": [{"text": "x"}], "referenceRange": [{"low": quantity, "high": quantity}],
         "component": [{"code": concept, "valueQuantity": quantity},
                       {"code": concept, "dataAbsentReason": concept}]},
        {"resourceType": "Observation", "id": "warm2", "status": "final", "code": concept,
         "effectivePeriod": period, "valueCodeableConcept": concept},
        {"resourceType": "Condition", "id": "warm", "meta": meta, "clinicalStatus": concept,
         "verificationStatus": concept, "category": [concept], "code": concept, "subject": ref, "encounter": ref,
         "onsetDateTime": "2020-01-01", "abatementDateTime": "2020-02-01", "recordedDate": "2020-01-01",
         "recorder": ref, "note": [{"text": "x"}]},
        {"resourceType": "MedicationRequest", "id": "warm", "meta": meta, "status": "active", "intent": "order",
         "medicationCodeableConcept": concept, "subject": ref, "encounter": ref,
         "authoredOn": "2020-01-01T00:00:00+00:00", "requester": ref, "reasonReference": [ref],
         "dosageInstruction": [{"sequence": 1, "text": "x", "asNeededBoolean": False,
                                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                                "doseAndRate": [{"type": concept, "doseQuantity": quantity}]}],
         "dispenseRequest": {"validityPeriod": period, "numberOfRepeatsAllowed": 1, "quantity": quantity}},
        {"resourceType": "MedicationStatement", "id": "warm", "status": "active", "subject": ref,
         "medicationReference": ref, "effectivePeriod": period, "dateAsserted": "2020-01-01",
         "dosage": [{"text": "x"}]},
        {"resourceType": "Procedure", "id": "warm", "status": "completed", "code": concept, "subject": ref,
         "performedDateTime": "2020-01-01T00:00:00+00:00"},
        {"resourceType": "Procedure", "id": "warm2", "status": "completed", "code": concept, "subject": ref,
         "performedPeriod": period},
        {"resourceType": "FamilyMemberHistory", "id": "warm", "status": "completed", "patient": ref,
         "relationship": concept, "date": "2020-01-01", "condition": [{"code": concept}]},
        {"resourceType": "Goal", "id": "warm", "lifecycleStatus": "active", "description": concept, "subject": ref,
         "startDate": "2020-01-01", "target": [{"measure": concept, "detailRange": {"low": quantity, "high": quantity}},
                                               {"measure": concept, "detailQuantity": quantity}]},
        {"resourceType": "Observation", "id": "warm3", "status": "final", "code": concept, "subject": ref,
         "effectiveDateTime": "2020-01-01", "valueString": "x"},
        {"resourceType": "AllergyIntolerance", "id": "warm", "patient": ref, "code": concept,
         "clinicalStatus": concept, "verificationStatus": concept, "type": "allergy", "category": ["medication"],
         "criticality": "low", "recordedDate": "2020-01-01", "reaction": [{"manifestation": [concept]}]},
    ]
    for sample in samples:
        validation_problem(sample)
