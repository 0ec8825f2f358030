"""The quick shape check (fhir_adapter/parse/valid_shapes.py) never accepts what the FHIR model refuses.

It may send a valid record on to the model (that only costs time); it must never call an invalid one valid. Checked
on every record of the Synthea patients and on mutations of them at every element: removed, replaced by values of
the wrong kind or of almost-right forms (dates that do not exist, times without zones, leap seconds, odd spaces),
joined by unknown elements, primitive extensions or a second choice of a value[x].
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from fhir_adapter.parse.validation import _model, read_elements, validation_problem
from fhir_adapter.parse.valid_shapes import plainly_valid

ROOT = Path(__file__).resolve().parents[2]
SYNTHEA_FILES = sorted((ROOT.parent / "shared" / "data" / "synthea").glob("*.json"))
TYPES = ("Observation", "Patient", "Condition", "MedicationRequest", "Procedure", "AllergyIntolerance")

ODD_VALUES = [
    None, "", " ", "  x", "x  y", "a\nb", "a\tb", "\u00a0", "x\u2028", "\ud800", 0, -1, 1.5, 10**20, float("nan"),
    float("inf"), True, [], [None], [{}], {}, {"x": 1}, "x" * 20_000,
    "2020", "2020-13", "2020-02-30", "2021-02-29", "0000-01-01", "2020-01-01T10:00", "2020-01-01T10:00:00",
    "2020-01-01T24:00:00Z", "2016-12-31T23:59:60Z", "2020-01-01T10:00:00.1234567Z", "2020-01-01T10:00:00+14:01",
    "2020-01-01T10:00:00+15:00", "2020-01-01 10:00:00Z", "2020-01-01T10:00:00z", "2020-01-01T10:00:00.Z",
    "final ", "FINAL", "http://x y", "urn:uuid:1", "a" * 65, "abc$", "-1e5", "1.", ".5",
]
EXTRA_KEYS = ["_status", "_value", "extension", "modifierExtension", "text", "unknownElement", "effectivePeriod",
              "valueString", "onsetString", "medicationReference", "resourceType"]


def model_accepts(resource: dict) -> bool:
    try:
        _model(resource["resourceType"]).model_validate(resource)
        return True
    except Exception:  # noqa: BLE001 - any refusal of the model
        return False


def synthea_records() -> list[dict]:
    records = []
    for path in SYNTHEA_FILES:
        for entry in json.loads(path.read_text(encoding="utf-8"))["entry"]:
            resource = entry.get("resource", {})
            if resource.get("resourceType") in TYPES:
                records.append(read_elements(resource))
    return records


def paths(value, prefix=()):
    """Every (path) to a dict key or list item inside ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from paths(item, (*prefix, index))


def mutations(resource: dict):
    for path in list(paths(resource)):
        *head, last = path
        for replacement in [*ODD_VALUES, "<delete>"]:
            mutated = copy.deepcopy(resource)
            parent = mutated
            for step in head:
                parent = parent[step]
            if replacement == "<delete>":
                del parent[last]
            else:
                parent[last] = replacement
            yield mutated
        parent_value = resource
        for step in head:
            parent_value = parent_value[step]
        if isinstance(parent_value, dict):
            for key in EXTRA_KEYS:
                mutated = copy.deepcopy(resource)
                target = mutated
                for step in head:
                    target = target[step]
                target[key] = copy.deepcopy(parent_value[last])
                yield mutated


@pytest.mark.skipif(not SYNTHEA_FILES, reason="../shared/data/synthea is absent")
def test_every_synthea_record_recognised_is_accepted_by_the_model_and_plain_ones_are_recognised():
    records = synthea_records()
    recognised = {t: 0 for t in TYPES}
    total = {t: 0 for t in TYPES}
    for record in records:
        total[record["resourceType"]] += 1
        if plainly_valid(record):
            recognised[record["resourceType"]] += 1
            assert model_accepts(record), record
    # The check is worth having only if it recognises the common shapes.
    for rtype in ("Observation", "Patient", "Condition", "MedicationRequest", "AllergyIntolerance"):
        assert recognised[rtype] >= 0.95 * total[rtype], (rtype, recognised[rtype], total[rtype])


@pytest.mark.skipif(not SYNTHEA_FILES, reason="../shared/data/synthea is absent")
def test_no_mutation_the_model_refuses_is_recognised():
    by_shape: dict[tuple, dict] = {}
    for record in synthea_records():  # one record per shape (type and elements present) keeps this quick
        by_shape.setdefault((record["resourceType"], *sorted(record)), record)
    refused_by_model = 0
    for record in by_shape.values():
        for mutated in mutations(record):
            if plainly_valid(mutated):
                assert model_accepts(mutated), mutated
            elif not model_accepts(mutated):
                refused_by_model += 1
    assert refused_by_model > 1000  # the mutations do reach invalid records


@pytest.mark.parametrize("resource", [
    {"resourceType": "Observation", "id": "o", "status": "final",
     "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "effectiveDateTime": "2020-02-30"},
    {"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "x"},
     "effectiveDateTime": "2020-01-01T10:00:00"},
    {"resourceType": "Observation", "id": "o", "code": {"text": "x"}},
    {"resourceType": "Condition", "id": "c", "code": {"text": "x"}},
    {"resourceType": "Patient", "id": "p", "birthDate": "1970-02-30"},
])
def test_invalid_records_get_the_models_problem(resource):
    assert not plainly_valid(resource)
    problem = validation_problem(resource)
    assert problem is not None and "not a valid FHIR R4" in problem.reason


MEDICATION_REQUEST = {
    "resourceType": "MedicationRequest", "id": "m", "status": "active", "intent": "order",
    "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076",
                                              "display": "lisinopril 10 MG Oral Tablet"}]},
    "subject": {"reference": "urn:uuid:p"}, "authoredOn": "2020-01-01T10:00:00+00:00",
    "dosageInstruction": [{"sequence": 1, "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                           "asNeededBoolean": False,
                           "doseAndRate": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                                           "dose-rate-type", "code": "ordered"}]},
                                            "doseQuantity": {"value": 1}}]}],
}
DOSAGE_VARIANTS = [
    {"sequence": 0}, {"sequence": -1}, {"sequence": 2**31}, {"sequence": 2**31 - 1}, {"sequence": 1.0},
    {"sequence": True}, {"text": "one tablet daily"}, {"text": ""}, {"asNeededBoolean": "true"},
    {"asNeededCodeableConcept": {"text": "pain"}}, {"asNeededBoolean": True, "asNeededCodeableConcept": {"text": "x"}},
    {"timing": {"repeat": {"frequency": 0, "period": 1, "periodUnit": "d"}}},
    {"timing": {"repeat": {"frequency": 2, "period": 0, "periodUnit": "d"}}},
    {"timing": {"repeat": {"frequency": 2, "period": -1, "periodUnit": "d"}}},
    {"timing": {"repeat": {"frequency": 2, "period": 1}}}, {"timing": {"repeat": {"periodUnit": "d"}}},
    {"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "day"}}},
    {"timing": {"repeat": {"frequency": 2, "period": 0.5, "periodUnit": "wk"}}},
    {"timing": {"repeat": {}}}, {"timing": {}}, {"timing": {"code": {"text": "BID"}}},
    {"doseAndRate": []}, {"doseAndRate": [{}]}, {"doseAndRate": [{"doseQuantity": {"value": 1, "comparator": "<"}}]},
    {"doseAndRate": [{"doseQuantity": {"value": "1"}}]}, {"doseAndRate": [{"doseRange": {"low": {"value": 1}}}]},
    {"doseAndRate": [{"doseQuantity": {"value": 2, "unit": "mg", "system": "http://unitsofmeasure.org",
                                       "code": "mg"}}]},
]


@pytest.mark.parametrize("dosage", DOSAGE_VARIANTS)
def test_dosage_instructions_recognised_only_when_the_model_accepts_them(dosage):
    resource = {**copy.deepcopy(MEDICATION_REQUEST), "dosageInstruction": [dosage]}
    if plainly_valid(resource):
        assert model_accepts(resource), resource


def test_the_usual_dosage_and_allergy_shapes_are_recognised():
    assert plainly_valid(MEDICATION_REQUEST) and model_accepts(MEDICATION_REQUEST)
    allergy = {"resourceType": "AllergyIntolerance", "id": "a", "patient": {"reference": "urn:uuid:p"},
               "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                        "allergyintolerance-clinical", "code": "active"}]},
               "type": "allergy", "category": ["medication"], "criticality": "high",
               "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91936005"}], "text": "Penicillin"},
               "reaction": [{"manifestation": [{"text": "Hives"}], "severity": "moderate"}],
               "recordedDate": "2019-05-01"}
    assert plainly_valid(allergy) and model_accepts(allergy)
    for odd in ({"category": ["drug"]}, {"criticality": "medium"}, {"reaction": [{"severity": "mild"}]},
                {"patient": None}, {"onsetDateTime": "2019", "onsetPeriod": {"start": "2019"}}):
        changed = {k: v for k, v in {**allergy, **odd}.items() if v is not None}
        if plainly_valid(changed):
            assert model_accepts(changed), changed


def test_remembered_leaf_checks_answer_as_the_plain_ones_and_stay_bounded(monkeypatch):
    from fhir_adapter.parse import valid_shapes

    values = [*ODD_VALUES, "8480-6", "2019-03-05T10:00:00+01:00", "2019-03-05T10:00:00.000+01:00", 120.5, -0.0, 0.0,
              120, True, 1.0, 1e16, 1e-7, "x" * 65]
    for record in synthea_records()[:300]:
        values.extend(v for path in paths(record) if not isinstance(v := _at(record, path), (dict, list)))
    for check in (valid_shapes._code, valid_shapes._date_time, valid_shapes._decimal):
        for value in values * 2:  # the second round answers from the memo
            assert check(value) == check.plain(value), (check.plain.__name__, value)
    monkeypatch.setattr(valid_shapes, "_MEMO_MAX", 5)
    remembered = valid_shapes._remembered(valid_shapes._plain_code, str)
    for index in range(50):
        assert remembered(f"code-{index}")
    assert len(remembered.answers) == 5


def _at(value, path):
    for step in path:
        value = value[step]
    return value
