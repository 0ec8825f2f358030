"""POST /qa as an EHR would call it: record questions answered from the record's structure with the source of every
value, 'no' with what was searched, refusals, and bad input answered 400 with an OperationOutcome."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def record(name: str) -> dict:
    return json.loads((ROOT / "fixtures" / "qa" / f"{name}.json").read_text())


def post(client, body):
    return client.post("/qa", data=json.dumps(body), content_type="application/json")


def test_value_question_is_answered_with_its_source(client):
    resp = post(client, {"question": "What was her last A1c?", "record": record("rosa"), "asOf": "2025-06-01"})
    assert resp.status_code == 200
    body = resp.get_json()
    assert (body["status"], body["method"], body["question_type"], body["result"]) == \
        ("answered", "record", "value", "value")
    assert (body["value"], body["unit"], body["date"]) == ("7.2", "%", "2024-11-20")
    assert [s["source"] for s in body["supports"]] == ["Observation/rosa-a1c-2024b"]
    assert body["supports"][0]["code"] == "LOINC 4548-4"


def test_no_says_what_was_searched(client):
    body = post(client, {"question": "Is she on a blood thinner?", "record": record("rosa"),
                         "asOf": "2025-06-01"}).get_json()
    assert body["result"] == "no" and body["searched"] == {"MedicationRequest": 3, "MedicationStatement": 1}
    assert body["answer"] == ("No anticoagulant on the active medication list (searched 3 MedicationRequest, "
                              "1 MedicationStatement).")


def test_blood_pressure_panel_and_prefetch_shaped_record(client):
    prefetch = {"patient": record("kenji")["entry"][0]["resource"], "everything": record("kenji")}
    body = post(client, {"question": "BP?", "record": [prefetch["patient"], prefetch["everything"]],
                         "asOf": "2025-06-01"}).get_json()
    assert (body["value"], body["unit"]) == ("134/84", "mmHg")
    assert [s["source"] for s in body["supports"]] == ["Observation/kenji-bp-2025"]


def test_patient_id_keeps_other_patients_out(client):
    mixed = [record("rosa"), record("walter")]
    body = post(client, {"question": "Is the patient on a statin?", "record": mixed, "patientId": "qa-walter",
                         "asOf": "2025-06-01"}).get_json()
    assert body["result"] == "yes" and body["supports"][0]["source"] == "MedicationStatement/walter-atorvastatin"
    assert body["searched"]["MedicationRequest"] == 4  # Walter's, not Rosa's three


def test_dosing_advice_and_actions_are_refused(client):
    dose = post(client, {"question": "Amoxicillin dose for otitis media?", "record": record("amara"),
                         "asOf": "2025-06-01"}).get_json()
    assert dose["status"] == "refused" and dose["answer"] is None and dose["value"] is None
    assert "does not give dosing advice" in dose["message"]
    assert not [s for s in dose["supports"] if (s["source"] or "").startswith("Observation/")]
    action = post(client, {"question": "Write a referral letter for her.", "record": record("amara")}).get_json()
    assert action["status"] == "refused" and action["question_type"] == "action"


def test_guideline_for_this_patient_names_the_statement_and_the_patients_facts(client):
    body = post(client, {"question": "Should he be anticoagulated for his AF?", "record": record("walter"),
                         "asOf": "2025-06-01"}).get_json()
    assert body["method"] == "record+guideline"
    knowledge = [s for s in body["supports"] if s["kind"] == "knowledge"]
    assert knowledge[0]["statement_id"] == "af-anticoagulation" and knowledge[0]["citation"]["doi"]
    sources = [s["source"] for s in body["supports"] if s["kind"] in ("record", "calculation")]
    assert "Condition/walter-af" in sources and "calculation:cha2ds2-vasc" in sources


def test_off_topic_question_is_refused(client):
    pytest.importorskip("torch", reason="refusing an unknown question compares it with the guideline statements")
    body = post(client, {"question": "What's the weather tomorrow?", "record": record("rosa")}).get_json()
    assert body["status"] == "refused" and body["question_type"] == "out_of_scope" and body["message"]


@pytest.mark.parametrize("body, where", [
    ({}, "question"), ({"question": ""}, "question"), ({"question": 5}, "question"),
    ({"question": "x" * 1001}, "question"), ({"question": "BP?", "record": "text"}, "record"),
    ({"question": "BP?", "record": {}, "asOf": "June"}, "asOf"), ({"question": "BP?", "asOf": 20250601}, "asOf"),
    ({"question": "BP?", "record": [], "patientId": ""}, "patientId"),
])
def test_bad_input_is_400_with_an_operation_outcome(client, body, where):
    resp = post(client, body)
    assert resp.status_code == 400
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0].get("expression") == [where]


def test_junk_in_the_record_is_skipped_not_a_500(client):
    junk = [5, "x", {"resourceType": "Observation"}, {"resourceType": "Observation", "id": "o",
                                                       "valueQuantity": {"value": "high"}, "code": []},
            {"resourceType": "MedicationRequest", "id": "m", "medicationCodeableConcept": 7}]
    resp = post(client, {"question": "What is the LDL?", "record": junk, "asOf": "2025-06-01"})
    assert resp.status_code == 200
    assert resp.get_json()["result"] == "not_found"


def test_a_drug_question_leads_with_the_recorded_allergy(client):
    body = post(client, {"question": "Is it safe to give her amoxicillin?", "record": record("rosa"),
                         "asOf": "2025-06-01"}).get_json()
    assert (body["status"], body["question_type"], body["result"]) == ("answered", "drug_safety", "allergy")
    assert body["answer"].startswith("Allergy recorded - Penicillin (AllergyIntolerance/rosa-penicillin")
    assert [s["source"] for s in body["supports"] if s["kind"] == "record"] == ["AllergyIntolerance/rosa-penicillin"]
    none = post(client, {"question": "Can he take amoxicillin?", "record": record("walter"),
                         "asOf": "2025-06-01"}).get_json()
    assert none["result"] == "no_allergy" and "does not decide whether a drug may be given" in none["answer"]


def test_judgement_and_score_questions_over_http(client):
    statin = post(client, {"question": "Should he be on a statin?", "record": record("oskar"),
                           "asOf": "2025-06-01"}).get_json()
    assert (statin["question_type"], statin["result"]) == ("guideline_patient", "guideline")
    assert [s["statement_id"] for s in statin["supports"] if s["kind"] == "knowledge"][0] == "lipid-high-risk"
    assert any(s["source"] == "calculation:pce-2013" and s["value"] == "32.6" for s in statin["supports"])
    score = post(client, {"question": "What is his 10-year ASCVD risk?", "record": record("oskar"),
                          "asOf": "2025-06-01"}).get_json()
    assert (score["question_type"], score["result"], score["value"], score["unit"]) == ("score", "value", "32.6", "%")
    window = post(client, {"question": "eGFR in Feb 2024?", "record": record("walter"),
                           "asOf": "2025-06-01"}).get_json()
    assert (window["value"], window["date"]) == ("51", "2024-02-01")
