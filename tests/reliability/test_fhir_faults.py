"""A failing FHIR server never makes the service fail or hang: timeouts, 5xx, invalid JSON, bodies that are not
FHIR, a `next` link that loops, a search far larger than the page cap, a server that trickles pages.

Every case ends in a 412 OperationOutcome or a 200 with the data that could be read, within the configured
deadline (FHIR_DEADLINE_S = 2 s in the test app) plus a small margin for the test machine.
"""
from __future__ import annotations

import json
import re
import time

import pytest
import requests
import responses

from tests.conftest import load_fixture

FHIR = "https://ehr.example.org/fhir"
SERVICE = "/cds-services/cardiovascular-risk"
DEADLINE_S = 2.0  # tests/conftest.py app fixture
MARGIN_S = 1.5
OBSERVATIONS = re.compile(re.escape(f"{FHIR}/Observation"))


def serve_everything_but_observations(rsps):
    data = load_fixture("hooks/fhir-server-patient-a.json")
    rsps.get(f"{FHIR}/Patient/{data['Patient']['id']}", json=data["Patient"])
    rsps.get(re.compile(re.escape(f"{FHIR}/Condition?")), json=data["conditions"])
    rsps.get(re.compile(re.escape(f"{FHIR}/MedicationRequest?")), json=data["medications"])
    return data


def call(client):
    started = time.monotonic()
    resp = client.post(SERVICE, data=json.dumps(load_fixture("hooks/patient-view-no-prefetch.json")),
                       content_type="application/json")
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE_S + MARGIN_S, f"took {elapsed:.2f} s"
    assert resp.status_code in (200, 412), resp.get_data(as_text=True)[:300]
    assert "Traceback" not in resp.get_data(as_text=True)
    return resp


def searchset(entries, next_url=None) -> dict:
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def observation(index: int) -> dict:
    return {"fullUrl": f"{FHIR}/Observation/o{index}",
            "resource": {"resourceType": "Observation", "id": f"o{index}", "status": "final",
                         "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                         "subject": {"reference": "Patient/pce-example-man"},
                         "effectiveDateTime": "2026-01-01T00:00:00Z",
                         "valueQuantity": {"value": 120 + index % 20, "unit": "mm[Hg]",
                                           "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
            "search": {"mode": "match"}}


@pytest.mark.parametrize("fault", [
    requests.exceptions.ReadTimeout("read timed out"),
    requests.exceptions.ConnectTimeout("connect timed out"),
    requests.exceptions.ConnectionError("connection refused"),
    requests.exceptions.SSLError("bad certificate"),
])
@responses.activate
def test_network_faults_are_412(client, fault):
    serve_everything_but_observations(responses)
    responses.get(OBSERVATIONS, body=fault)
    assert call(client).status_code == 412


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 502, 503, 504])
@responses.activate
def test_error_statuses_are_412(client, status):
    serve_everything_but_observations(responses)
    responses.get(OBSERVATIONS, status=status, json={"resourceType": "OperationOutcome", "issue": []})
    resp = call(client)
    assert resp.status_code == 412
    assert resp.get_json()["issue"][0]["expression"] == ["prefetch.observations"]


@pytest.mark.parametrize("body, content_type", [
    ("{not json", "application/fhir+json"),
    ("<html><body>Login</body></html>", "text/html"),
    ("", "application/fhir+json"),
    ("[1, 2, 3]", "application/json"),
    ('{"hello": "world"}', "application/json"),
    ('{"resourceType": 7}', "application/fhir+json"),
    ('{"resourceType": "Patient", "id": "x"}', "application/fhir+json"),  # a search must return a Bundle
    ('{"resourceType": "Bundle", "type": "searchset", "entry": "oops"}', "application/fhir+json"),
    ('{"resourceType": "Bundle", "type": "searchset", "entry": [1, null, {"resource": "x"}]}', "application/json"),
    ("\xff\xfe\x00", "application/fhir+json"),
    ("[" * 50000, "application/fhir+json"),
], ids=["invalid-json", "html", "empty", "json-array", "json-not-fhir", "resourceType-not-a-string",
        "wrong-resource-type", "entry-not-a-list", "entries-not-objects", "bad-bytes", "deep-nesting"])
@responses.activate
def test_bodies_that_are_not_fhir_are_412_or_ignored(client, body, content_type):
    serve_everything_but_observations(responses)
    responses.get(OBSERVATIONS, body=body, content_type=content_type)
    call(client)


@responses.activate
def test_patient_read_answering_another_resource_type_is_412(client):
    data = serve_everything_but_observations(responses)
    responses.replace(responses.GET, f"{FHIR}/Patient/{data['Patient']['id']}",
                      json={"resourceType": "Observation", "id": "x", "status": "final", "code": {}})
    responses.get(OBSERVATIONS, json=data["observations"])
    assert call(client).status_code == 412


@responses.activate
def test_next_link_that_loops_stops(client):
    data = serve_everything_but_observations(responses)
    looping = dict(data["observations"], link=[{"relation": "next", "url": f"{FHIR}/Observation?page=same"}])
    responses.get(OBSERVATIONS, json=looping)
    call(client)
    assert len(responses.calls) < 20  # not following the loop to the deadline


@responses.activate
def test_search_far_larger_than_the_page_cap_is_truncated(client):
    data = serve_everything_but_observations(responses)
    pages_served = []

    def page(request):
        number = len(pages_served) + 1
        pages_served.append(number)
        entries = list(data["observations"]["entry"]) if number == 1 else [observation(number * 10 + i)
                                                                          for i in range(10)]
        body = searchset(entries, next_url=f"{FHIR}/Observation?_page={number + 1}")  # 1000 pages exist
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(body)

    responses.add_callback(responses.GET, OBSERVATIONS, callback=page)
    resp = call(client)
    assert resp.status_code == 200  # a partial answer from the pages read
    assert len(pages_served) <= 10  # FHIR_PAGE_CAP
    assert resp.get_json()["cards"]


@responses.activate
def test_one_enormous_page_is_capped(client):
    data = serve_everything_but_observations(responses)
    huge = searchset(list(data["observations"]["entry"]) + [observation(i) for i in range(8000)])
    responses.get(OBSERVATIONS, json=huge)
    resp = call(client)
    assert resp.status_code in (200, 412)


@responses.activate
def test_a_server_that_trickles_pages_is_cut_off_at_the_deadline(client):
    data = serve_everything_but_observations(responses)

    def slow_page(request):
        time.sleep(0.4)
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(
            searchset(list(data["observations"]["entry"]), next_url=f"{FHIR}/Observation?_page=n{time.time()}"))

    responses.add_callback(responses.GET, OBSERVATIONS, callback=slow_page)
    call(client)  # asserts it answered within the deadline (+ margin)
