"""Note understanding through the note-diagnosis-gaps hook, as an EHR calls it: misspellings, abbreviations with
stages, combination codes, modifiers, counselling, cures and section scope decide which Conditions are suggested."""
from __future__ import annotations

import base64
import json
import uuid

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"

NOTE = """HPI: 61 yo woman for follow-up.

PMH: T2DM with peripheral neuropathy; ckd 3b; astham since her teens, uses albuterol.
Portal hypertension with small varices.
Counseled on the risk of osteoporosis with her prednisone.
Hepatitis C, SVR12 achieved in 2021.

Family History:
Father with COPD.

Patient reports chronic migranes, two a month.
"""


def note_request():
    patient_id = "np-1"
    doc = {
        "resourceType": "DocumentReference", "id": "note-7", "status": "current",
        "subject": {"reference": f"Patient/{patient_id}"}, "date": "2026-05-02T10:00:00Z",
        "content": [{"attachment": {"contentType": "text/plain", "data": base64.b64encode(NOTE.encode()).decode()}}],
    }
    return {
        "hookInstance": str(uuid.uuid4()), "hook": "patient-view",
        "context": {"userId": "Practitioner/dr-lee", "patientId": patient_id},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": patient_id, "gender": "female", "birthDate": "1964-03-01"},
            "documents": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": doc}]},
            "reports": None,
            "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        },
    }


def suggested_conditions(client) -> dict[str, dict]:
    resp = client.post("/cds-services/note-diagnosis-gaps", data=json.dumps(note_request()),
                       content_type="application/json")
    assert resp.status_code == 200
    out = {}
    for card in resp.get_json()["cards"]:
        for suggestion in card.get("suggestions", []):
            for action in suggestion.get("actions", []):
                resource = action.get("resource", {})
                if resource.get("resourceType") == "Condition":
                    icd = next(c["code"] for c in resource["code"]["coding"] if c["system"] == ICD10CM)
                    out[icd] = {"card": card, "resource": resource}
    return out


def test_the_hook_suggests_what_the_note_states_with_its_specific_codes(client):
    conditions = suggested_conditions(client)
    # T2DM with peripheral neuropathy -> one Condition E11.42 (no separate neuropathy); CKD 3b -> N18.32;
    # "astham" and "migranes" are misspelled but affirmed.
    assert set(conditions) == {"E11.42", "N18.32", "J45.909", "G43.909"}, sorted(conditions)
    ckd = conditions["N18.32"]["resource"]
    assert {(c["system"], c["code"]) for c in ckd["code"]["coding"]} == {(SNOMED, "700379002"), (ICD10CM, "N18.32")}
    assert ckd["verificationStatus"]["coding"][0]["code"] == "provisional"
    assert "stage 3b" in conditions["N18.32"]["card"]["summary"].lower()
    # The card quotes the sentence as the note wrote it, misspelling included.
    assert "astham" in conditions["J45.909"]["card"]["detail"]
    # Not suggested: portal hypertension (not hypertension), osteoporosis (counselling), hepatitis C (cured),
    # COPD (family history), and neither is "Patient reports..." after the blank line read as family history.
    assert not {"I10", "M81.0", "B18.2", "J44.9"} & set(conditions)
