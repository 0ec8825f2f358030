"""Suggestions through the hook: every resource a card proposes is valid FHIR R4 for the calling patient, every card
with suggestions says how to choose and how to decline, and a note's own words reach the card as text only."""
from __future__ import annotations

import base64
import json
import re
import uuid

import pytest
from markdown_it import MarkdownIt

from tests.conftest import load_fixture
from tests.proposal_resources import validated


def post(client, service_id, body):
    resp = client.post(f"/cds-services/{service_id}", data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return resp.get_json()["cards"]


def actionable(cards):
    return [c for c in cards if "suggestions" in c]


@pytest.mark.parametrize("fixture, service_id", [("hooks/patient-view-diagnosis-gaps.json", "diagnosis-gaps"),
                                                 ("hooks/patient-view-missing-lipids.json", "cardiovascular-risk")])
def test_every_proposed_resource_is_valid_r4_for_the_patient_and_every_actionable_card_can_be_overridden(
        client, fixture, service_id):
    body = load_fixture(fixture)
    patient = f"Patient/{body['context']['patientId']}"
    cards = actionable(post(client, service_id, body))
    assert cards  # the fixtures do propose something
    for card in cards:
        assert card["selectionBehavior"] in ("any", "at-most-one")
        assert card["overrideReasons"] and all(r["display"] for r in card["overrideReasons"])
        for suggestion in card["suggestions"]:
            uuid.UUID(suggestion["uuid"])
            for action in suggestion["actions"]:
                assert action["type"] == "create" and action["description"]
                model = validated(action["resource"])
                assert model.subject.reference == patient
                if action["resource"]["resourceType"] != "Condition":
                    assert (model.status, model.intent) == ("draft", "proposal")


def test_suggestion_uuids_are_the_same_for_the_same_hook_instance(client):
    body = load_fixture("hooks/patient-view-diagnosis-gaps.json")
    first = [s["uuid"] for c in actionable(post(client, "diagnosis-gaps", body)) for s in c["suggestions"]]
    second = [s["uuid"] for c in actionable(post(client, "diagnosis-gaps", body)) for s in c["suggestions"]]
    assert first and first == second


HOSTILE_NOTE = ("Assessment: <script>alert(1)</script> He has obstructive sleep apnea | see "
                "[chart](javascript:alert(1)) and **uses CPAP** nightly. Plan: continue CPAP.")


def note_request(text: str) -> dict:
    patient_id = "notes-patient"
    doc = {"resourceType": "DocumentReference", "id": "note-1", "status": "current",
           "subject": {"reference": f"Patient/{patient_id}"}, "date": "2026-05-02T10:00:00Z",
           "content": [{"attachment": {"contentType": "text/plain", "data": base64.b64encode(text.encode()).decode()}}]}
    return {"hookInstance": str(uuid.uuid4()), "hook": "patient-view",
            "context": {"userId": "Practitioner/dr-lee", "patientId": patient_id},
            "prefetch": {"patient": {"resourceType": "Patient", "id": patient_id, "gender": "male",
                                     "birthDate": "1968-01-01"},
                         "documents": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": doc}]},
                         "reports": None, "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": []}}}


def test_a_hostile_note_sentence_is_quoted_as_text_on_the_card(client):
    pytest.importorskip("torch", reason="the note service needs the models extra")
    cards = post(client, "note-diagnosis-gaps", note_request(HOSTILE_NOTE))
    apnea = [c for c in cards if "sleep apnea" in c["summary"].lower()]
    assert len(apnea) == 1, [c["summary"] for c in cards]
    detail = apnea[0]["detail"]
    html = MarkdownIt("commonmark", {"html": True}).enable(["table"]).render(detail)
    assert "<script" not in html and "&lt;script&gt;" in html  # shown, not run
    assert not any("javascript:" in href for href in re.findall(r'href="([^"]*)"', html))
    assert "<strong>uses CPAP</strong>" not in html and "**uses CPAP**" in html.replace("\\*", "*")
    condition = apnea[0]["suggestions"][0]["actions"][0]["resource"]
    validated(condition)
    assert apnea[0]["overrideReasons"][0]["code"] == "already-addressed"
