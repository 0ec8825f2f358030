"""End-to-end CDS Hooks protocol tests through the Flask app: discovery, hook calls in every prefetch state, errors."""
from __future__ import annotations

import json
import re

import pytest
import requests
import responses

from cds_hooks.config import load_config
from cds_hooks.declaration import SERVICES
from cds_hooks.evaluate import evaluate_document
from tests.conftest import TEST_AS_OF, load_fixture

FHIR = "https://ehr.example.org/fhir"
SERVICE = "/cds-services/cardiovascular-risk"


def optional_types() -> list[str]:
    """Resource types of the service's optional prefetch keys (medication statements, procedures, ...), in the
    order they are resolved."""
    from cds_hooks.services import load_all
    from cds_hooks.services.feature_prefetch import PREFETCH_KEYS

    load_all()
    definition = SERVICES.get("cardiovascular-risk")
    return [resource_type for resource_type, key in PREFETCH_KEYS.items()
            if key in definition.prefetch and key in definition.optional_prefetch]


def post_json(client, url, body, **kwargs):
    return client.post(url, data=json.dumps(body), content_type="application/json", **kwargs)


def cards_by_source(body) -> dict[str, dict]:
    """Cards keyed by the engine whose short citation is their source label (cards name no engine ids)."""
    from cds_hooks.declaration import find_engine

    by_citation = {find_engine(engine_id).citation.short: engine_id
                   for engine_id in ("pce-2013", "prevent-2024-base", "ckd-epi-2021-cr")}
    return {by_citation.get(card["source"]["label"], card["source"]["label"]): card for card in body["cards"]}


def mock_fhir_server(rsps, *, patient_fixture="fhir-server-patient-a.json"):
    data = load_fixture(f"hooks/{patient_fixture}")
    patient = data["Patient"]
    rsps.get(f"{FHIR}/Patient/{patient['id']}", json=patient)
    rsps.get(re.compile(re.escape(f"{FHIR}/Observation?")), json=data["observations"])
    rsps.get(re.compile(re.escape(f"{FHIR}/Condition?")), json=data["conditions"])
    rsps.get(re.compile(re.escape(f"{FHIR}/MedicationRequest?")), json=data["medications"])
    empty = {"resourceType": "Bundle", "type": "searchset"}
    for resource_type in optional_types():  # optional keys the fixture server has nothing for
        rsps.get(re.compile(re.escape(f"{FHIR}/{resource_type}?")), json=empty)


# -- discovery --------------------------------------------------------------------------------------------------------
def test_discovery_lists_every_declared_service_sorted(client):
    body = client.get("/cds-services").get_json()
    ids = [s["id"] for s in body["services"]]
    assert ids == sorted(ids)
    # Every declared service, less the demonstration model, which is off unless CDS_ENABLE_DEMO_MODEL is set.
    assert set(ids) == {s.id for s in SERVICES} - {"heart-disease-model-demo"}
    cv = next(s for s in body["services"] if s["id"] == "cardiovascular-risk")
    assert cv["hook"] == "patient-view"
    assert cv["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert "http://loinc.org|2093-3" in cv["prefetch"]["observations"]
    assert "usageRequirements" not in cv  # omitted when not set


# -- hook calls --------------------------------------------------------------------------------------------------------
def test_full_prefetch_gives_risk_cards_with_provenance(client):
    resp = post_json(client, SERVICE, load_fixture("hooks/patient-view-prefetch.json"))
    assert resp.status_code == 200
    cards = cards_by_source(resp.get_json())
    pce = cards["pce-2013"]
    assert re.search(r"\b5\.[34] %", pce["summary"]), pce["summary"]
    assert "borderline" in pce["summary"]
    assert pce["indicator"] == "info"
    # The inputs with their dates; their resource ids are on the explainer page, not on the card.
    assert "Total cholesterol 213 mg/dL" in pce["detail"] and "2026-03-02" in pce["detail"]
    assert "Observation/" not in pce["detail"] and "Patient/" not in pce["detail"]
    assert pce["source"]["label"] == "Goff 2014 (ACC/AHA Pooled Cohort Equations)"
    assert len(pce["summary"]) < 140


def test_prevent_published_case_through_http(client):
    resp = post_json(client, SERVICE, load_fixture("hooks/patient-view-prevent-example.json"))
    assert resp.status_code == 200
    # The woman has diabetes (50 years): the statin it calls for is on one card with both 10-year estimates, the PCE
    # leading it and PREVENT beside it (docs/treatment.md).
    [card] = resp.get_json()["cards"]
    also = next(line for line in card["detail"].splitlines() if line.startswith("**Also:** 10-year cardiovascular"))
    assert "14.7 %" in also
    assert "statin for diabetes" in card["summary"]
    assert "On blood-pressure treatment" in card["detail"]  # from MedicationRequest/b-lisinopril
    assert "· Diabetes" in card["detail"]  # from Condition/b-dm
    assert "MedicationRequest/" not in card["detail"] and "Condition/" not in card["detail"]
    result = evaluate_document(load_fixture("hooks/patient-view-prevent-example.json"),
                               service_id="cardiovascular-risk",
                               config=load_config({"AS_OF": TEST_AS_OF, "DEV_MODE": True, "WARM_MODELS": False}),
                               include_cards=False)
    prevent = next(f for f in result["findings"] if f["engine_id"] == "prevent-2024-base")
    assert round(prevent["value"], 1) == 14.7
    assert [round(m["value"], 1) for m in prevent["measures"]][:2] == [9.2, 8.1]


def test_cards_are_deterministic_per_hook_instance(client):
    body = load_fixture("hooks/patient-view-prefetch.json")
    first = post_json(client, SERVICE, body).get_json()
    second = post_json(client, SERVICE, body).get_json()
    # Each call stores its own evidence, so its explainer links differ; everything else is the same.
    first_links = [card.pop("links") for card in first["cards"]]
    second_links = [card.pop("links") for card in second["cards"]]
    assert first == second
    assert all(links and links[0]["label"] == "How this was calculated" for links in first_links + second_links)
    uuids = [c["uuid"] for c in first["cards"]]
    assert len(set(uuids)) == len(uuids)


@responses.activate
def test_absent_prefetch_is_fetched_with_bearer_token(client):
    mock_fhir_server(responses)
    resp = post_json(client, SERVICE, load_fixture("hooks/patient-view-no-prefetch.json"))
    assert resp.status_code == 200
    assert len(responses.calls) == len(SERVICES.get("cardiovascular-risk").prefetch)  # every key, optional ones too
    for call in responses.calls:
        assert call.request.headers["Authorization"] == "Bearer fixture-access-token-not-a-secret"
    obs_call = next(c for c in responses.calls if "/Observation?" in c.request.url)
    assert "patient=pce-example-man" in obs_call.request.url
    with_prefetch = post_json(client, SERVICE, load_fixture("hooks/patient-view-prefetch.json")).get_json()
    assert [c["summary"] for c in resp.get_json()["cards"]] == [c["summary"] for c in with_prefetch["cards"]]


@responses.activate
def test_null_prefetch_is_known_empty_and_never_fetched(client):
    resp = post_json(client, SERVICE, load_fixture("hooks/patient-view-null-prefetch.json"))
    assert resp.status_code == 200
    assert len(responses.calls) == 0
    assert "pce-2013" in cards_by_source(resp.get_json())


@responses.activate
def test_operation_outcome_prefetch_is_refetched(client):
    mock_fhir_server(responses)
    resp = post_json(client, SERVICE, load_fixture("hooks/patient-view-operationoutcome-prefetch.json"))
    assert resp.status_code == 200
    # The OperationOutcome key is refetched; the optional keys the fixture leaves out are fetched as well.
    assert [c.request.url.split("?")[0] for c in responses.calls] == [
        f"{FHIR}/Observation", *(f"{FHIR}/{resource_type}" for resource_type in optional_types())]
    assert "pce-2013" in cards_by_source(resp.get_json())


def test_operation_outcome_prefetch_without_fhir_server_is_412(client):
    body = load_fixture("hooks/patient-view-operationoutcome-prefetch.json")
    del body["fhirServer"], body["fhirAuthorization"]
    resp = post_json(client, SERVICE, body)
    assert resp.status_code == 412
    assert resp.get_json()["issue"][0]["expression"] == ["prefetch.observations"]


@responses.activate
def test_paginated_prefetch_follows_next_link(client):
    page2 = load_fixture("hooks/fhir-server-observations-page2.json")
    responses.get(f"{FHIR}/Observation", json=page2)
    resp = post_json(client, SERVICE, load_fixture("hooks/patient-view-paginated.json"))
    assert resp.status_code == 200
    # One call for page 2; the others ask for the optional keys the fixture leaves out (none answered here).
    assert [c.request.url.split("?")[0] for c in responses.calls] == [
        f"{FHIR}/Observation", *(f"{FHIR}/{resource_type}" for resource_type in optional_types())]
    assert responses.calls[0].request.headers["Authorization"].startswith("Bearer ")
    pce = cards_by_source(resp.get_json())["pce-2013"]
    # Smoking status came from page 2: without it the PCE would be a "data needed" card.
    assert not pce["summary"].startswith("Data needed") and "current smoker" in pce["detail"]


def test_missing_lipids_gives_one_data_needed_card_with_order_suggestion(client):
    resp = post_json(client, SERVICE, load_fixture("hooks/patient-view-missing-lipids.json"))
    assert resp.status_code == 200
    cards = resp.get_json()["cards"]
    needed = [c for c in cards if c["summary"].startswith("Data needed")]
    assert len(needed) == 1
    card = needed[0]
    assert card["indicator"] == "info"
    assert "cholesterol" in card["summary"].lower()
    assert card["selectionBehavior"] == "any"
    resource = card["suggestions"][0]["actions"][0]["resource"]
    assert resource["resourceType"] == "ServiceRequest"
    assert resource["status"] == "draft"
    assert resource["subject"] == {"reference": "Patient/no-lipids"}


# -- errors -----------------------------------------------------------------------------------------------------------
def test_unknown_service_is_404(client):
    resp = post_json(client, "/cds-services/nope", load_fixture("hooks/patient-view-prefetch.json"))
    assert resp.status_code == 404


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe", b"[1, 2]", b"null", b"[" * 100000])
def test_bad_json_is_400(client, raw):
    resp = client.post(SERVICE, data=raw, content_type="application/json")
    assert resp.status_code == 400


def test_missing_context_field_is_400_naming_it(client):
    body = load_fixture("hooks/patient-view-prefetch.json")
    del body["context"]["patientId"]
    resp = post_json(client, SERVICE, body)
    assert resp.status_code == 400
    expressions = [e for i in resp.get_json()["issue"] for e in i.get("expression", [])]
    assert "context.patientId" in expressions


def test_bad_hook_instance_is_400(client):
    body = load_fixture("hooks/patient-view-prefetch.json")
    body["hookInstance"] = "not-a-uuid"
    resp = post_json(client, SERVICE, body)
    assert resp.status_code == 400
    assert any("hookInstance" in e for i in resp.get_json()["issue"] for e in i.get("expression", []))


def test_fhir_authorization_without_fhir_server_is_400(client):
    body = load_fixture("hooks/patient-view-no-prefetch.json")
    del body["fhirServer"]
    assert post_json(client, SERVICE, body).status_code == 400


def test_wrong_hook_for_service_is_400(client):
    body = load_fixture("hooks/patient-view-prefetch.json")
    body["hook"] = "order-select"
    body["context"].update({"selections": ["MedicationRequest/x"],
                            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": []}})
    resp = post_json(client, SERVICE, body)
    assert resp.status_code == 400
    assert resp.get_json()["issue"][0]["expression"] == ["hook"]


def test_wrong_content_type_is_415(client):
    resp = client.post(SERVICE, data="hello", content_type="text/plain")
    assert resp.status_code == 415


def test_body_over_limit_is_413(app):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    from tests.conftest import CheckedClient

    client = CheckedClient(app.test_client())
    resp = post_json(client, SERVICE, load_fixture("hooks/patient-view-prefetch.json"))
    assert resp.status_code == 413


def test_get_on_hook_endpoint_is_405(client):
    resp = client.get(SERVICE)
    assert resp.status_code == 405


def test_no_prefetch_and_no_fhir_server_is_412(client):
    body = load_fixture("hooks/patient-view-no-prefetch.json")
    del body["fhirServer"], body["fhirAuthorization"]
    resp = post_json(client, SERVICE, body)
    assert resp.status_code == 412


@responses.activate
def test_fhir_server_5xx_is_412(client):
    responses.get(re.compile(r"https://ehr\.example\.org/.*"), status=503)
    resp = post_json(client, SERVICE, load_fixture("hooks/patient-view-no-prefetch.json"))
    assert resp.status_code == 412
    assert "Traceback" not in resp.get_data(as_text=True)


@responses.activate
def test_fhir_server_timeout_is_412(client):
    responses.get(re.compile(r"https://ehr\.example\.org/.*"), body=requests.exceptions.ReadTimeout("slow"))
    resp = post_json(client, SERVICE, load_fixture("hooks/patient-view-no-prefetch.json"))
    assert resp.status_code == 412


@responses.activate
def test_token_never_in_error_body(client):
    responses.get(re.compile(r"https://ehr\.example\.org/.*"), status=500)
    resp = post_json(client, SERVICE, load_fixture("hooks/patient-view-no-prefetch.json"))
    assert "fixture-access-token" not in resp.get_data(as_text=True)


def test_engine_failure_does_not_fail_the_hook(client, monkeypatch):
    from engine.registry import calculators

    engine = calculators.get("pce-2013")
    monkeypatch.setattr(type(engine), "evaluate", lambda self, features: 1 / 0)
    resp = post_json(client, SERVICE, load_fixture("hooks/patient-view-prefetch.json"))
    assert resp.status_code == 200
    cards = cards_by_source(resp.get_json())
    assert "not available" in cards["pce-2013"]["summary"]
    assert "prevent-2024-base" in cards
