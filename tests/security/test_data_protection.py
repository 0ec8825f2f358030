"""Data protection: which fhirServer the service may call (no SSRF, https only), CORS for configured origins only,
body limits and content types under authentication, and an audit trail without patient data."""
from __future__ import annotations

import json
import re

import pytest
import responses

from cds_hooks import audit
from cds_hooks.app import create_app
from cds_hooks.fhir_server_policy import refusal_reason
from cds_hooks.store import metadata, store_of
from tests.conftest import CheckedClient, load_fixture
from tests.security.jwt_helpers import (FHIR_BASE, ISSUER, PUBLIC_BASE, Signer, auth_config, bearer,
                                        issuer_config)

SERVICE = "/cds-services/cardiovascular-risk"
SIGNER = Signer("ES384", kid="dp-key")


def make_client(tmp_path, **overrides) -> CheckedClient:
    issuers = {ISSUER: issuer_config(SIGNER, fhir_servers=overrides.pop("fhir_servers", [FHIR_BASE]))}
    return CheckedClient(create_app(auth_config(tmp_path, issuers, **overrides)).test_client())


def cardiovascular_prefetch() -> dict[str, str]:
    from cds_hooks.declaration import SERVICES
    from cds_hooks.services import load_all

    load_all()
    return SERVICES.get("cardiovascular-risk").prefetch


def post_hook(client, body, path=SERVICE, **kwargs):
    headers = bearer(SIGNER.token(PUBLIC_BASE + path))
    return client.post(path, data=json.dumps(body), content_type="application/json", headers=headers, **kwargs)


def mock_fhir_server(rsps, base=FHIR_BASE):
    data = load_fixture("hooks/fhir-server-patient-a.json")
    rsps.get(f"{base}/Patient/{data['Patient']['id']}", json=data["Patient"])
    for resource_type, key in (("Observation", "observations"), ("Condition", "conditions"),
                               ("MedicationRequest", "medications")):
        rsps.get(re.compile(re.escape(f"{base}/{resource_type}?")), json=data[key])
    empty = {"resourceType": "Bundle", "type": "searchset"}
    for resource_type in ("MedicationStatement", "AllergyIntolerance", "Procedure"):  # optional keys: none on file
        rsps.get(re.compile(re.escape(f"{base}/{resource_type}?")), json=empty)


# -- the fhirServer allowlist -------------------------------------------------------------------------------------
@pytest.mark.parametrize("server, allowed, reason", [
    ("https://ehr.example.org/fhir", ["https://ehr.example.org/fhir"], None),
    ("https://ehr.example.org/fhir/", ["https://ehr.example.org/fhir"], None),
    ("https://EHR.example.org:443/fhir", ["https://ehr.example.org/fhir"], None),
    ("https://ehr.example.org/fhir/tenant-a", ["https://ehr.example.org/fhir"], None),
    ("https://ehr.example.org/fhirx", ["https://ehr.example.org/fhir"], "allowlist"),
    ("https://ehr.example.org/fhir/../admin", ["https://ehr.example.org/fhir"], "absolute"),
    ("https://ehr.example.org/fhir/%2e%2e/admin", ["https://ehr.example.org/fhir"], "absolute"),
    ("https://ehr.example.org:8443/fhir", ["https://ehr.example.org/fhir"], "allowlist"),
    ("https://ehr.example.org@169.254.169.254/fhir", ["https://ehr.example.org/fhir"], "absolute"),
    ("https://ehr.example.org.evil.example/fhir", ["https://ehr.example.org/fhir"], "allowlist"),
    ("https://169.254.169.254/latest/meta-data", ["https://ehr.example.org/fhir"], "allowlist"),
    ("http://ehr.example.org/fhir", ["http://ehr.example.org/fhir"], "https"),
    ("https://ehr.example.org/fhir?x=1", ["https://ehr.example.org/fhir"], "absolute"),
    ("ftp://ehr.example.org/fhir", ["https://ehr.example.org/fhir"], "absolute"),
    ("HTTPS://ehr.example.org/fhir", ["https://ehr.example.org/fhir"], None),
    ("HTTP://ehr.example.org/fhir", ["http://ehr.example.org/fhir"], "https"),
    ("https://ehr.example.org/fhir", [], "allowlist"),
])
def test_fhir_server_refusal_reason(server, allowed, reason):
    got = refusal_reason(server, dev_mode=False, allowed=allowed)
    assert (got is None) if reason is None else (reason in got)


def test_dev_mode_allows_http_but_not_other_schemes():
    assert refusal_reason("http://localhost:8081/fhir", dev_mode=True, allowed=()) is None
    assert refusal_reason("file:///etc/passwd", dev_mode=True, allowed=()) is not None


@responses.activate
def test_allowed_fhir_server_is_fetched_with_the_token(tmp_path):
    mock_fhir_server(responses)
    resp = post_hook(make_client(tmp_path), load_fixture("hooks/patient-view-no-prefetch.json"))
    assert resp.status_code == 200
    assert len(responses.calls) == len(cardiovascular_prefetch())  # one read per declared key
    assert all(c.request.headers["Authorization"] == "Bearer fixture-access-token-not-a-secret"
               for c in responses.calls)


@responses.activate
@pytest.mark.parametrize("spelled", ["HTTPS://ehr.example.org/fhir", "Https://EHR.example.org/fhir"])
def test_the_fhir_server_scheme_and_host_are_case_insensitive(tmp_path, spelled):
    # RFC 3986: scheme and host are case-insensitive. The allowlisted server in another case is that server.
    mock_fhir_server(responses)
    body = load_fixture("hooks/patient-view-no-prefetch.json")
    body["fhirServer"] = spelled
    resp = post_hook(make_client(tmp_path), body)
    assert resp.status_code == 200, resp.get_json()
    assert len(responses.calls) == len(cardiovascular_prefetch())
    assert all(c.request.url.startswith(FHIR_BASE + "/") for c in responses.calls)


@pytest.mark.parametrize("scheme", ["FTP", "File", "HTTPX", "Gopher"])
def test_other_schemes_in_any_case_are_400(tmp_path, scheme):
    body = load_fixture("hooks/patient-view-no-prefetch.json")
    body["fhirServer"] = f"{scheme}://ehr.example.org/fhir"
    resp = post_hook(make_client(tmp_path), body)
    assert resp.status_code == 400
    assert resp.get_json()["issue"][0]["expression"] == ["fhirServer"]


@responses.activate
def test_fhir_server_off_the_allowlist_is_never_contacted_and_answers_412(tmp_path):
    mock_fhir_server(responses, base="https://internal.example.org/fhir")
    body = load_fixture("hooks/patient-view-no-prefetch.json")
    body["fhirServer"] = "https://internal.example.org/fhir"
    resp = post_hook(make_client(tmp_path), body)
    assert resp.status_code == 412
    assert "allowlist" in resp.get_json()["issue"][0]["diagnostics"]
    assert len(responses.calls) == 0


@responses.activate
def test_http_fhir_server_is_refused_outside_dev_mode_even_when_listed(tmp_path):
    mock_fhir_server(responses, base="http://ehr.example.org/fhir")
    body = load_fixture("hooks/patient-view-no-prefetch.json")
    body["fhirServer"] = "http://ehr.example.org/fhir"
    resp = post_hook(make_client(tmp_path, fhir_servers=["http://ehr.example.org/fhir"]), body)
    assert resp.status_code == 412
    assert "https" in resp.get_json()["issue"][0]["diagnostics"]
    assert len(responses.calls) == 0


@responses.activate
def test_http_fhir_server_is_used_in_dev_mode(tmp_path):
    mock_fhir_server(responses, base="http://localhost:8081/fhir")
    body = load_fixture("hooks/patient-view-no-prefetch.json")
    body["fhirServer"] = "http://localhost:8081/fhir"
    client = CheckedClient(create_app({"DEV_MODE": True, "DATA_DIR": str(tmp_path), "AS_OF": "2026-06-01",
                                       "FHIR_RETRIES": 0}).test_client())
    resp = client.post(SERVICE, data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 200
    assert len(responses.calls) == len(cardiovascular_prefetch())  # one read per declared key


@responses.activate
def test_refused_fhir_server_does_not_matter_when_prefetch_is_complete(tmp_path):
    body = load_fixture("hooks/patient-view-prefetch.json")
    body["fhirServer"] = "https://internal.example.org/fhir"
    body["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": 60, "scope": "x",
                                 "subject": "precision-cds"}
    resp = post_hook(make_client(tmp_path), body)
    assert resp.status_code == 200
    assert len(responses.calls) == 0


def test_refused_fhir_server_with_an_invalid_request_is_still_a_400(tmp_path):
    body = load_fixture("hooks/patient-view-no-prefetch.json")
    body["fhirServer"] = "https://internal.example.org/fhir"
    del body["context"]["patientId"]
    assert post_hook(make_client(tmp_path), body).status_code == 400


@responses.activate
def test_next_link_to_another_host_is_not_followed(tmp_path):
    """A prefetched Bundle whose next link points off the allowed server must not become an SSRF."""
    responses.get(re.compile(r"https://internal\.example\.org/.*"), json={"resourceType": "Bundle",
                                                                          "type": "searchset"})
    body = load_fixture("hooks/patient-view-paginated.json")
    for link in body["prefetch"]["observations"].get("link", []):
        if link.get("relation") == "next":
            link["url"] = "https://internal.example.org/secret?page=2"
    resp = post_hook(make_client(tmp_path), body)
    assert resp.status_code in (200, 412)
    assert not [c for c in responses.calls if "internal.example.org" in c.request.url]


# -- CORS ---------------------------------------------------------------------------------------------------------
PREFLIGHT = {"Origin": "https://ehr-ui.example.org", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}


def test_preflight_from_a_configured_origin_is_answered_without_a_token(tmp_path):
    client = make_client(tmp_path, CORS_ORIGINS=["https://ehr-ui.example.org"])
    resp = client.options(SERVICE, headers=PREFLIGHT)
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "https://ehr-ui.example.org"
    allowed_headers = resp.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in resp.headers
    # The real call that follows still needs its JWT, and carries the CORS header.
    resp = client.post(SERVICE, data="{}", content_type="application/json",
                       headers={"Origin": "https://ehr-ui.example.org"})
    assert resp.status_code == 401


def test_actual_request_from_a_configured_origin_gets_the_cors_header(tmp_path):
    client = make_client(tmp_path, CORS_ORIGINS=["https://ehr-ui.example.org"])
    headers = {**bearer(SIGNER.token(PUBLIC_BASE + "/cds-services")), "Origin": "https://ehr-ui.example.org"}
    resp = client.get("/cds-services", headers=headers)
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "https://ehr-ui.example.org"


def test_other_origins_get_no_cors_headers(tmp_path):
    client = make_client(tmp_path, CORS_ORIGINS=["https://ehr-ui.example.org"])
    resp = client.options(SERVICE, headers={**PREFLIGHT, "Origin": "https://evil.example.org"})
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_no_cors_unless_configured(tmp_path):
    resp = make_client(tmp_path).options(SERVICE, headers=PREFLIGHT)
    assert "Access-Control-Allow-Origin" not in resp.headers


SANDBOX = "https://sandbox.cds-hooks.org"


def test_dev_mode_allows_any_origin_and_says_so(tmp_path, caplog):
    """The CDS Hooks Sandbox in a browser: its preflight, its discovery call and its hook call all pass CORS."""
    with caplog.at_level("WARNING", logger="cds_hooks.cors"):
        client = CheckedClient(create_app({"DEV_MODE": True, "DATA_DIR": str(tmp_path), "WARM_MODELS": False,
                                           "AS_OF": "2026-06-01"}).test_client())
    assert any("CORS allows every origin" in r.getMessage() for r in caplog.records)
    preflight = client.options(SERVICE, headers={**PREFLIGHT, "Origin": SANDBOX})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "content-type" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in preflight.headers  # credentials travel in a header
    discovery = client.get("/cds-services", headers={"Origin": SANDBOX})
    assert discovery.status_code == 200 and discovery.headers["Access-Control-Allow-Origin"] == "*"
    hook = client.post(SERVICE, data=json.dumps(load_fixture("hooks/patient-view-prefetch.json")),
                       content_type="application/json", headers={"Origin": SANDBOX})
    assert hook.status_code == 200 and hook.headers["Access-Control-Allow-Origin"] == "*"
    assert hook.get_json()["cards"]


def test_dev_mode_keeps_configured_origins_only(tmp_path):
    client = CheckedClient(create_app({"DEV_MODE": True, "DATA_DIR": str(tmp_path), "WARM_MODELS": False,
                                       "CORS_ORIGINS": ["https://ehr-ui.example.org"]}).test_client())
    resp = client.options(SERVICE, headers={**PREFLIGHT, "Origin": SANDBOX})
    assert "Access-Control-Allow-Origin" not in resp.headers


# -- body limit and content type, with authentication on -----------------------------------------------------
def test_body_over_limit_is_413(tmp_path):
    client = make_client(tmp_path, MAX_BODY_BYTES=2000)
    app = client.raw().application
    app.config["MAX_CONTENT_LENGTH"] = 2000
    resp = post_hook(client, load_fixture("hooks/patient-view-prefetch.json"))
    assert resp.status_code == 413


def test_wrong_content_type_is_415(tmp_path):
    client = make_client(tmp_path)
    resp = client.post(SERVICE, data="hello", content_type="text/plain",
                       headers=bearer(SIGNER.token(PUBLIC_BASE + SERVICE)))
    assert resp.status_code == 415


# -- the audit trail ----------------------------------------------------------------------------------------------
def test_each_hook_call_is_audited_without_patient_data(database):
    client = make_client(database.data_dir, **database.settings)
    app = client.raw().application
    body = load_fixture("hooks/patient-view-prefetch.json")
    ok = post_hook(client, body)
    assert ok.status_code == 200
    bad = dict(body, hookInstance="not-a-uuid")
    assert post_hook(client, bad).status_code == 400
    client.post(SERVICE, data="{}", content_type="application/json")  # 401: not audited

    audit.flush(app)  # written off the request path, in batches (cds_hooks/audit_writer.py)
    events = store_of(app).audit_events()
    assert [e["status"] for e in events] == [200, 400]
    first = events[0]
    assert first["service_id"] == "cardiovascular-risk"
    assert first["hook_instance"] == body["hookInstance"]
    assert first["issuer"] == ISSUER
    assert first["card_count"] == len(ok.get_json()["cards"]) > 0
    assert first["latency_ms"] > 0
    assert events[1]["hook_instance"] is None  # not a uuid: not stored

    # Every card is linked to its findings and engines.
    for card in ok.get_json()["cards"]:
        origin = store_of(app).card_origin(card["uuid"], service_id="cardiovascular-risk", issuer=ISSUER)
        assert origin is not None and origin.finding_ids and origin.engine_ids

    # Nothing from the record is in any table (no explainer evidence here: no EXPLAINER_SECRET, no links) ...
    secrets = ("pce-example-man", "1971-01-15", "Practitioner/dr-lee", "mg/dL")
    with store_of(app).engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = repr(conn.execute(table.select()).all())
            assert not any(secret in rows for secret in secrets), table.name
    store_of(app).dispose()
    # ... nor, on SQLite, anywhere in the database files.
    if database.backend == "sqlite":
        raw = b"".join(p.read_bytes() for p in database.data_dir.glob("precision-cds.sqlite3*"))
        for secret in secrets:
            assert secret.encode() not in raw
