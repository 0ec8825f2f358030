"""The transformer engine through HTTP: the note-diagnosis-gaps service and the /qa endpoint."""
from __future__ import annotations

import base64
import json
import re
import uuid

import pytest
import responses

pytest.importorskip("torch", reason="the models extra (torch, transformers) is not installed")

NOTE = (
    "Assessment: 58-year-old man seen for follow-up. He has obstructive sleep apnea, diagnosed on a sleep study "
    "last year, and uses CPAP nightly. No history of atrial fibrillation. His mother had breast cancer. "
    "Plan: continue CPAP."
)


def note_request(conditions):
    patient_id = "notes-patient"
    doc = {
        "resourceType": "DocumentReference", "id": "note-1", "status": "current",
        "subject": {"reference": f"Patient/{patient_id}"}, "date": "2026-05-02T10:00:00Z",
        "content": [{"attachment": {"contentType": "text/plain",
                                    "data": base64.b64encode(NOTE.encode()).decode()}}],
    }
    def searchset(items):
        return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in items]}
    return {
        "hookInstance": str(uuid.uuid4()), "hook": "patient-view",
        "context": {"userId": "Practitioner/dr-lee", "patientId": patient_id},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": patient_id, "gender": "male", "birthDate": "1968-01-01"},
            "documents": searchset([doc]), "reports": None, "conditions": searchset(conditions),
        },
    }


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def condition_evidence(card):
    return card["suggestions"][0]["actions"][0]["resource"].get("evidence")


def test_note_affirmed_condition_missing_from_problem_list_becomes_a_card(client):
    resp = post(client, "/cds-services/note-diagnosis-gaps", note_request([]))
    assert resp.status_code == 200
    cards = resp.get_json()["cards"]
    apnea = [c for c in cards if "sleep apnea" in c["summary"].lower()]
    assert len(apnea) == 1, [c["summary"] for c in cards]
    card = apnea[0]
    # The card names the note by its date; its resource id is in the evidence (the suggested Condition cites it).
    assert "DocumentReference/" not in card["detail"] and "A note of" in card["detail"]
    assert "obstructive sleep apnea" in card["detail"].lower()
    # The note sentence is quoted once, and no criteria line of bare term names ("Matched text; Match method").
    sentence = "He has obstructive sleep apnea, diagnosed on a sleep study last year, and uses CPAP nightly."
    assert card["detail"].count(sentence) == 1, card["detail"]
    assert "Criteria met" not in card["detail"] and "Matched text" not in card["detail"]
    assert condition_evidence(card) == [{"detail": [{"reference": "DocumentReference/note-1"}]}]
    condition = card["suggestions"][0]["actions"][0]["resource"]
    assert condition["resourceType"] == "Condition"
    assert condition["verificationStatus"]["coding"][0]["code"] == "provisional"
    assert condition["subject"] == {"reference": "Patient/notes-patient"}
    # negated (atrial fibrillation) and family (breast cancer) mentions give no card
    summaries = " ".join(c["summary"].lower() for c in cards)
    assert "atrial fibrillation" not in summaries and "breast cancer" not in summaries


def test_no_card_when_condition_already_on_problem_list(client):
    existing = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/notes-patient"},
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                               "code": "active"}]},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "78275009",
                                     "display": "Obstructive sleep apnea syndrome"}]}}
    resp = post(client, "/cds-services/note-diagnosis-gaps", note_request([existing]))
    assert resp.status_code == 200
    assert not [c for c in resp.get_json()["cards"] if "sleep apnea" in c["summary"].lower()]


def test_qa_answers_from_the_knowledge_base_with_sources(client):
    resp = post(client, "/qa", {"question": "At what HbA1c is diabetes diagnosed?"})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "answered"
    assert "6.5" in body["answer"]
    assert body["supports"] and body["supports"][0].get("citation")


def test_qa_refuses_unrelated_questions(client):
    body = post(client, "/qa", {"question": "Who won the football world cup in 1966?"}).get_json()
    assert body["status"] == "refused"
    assert body["message"]


@pytest.mark.parametrize("body", [{}, {"question": ""}, {"question": 5}, {"question": "x" * 1001},
                                  {"question": "ok?", "record": "text"}])
def test_qa_bad_input_is_400(client, body):
    assert post(client, "/qa", body).status_code == 400


@responses.activate
def test_note_text_held_as_a_binary_url_is_fetched_from_the_fhir_server(client):
    body = note_request([])
    doc = body["prefetch"]["documents"]["entry"][0]["resource"]
    doc["content"] = [{"attachment": {"contentType": "text/plain", "url": "Binary/note-1-text"}}]
    body["fhirServer"] = "https://ehr.example.org/fhir"
    body["fhirAuthorization"] = {"access_token": "t-123", "token_type": "Bearer", "expires_in": 300,
                                 "scope": "user/Binary.read", "subject": "precision-cds"}
    responses.get("https://ehr.example.org/fhir/Binary/note-1-text",
                  json={"resourceType": "Binary", "contentType": "text/plain",
                        "data": base64.b64encode(NOTE.encode()).decode()})
    resp = post(client, "/cds-services/note-diagnosis-gaps", body)
    assert resp.status_code == 200
    assert responses.calls[0].request.headers["Authorization"] == "Bearer t-123"
    assert any("sleep apnea" in c["summary"].lower() for c in resp.get_json()["cards"])


@responses.activate
def test_unreadable_binary_note_is_skipped_not_fatal(client):
    body = note_request([])
    doc = body["prefetch"]["documents"]["entry"][0]["resource"]
    doc["content"] = [{"attachment": {"contentType": "text/plain", "url": "Binary/gone"}}]
    body["fhirServer"] = "https://ehr.example.org/fhir"
    responses.get("https://ehr.example.org/fhir/Binary/gone", status=404)
    resp = post(client, "/cds-services/note-diagnosis-gaps", body)
    assert resp.status_code == 200
    assert resp.get_json()["cards"] == []


def test_trained_model_demo_service_scores_with_model_provenance(app, client):
    body = __import__("tests.conftest", fromlist=["load_fixture"]).load_fixture("hooks/patient-view-prevent-example.json")
    assert post(client, "/cds-services/heart-disease-model-demo", body).status_code == 404  # off by default
    assert "heart-disease-model-demo" not in {s["id"] for s in client.get("/cds-services").get_json()["services"]}
    app.config["ENABLE_DEMO_MODEL"] = True
    resp = post(client, "/cds-services/heart-disease-model-demo", body)
    assert resp.status_code == 200
    card = resp.get_json()["cards"][0]
    assert "demo model" in card["summary"] and "%" in card["summary"]
    # No engine or model id in its words, and the score once: not again as a "model score" probability.
    text = f"{card['summary']}\n{card['detail']}"
    for name in ("trained-tabular-model", "uci-heart-mlp", "Model score", "probability"):
        assert name not in text, name
    score = re.search(r"(\d+\.\d) %", card["summary"]).group(1)
    assert card["detail"].count(score) == 1 and "demonstration-only" not in text
    # Every input the record supplied is named with its contribution; the model id and weights checksum are on the
    # explainer page (the finding's explanation), not on the card.
    assert "Contributions (percentage points): " in card["detail"]
    for label in ("Age", "Systolic blood pressure", "Total cholesterol"):
        assert label in card["detail"].split("Contributions")[1]
    discovery = client.get("/cds-services").get_json()["services"]
    demo = next(s for s in discovery if s["id"] == "heart-disease-model-demo")
    assert "not for clinical" in demo["usageRequirements"]
