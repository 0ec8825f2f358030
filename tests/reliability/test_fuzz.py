"""Property-based fuzzing of every endpoint: whatever arrives, the answer is a 4xx OperationOutcome (or a valid 200),
never a 5xx and never a hang.

Bodies: arbitrary JSON, random bytes, deep nesting, huge strings, valid hook requests and feedback with one part
replaced by junk (unknown hooks, invalid prefetch shapes, wrong types), odd content types; forged JWTs against an
app with authentication on. Examples are bounded and derandomised so the file runs in well under 30 s in CI; no
example reaches the network (``responses`` answers every FHIR request with a connection error).
"""
from __future__ import annotations

import copy
import json
import os

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_hooks.app import create_app
from cds_hooks.validation import validate_discovery, validate_response
from tests.conftest import load_fixture
from tests.security.jwt_helpers import ISSUER, Signer, auth_config, b64json, issuer_config

SERVICE = "/cds-services/cardiovascular-risk"
FEEDBACK = SERVICE + "/feedback"
# CI: a fixed, bounded run. A deeper random hunt:
#   FUZZ_EXAMPLES=2000 FUZZ_RANDOM=1 python -m pytest tests/reliability/test_fuzz.py
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=None,
                derandomize=not os.environ.get("FUZZ_RANDOM"), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

scalars = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=25)
junk = json_values | st.sampled_from(["", "x" * 200_000, "urn:uuid:" + "0" * 36, "Patient/../../etc",
                                      "http://169.254.169.254/latest", {"resourceType": "OperationOutcome"},
                                      {"resourceType": "Bundle", "entry": [None, 1, {"resource": []}]},
                                      {"resourceType": "Bundle", "link": [{"relation": "next", "url": 5}]}])

HOOK_PATHS = [("hook",), ("hookInstance",), ("fhirServer",), ("fhirAuthorization",), ("fhirAuthorization", "scope"),
              ("context",), ("context", "patientId"), ("context", "userId"), ("context", "encounterId"),
              ("prefetch",), ("prefetch", "patient"), ("prefetch", "observations"),
              ("prefetch", "observations", "entry"), ("prefetch", "patient", "birthDate"),
              ("prefetch", "patient", "gender"), ("prefetch", "conditions"), ("extension",), ("unknown-field",)]
FEEDBACK_PATHS = [("feedback",), ("feedback", 0), ("feedback", 0, "card"), ("feedback", 0, "outcome"),
                  ("feedback", 0, "outcomeTimestamp"), ("feedback", 0, "overrideReason"),
                  ("feedback", 0, "acceptedSuggestions"), ("feedback", 0, "extension"), ("extension",)]


def mutate(document: dict, path: tuple, value, delete: bool) -> dict:
    doc = copy.deepcopy(document)
    target = doc
    for step in path[:-1]:
        try:
            target = target[step]
        except (KeyError, IndexError, TypeError):
            return doc
    if not isinstance(target, (dict, list)):
        return doc
    try:
        if delete:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass
    return doc


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app({"DEV_MODE": True, "DATA_DIR": str(tmp_path_factory.mktemp("fuzz")), "AS_OF": "2026-06-01",
                      "FHIR_RETRIES": 0, "FHIR_DEADLINE_S": 1.0, "FHIR_READ_TIMEOUT_S": 0.5,
                      "FHIR_CONNECT_TIMEOUT_S": 0.5})
    return app.test_client()


def check(resp) -> None:
    assert resp.status_code < 500, resp.get_data(as_text=True)[:300]
    body = resp.get_json(silent=True)
    assert isinstance(body, dict), resp.data[:200]
    if resp.status_code >= 400:
        assert body.get("resourceType") == "OperationOutcome" and body.get("issue"), body
    elif "cards" in body:
        assert not validate_response(body)
    elif "services" in body:
        assert not validate_discovery(body)


def post(client, url, data, content_type="application/json"):
    with responses.RequestsMock(assert_all_requests_are_fired=False):  # any FHIR call: connection refused
        return client.post(url, data=data, content_type=content_type)


# -- hook requests ------------------------------------------------------------------------------------------------
@FUZZ
@given(path=st.sampled_from(HOOK_PATHS), value=junk, delete=st.booleans(),
       fixture=st.sampled_from(["patient-view-prefetch.json", "patient-view-no-prefetch.json",
                                "patient-view-paginated.json"]))
def test_mutated_hook_requests(client, path, value, delete, fixture):
    body = mutate(load_fixture(f"hooks/{fixture}"), path, value, delete)
    check(post(client, SERVICE, json.dumps(body)))


@FUZZ
@given(body=json_values)
def test_arbitrary_json_bodies(client, body):
    check(post(client, SERVICE, json.dumps(body)))


@FUZZ
@given(raw=st.binary(max_size=300), content_type=st.sampled_from(
    ["application/json", "application/fhir+json", "text/plain", "application/x-www-form-urlencoded", ""]))
def test_random_bytes_and_content_types(client, raw, content_type):
    check(post(client, SERVICE, raw, content_type))


@FUZZ
@given(depth=st.integers(min_value=1, max_value=200_000), opener=st.sampled_from(["[", '{"a":']))
def test_deep_nesting(client, depth, opener):
    check(post(client, SERVICE, opener * depth))


@FUZZ
@given(hook=st.text(max_size=60), service=st.text(max_size=40))
def test_unknown_hooks_and_services(client, hook, service):
    body = load_fixture("hooks/patient-view-prefetch.json")
    body["hook"] = hook
    check(post(client, SERVICE, json.dumps(body)))
    check(post(client, "/cds-services/" + service.replace("/", "_").replace("?", "_").replace("#", "_"),
               json.dumps(body)))


# -- discovery ----------------------------------------------------------------------------------------------------
@FUZZ
@given(query=st.text(max_size=60), method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
       suffix=st.sampled_from(["", "/", "//", "/cardiovascular-risk/feedback/x"]))
def test_discovery_and_other_methods(client, query, method, suffix):
    from urllib.parse import quote

    resp = client.open("/cds-services" + suffix + "?q=" + quote(query), method=method, data=b"{}",
                       content_type="application/json")
    check(resp)


# -- feedback -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def valid_feedback(client) -> dict:
    """Feedback accepting the suggestion of a card the service issued (so unmutated parts pass the binding check)."""
    body = json.dumps(load_fixture("hooks/patient-view-missing-lipids.json"))
    card = client.post(SERVICE, data=body, content_type="application/json").get_json()["cards"][0]
    return {"feedback": [{"card": card["uuid"], "outcome": "accepted",
                          "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                          "outcomeTimestamp": "2026-06-01T10:00:00Z"}]}


@FUZZ
@given(path=st.sampled_from(FEEDBACK_PATHS), value=junk, delete=st.booleans())
def test_mutated_feedback(client, valid_feedback, path, value, delete):
    check(post(client, FEEDBACK, json.dumps(mutate(valid_feedback, path, value, delete))))


@FUZZ
@given(body=json_values)
def test_arbitrary_feedback_bodies(client, body):
    check(post(client, FEEDBACK, json.dumps(body)))


# -- forged tokens against authentication ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def auth_client(tmp_path_factory):
    signer = Signer("ES384", kid="fuzz")
    app = create_app(auth_config(tmp_path_factory.mktemp("fuzz-auth"), {ISSUER: issuer_config(signer)}))
    return app.test_client()


@FUZZ
@given(header=st.dictionaries(st.sampled_from(["alg", "typ", "kid", "jku", "crit", "x5u", "jwk"]), json_values,
                              max_size=5),
       payload=st.dictionaries(st.sampled_from(["iss", "aud", "exp", "iat", "jti", "sub", "tenant", "nbf"]),
                               json_values, max_size=8),
       signature=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=120),
       scheme=st.sampled_from(["Bearer", "bearer", "Basic", ""]))
def test_forged_tokens_are_always_a_bare_401(auth_client, header, payload, signature, scheme):
    token = f"{b64json(header)}.{b64json(payload)}.{signature}"
    resp = auth_client.get("/cds-services", headers={"Authorization": f"{scheme} {token}"})
    assert resp.status_code == 401
    assert resp.data == b""


@FUZZ
@given(value=st.text(max_size=300))
def test_arbitrary_authorization_headers_are_401(auth_client, value):
    value = value.encode("latin-1", "replace").decode("latin-1").replace("\n", " ").replace("\r", " ")
    resp = auth_client.get("/cds-services", headers={"Authorization": value})
    assert resp.status_code == 401
