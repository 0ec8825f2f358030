"""Bad input found by review: never a 500, and answers that stay clinically sensible."""
from __future__ import annotations

import copy
import io
import json

import pytest

from cds_hooks.declaration import SERVICES
from cds_hooks.evaluate import hook_request_from_resources
from cds_hooks.services import load_all
from tests.conftest import load_fixture

load_all()  # the services must be declared before the parametrisation below reads them


# A drafted losartan for a patient on lisinopril (dual RAAS blockade): what the order-select and order-sign services
# alert on; the patient-view services never read a draft.
DRAFTED_LOSARTAN = {"resourceType": "MedicationRequest", "id": "draft-losartan", "status": "draft", "intent": "order",
                    "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                              "code": "979492",
                                                              "display": "losartan potassium 50 MG Oral Tablet"}]},
                    "dosageInstruction": [{"text": "50 mg once daily", "timing": {"repeat": {"frequency": 1, "period": 1,
                                                                                            "periodUnit": "d"}}}]}

NASTY_VALUES = [10 ** 400, -10 ** 400, "1e400", "NaN", float("1e308"), [], {}, None, True, "½"]


def _fixture_resources() -> list[dict]:
    request = load_fixture("hooks/patient-view-prevent-example.json")
    resources = [request["prefetch"]["patient"]]
    for key in ("observations", "conditions", "medications"):
        resources += [e["resource"] for e in request["prefetch"][key]["entry"]]
    drafted = {**DRAFTED_LOSARTAN, "subject": {"reference": f"Patient/{resources[0]['id']}"}}
    return resources + [drafted]


@pytest.mark.parametrize("value", NASTY_VALUES, ids=repr)
@pytest.mark.parametrize("service_id", sorted(s.id for s in SERVICES))
def test_nasty_lab_values_never_500_on_any_service(app, client, service_id, value):
    app.config["ENABLE_DEMO_MODEL"] = True  # every declared service, the demonstration model (off by default) too
    resources = copy.deepcopy(_fixture_resources())
    for r in resources:
        if r["resourceType"] == "Observation" and "valueQuantity" in r:
            r["valueQuantity"]["value"] = value
    body = hook_request_from_resources(resources, SERVICES.get(service_id))
    # json.dumps writes huge ints exactly and floats as 1e+308; the service parses them back
    resp = client.post(f"/cds-services/{service_id}", data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 200


def test_deceased_patient_gets_no_cards(client):
    body = load_fixture("hooks/patient-view-prevent-example.json")
    body["prefetch"]["patient"]["deceasedDateTime"] = "2026-01-15"
    resp = client.post("/cds-services/cardiovascular-risk", data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 200
    assert resp.get_json() == {"cards": []}
    body["prefetch"]["patient"]["deceasedDateTime"] = "2027-01-15"  # after the evaluation date: still alive then
    resp = client.post("/cds-services/cardiovascular-risk", data=json.dumps(body), content_type="application/json")
    assert resp.get_json()["cards"]


def _post_sized(client, body: bytes, *, chunked: bool):
    if chunked:  # no Content-Length: the WSGI server terminates the stream (gunicorn and werkzeug do for chunked)
        return client.post("/cds-services/cardiovascular-risk", input_stream=io.BytesIO(body),
                           content_type="application/json", headers={"Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    return client.post("/cds-services/cardiovascular-risk", data=body, content_type="application/json")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_exactly_the_limit_passes_and_one_byte_more_is_413(app, chunked):
    from tests.conftest import CheckedClient

    client = CheckedClient(app.test_client())
    body = json.dumps(load_fixture("hooks/patient-view-prefetch.json")).encode()
    app.config["MAX_CONTENT_LENGTH"] = len(body)
    assert _post_sized(client, body, chunked=chunked).status_code == 200
    assert _post_sized(client, body + b" ", chunked=chunked).status_code == 413  # JSON allows trailing blanks
    assert _post_sized(client, body[:-1], chunked=chunked).status_code == 400  # under the limit: read, not JSON


def test_chunked_body_far_over_the_limit_is_413(app):
    from tests.conftest import CheckedClient

    app.config["MAX_CONTENT_LENGTH"] = 1000
    body = json.dumps(load_fixture("hooks/patient-view-prefetch.json")).encode()
    assert _post_sized(CheckedClient(app.test_client()), body, chunked=True).status_code == 413


def test_wrong_hook_is_named_before_context_rules(client):
    body = load_fixture("hooks/patient-view-prefetch.json")
    body["hook"] = "order-select"  # its context would also lack draftOrders: the hook is the real mistake
    resp = client.post("/cds-services/cardiovascular-risk", data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 400
    assert resp.get_json()["issue"][0]["expression"] == ["hook"]


def test_qa_without_a_usable_model_is_503_naming_the_setting(client, monkeypatch):
    pytest.importorskip("torch", reason="the models extra is not installed")
    from engine.models import loader

    monkeypatch.setenv("CDS_MODEL_DIR_EMBEDDING", "/nonexistent/model-dir")
    for cached in ("load_encoder",):
        fn = getattr(loader, cached, None)
        if hasattr(fn, "cache_clear"):
            fn.cache_clear()
    from cds_hooks import qa

    monkeypatch.setattr(qa, "_knowledge_base", qa._knowledge_base.__wrapped__)
    resp = client.post("/qa", data=json.dumps({"question": "When is a statin indicated?"}),
                       content_type="application/json")
    assert resp.status_code == 503
    assert "CDS_MODEL_DIR_EMBEDDING" in resp.get_json()["issue"][0]["diagnostics"]


def test_optional_prefetch_key_missing_is_not_a_412(client):
    definition = SERVICES.get("risk-scores")
    assert "family_history" in definition.optional_prefetch
    assert "observations" not in definition.optional_prefetch
    body = hook_request_from_resources(_fixture_resources(), definition)
    del body["prefetch"]["family_history"]  # the EHR can't search FamilyMemberHistory; no fhirServer to ask
    resp = client.post("/cds-services/risk-scores", data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 200
    del body["prefetch"]["observations"]  # but results are required
    resp = client.post("/cds-services/risk-scores", data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 412
    assert resp.get_json()["issue"][0]["expression"] == ["prefetch.observations"]


def test_missing_model_is_a_clear_start_up_error_naming_the_setting(monkeypatch, caplog, tmp_path):
    pytest.importorskip("torch", reason="the models extra is not installed")
    from cds_hooks.app import create_app
    from cds_hooks.services import clinical_notes

    monkeypatch.setenv("CDS_MODEL_DIR_EMBEDDING", str(tmp_path / "no-such-model"))
    monkeypatch.setattr(clinical_notes, "note_matcher", clinical_notes.note_matcher.__wrapped__)
    with caplog.at_level("ERROR", logger="cds_hooks.services"):
        create_app({"DEV_MODE": True, "WARM_MODELS": True, "DATA_DIR": str(tmp_path)})
    assert any("CDS_MODEL_DIR_EMBEDDING" in r.getMessage() for r in caplog.records)
