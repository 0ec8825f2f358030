"""The Bulk Data client against a mocked FHIR server (responses): kick-off at each level, polling that honours
Retry-After, downloads with and without the token, SMART Backend Services tokens, and every error path."""
from __future__ import annotations

import json
from urllib.parse import parse_qs

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import requests

from population.bulk_export import BulkDataClient, BulkExportError, ExportRequest, retry_after_seconds
from population.smart_auth import (ASSERTION_TYPE, AuthError, BackendServicesCredentials, BackendServicesToken,
                                   StaticToken, discover_token_url)

BASE = "https://fhir.example.org/r4"
STATUS = "https://fhir.example.org/r4/bulkstatus/42"
TOKEN_URL = "https://auth.example.org/token"
OUTCOME = {"resourceType": "OperationOutcome",
           "issue": [{"severity": "error", "code": "processing", "diagnostics": "Group 7 is not known"}]}
PATIENT_LINE = json.dumps({"resourceType": "Patient", "id": "p1"}) + "\n"


def manifest(requires_token: bool = True, errors: list | None = None) -> dict:
    return {"transactionTime": "2026-06-01T00:00:00Z", "request": f"{BASE}/$export", "requiresAccessToken":
            requires_token, "output": [{"type": "Patient", "url": f"{BASE}/files/p1.ndjson?sig=secret"},
                                       {"type": "Observation", "url": f"{BASE}/files/o1.ndjson"}],
            "error": errors or []}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client(auth=None, clock: Clock | None = None) -> BulkDataClient:
    clock = clock or Clock()
    return BulkDataClient(BASE, auth or StaticToken("tok-1"), sleep=clock.sleep, clock=clock)


@responses.activate
@pytest.mark.parametrize("request_, path", [(ExportRequest(), "/$export"),
                                            (ExportRequest(level="group", group_id="7"), "/Group/7/$export"),
                                            (ExportRequest(level="patient"), "/Patient/$export")])
def test_kick_off_at_each_level_asks_asynchronously_with_the_token(request_, path):
    responses.get(BASE + path, status=202, headers={"Content-Location": STATUS})
    status = client().kick_off(ExportRequest(request_.level, request_.group_id, ("Patient", "Observation"),
                                             "2026-01-01T00:00:00Z"))
    assert status == STATUS
    sent = responses.calls[0].request
    assert sent.headers["Prefer"] == "respond-async" and sent.headers["Accept"] == "application/fhir+json"
    assert sent.headers["Authorization"] == "Bearer tok-1"
    query = parse_qs(sent.url.split("?", 1)[1])
    assert query["_type"] == ["Patient,Observation"] and query["_since"] == ["2026-01-01T00:00:00Z"]
    assert query["_outputFormat"] == ["application/fhir+ndjson"]


@responses.activate
@pytest.mark.parametrize("status", [400, 403, 500])
def test_kick_off_errors_carry_the_operation_outcome(status):
    responses.get(BASE + "/Group/7/$export", status=status, json=OUTCOME)
    with pytest.raises(BulkExportError, match=f"HTTP {status}.*Group 7 is not known"):
        client().kick_off(ExportRequest(level="group", group_id="7"))


@responses.activate
def test_full_export_polls_with_retry_after_downloads_with_the_token_and_cleans_up(tmp_path):
    clock = Clock()
    responses.get(BASE + "/$export", status=202, headers={"Content-Location": STATUS})
    responses.get(STATUS, status=202, headers={"Retry-After": "7", "X-Progress": "50%"})
    responses.get(STATUS, status=429, headers={"Retry-After": "3"})
    responses.get(STATUS, status=200, json=manifest())
    responses.get(f"{BASE}/files/p1.ndjson", body=PATIENT_LINE)
    responses.get(f"{BASE}/files/o1.ndjson", body="")
    responses.delete(STATUS, status=202)
    progress: list[str] = []
    result = client(clock=clock).export(ExportRequest(types=("Patient",)), tmp_path, on_progress=progress.append)
    assert clock.sleeps == [7.0, 3.0] and progress == ["50%"]
    assert (tmp_path / "Patient.001.ndjson").read_text() == PATIENT_LINE
    assert (tmp_path / "Observation.001.ndjson").exists()
    downloads = [c.request for c in responses.calls if "/files/" in c.request.url]
    assert all(r.headers["Authorization"] == "Bearer tok-1" for r in downloads)
    assert responses.calls[-1].request.method == "DELETE"
    saved = (tmp_path / "manifest.json").read_text()
    assert "sig=secret" not in saved and "tok-1" not in saved  # no signed URL or token is kept
    assert result["requiresAccessToken"] is True


@responses.activate
def test_files_that_need_no_token_are_fetched_without_it_and_error_files_are_kept(tmp_path):
    responses.get(f"{BASE}/files/p1.ndjson", body=PATIENT_LINE)
    responses.get(f"{BASE}/files/o1.ndjson", body="")
    responses.get(f"{BASE}/files/err.ndjson", body=json.dumps(OUTCOME) + "\n")
    paths = client().download(manifest(False, [{"type": "OperationOutcome", "url": f"{BASE}/files/err.ndjson"}]),
                              tmp_path)
    assert [p.name for p in paths] == ["Patient.001.ndjson", "Observation.001.ndjson"]
    assert (tmp_path / "errors" / "OperationOutcome.001.ndjson").exists()
    assert all("Authorization" not in c.request.headers for c in responses.calls)


@responses.activate
def test_the_token_is_not_sent_to_another_origin_over_plain_http(tmp_path):
    bad = manifest()
    bad["output"] = [{"type": "Patient", "url": "http://files.elsewhere.example/p1.ndjson"}]
    with pytest.raises(BulkExportError, match="refusing to send the token"):
        client().download(bad, tmp_path)
    assert not responses.calls


@responses.activate
def test_the_token_is_not_sent_to_another_https_host_unless_allowed(tmp_path):
    other = manifest()
    other["output"] = [{"type": "Patient", "url": "https://files.elsewhere.example/p1.ndjson"}]
    with pytest.raises(BulkExportError, match="refusing to send the token") as caught:
        client().download(other, tmp_path / "a")
    assert not responses.calls and "tok-1" not in str(caught.value)

    responses.get("https://files.elsewhere.example/p1.ndjson", body=PATIENT_LINE)
    clock = Clock()
    allowed = BulkDataClient(BASE, StaticToken("tok-1"), sleep=clock.sleep, clock=clock,
                             token_hosts=["files.elsewhere.example"])
    allowed.download(other, tmp_path / "b")
    assert responses.calls[0].request.headers["Authorization"] == "Bearer tok-1"
    assert (tmp_path / "b" / "Patient.001.ndjson").read_text() == PATIENT_LINE

    other["requiresAccessToken"] = False  # no token needed: fetched without it, wherever it is
    client().download(other, tmp_path / "c")
    assert "Authorization" not in responses.calls[-1].request.headers


@responses.activate
def test_a_status_url_on_another_host_does_not_get_the_token():
    with pytest.raises(BulkExportError, match="refusing to send the token"):
        client().wait("https://status.elsewhere.example/42")
    assert not responses.calls


@responses.activate
def test_retry_after_zero_does_not_poll_in_a_busy_loop():
    clock = Clock()
    for _ in range(3):
        responses.get(STATUS, status=202, headers={"Retry-After": "0"})
    responses.get(STATUS, status=200, json=manifest())
    client(clock=clock).wait(STATUS)
    assert clock.sleeps == [1.0, 1.0, 1.0]


class BrokenStream:
    status_code, reason, headers = 200, "OK", {}

    def iter_content(self, size):
        yield PATIENT_LINE.encode()
        raise requests.exceptions.ChunkedEncodingError("connection broken")

    def close(self):
        pass


class BrokenSession:
    def get(self, url, **kwargs):
        return BrokenStream()


def test_a_connection_broken_mid_download_is_a_clean_error_without_a_part_file(tmp_path):
    broken = BulkDataClient(BASE, StaticToken("tok-1"), session=BrokenSession())
    with pytest.raises(BulkExportError, match=r"download of Patient.001.ndjson was interrupted "
                                              r"\(ChunkedEncodingError\)") as caught:
        broken.download(manifest(), tmp_path)
    assert "sig=secret" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@responses.activate
def test_an_export_refuses_a_folder_holding_an_earlier_export(tmp_path):
    (tmp_path / "Observation.002.ndjson").write_text(PATIENT_LINE)
    with pytest.raises(BulkExportError, match="not empty"):
        client().export(ExportRequest(), tmp_path)
    assert not responses.calls  # refused before the server starts an export


@responses.activate
@pytest.mark.parametrize("status", [404, 410])
def test_an_expired_status_url_says_so(status):
    responses.get(STATUS, status=status, json=OUTCOME)
    with pytest.raises(BulkExportError, match="expired"):
        client().wait(STATUS)


@responses.activate
def test_a_failed_export_reports_the_server_outcome():
    responses.get(STATUS, status=500, json=OUTCOME)
    with pytest.raises(BulkExportError, match="export failed \\(HTTP 500\\): Group 7 is not known"):
        client().wait(STATUS)


@responses.activate
def test_waiting_stops_at_max_wait():
    clock = Clock()
    responses.get(STATUS, status=202, headers={"Retry-After": "60"})
    with pytest.raises(BulkExportError, match="not ready within 100 s"):
        client(clock=clock).wait(STATUS, max_wait_s=100)
    assert clock.sleeps == [60.0]


@responses.activate
def test_a_download_error_names_the_file_not_the_signed_url(tmp_path):
    responses.get(f"{BASE}/files/p1.ndjson", status=403, json=OUTCOME)
    with pytest.raises(BulkExportError) as caught:
        client().download(manifest(), tmp_path)
    assert "Patient.001.ndjson" in str(caught.value) and "sig=secret" not in str(caught.value)
    assert not list(tmp_path.glob("*.ndjson*"))


def test_retry_after_as_seconds_or_http_date():
    assert retry_after_seconds("12", 2.0) == 12.0
    assert retry_after_seconds(None, 2.0) == 2.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", 2.0) == 1.0  # in the past: the minimum interval
    assert retry_after_seconds("0", 2.0) == 1.0
    assert retry_after_seconds("9999", 2.0) == 120.0  # bounded


# -- SMART Backend Services ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ec_key():
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


@responses.activate
def test_backend_services_token_signs_an_assertion_and_is_refreshed_on_401(ec_key, tmp_path):
    pem, public_key = ec_key
    credentials = BackendServicesCredentials("client-9", pem, "kid-1", TOKEN_URL, "ES384", "system/*.read")
    issued = iter(["access-1", "access-2"])
    forms: list[dict] = []

    def token_endpoint(request):
        forms.append({k: v[0] for k, v in parse_qs(request.body).items()})
        return 200, {}, json.dumps({"access_token": next(issued), "token_type": "bearer", "expires_in": 300})

    responses.add_callback(responses.POST, TOKEN_URL, callback=token_endpoint)
    responses.get(STATUS, status=401)
    responses.get(STATUS, status=200, json=manifest())
    auth = BackendServicesToken(credentials)
    assert client(auth=auth).wait(STATUS)["output"]
    assert [c.request.headers.get("Authorization") for c in responses.calls if c.request.url == STATUS] == \
        ["Bearer access-1", "Bearer access-2"]
    form = forms[0]
    assert form["grant_type"] == "client_credentials" and form["client_assertion_type"] == ASSERTION_TYPE
    claims = jwt.decode(form["client_assertion"], public_key, algorithms=["ES384"], audience=TOKEN_URL)
    assert claims["iss"] == claims["sub"] == "client-9" and claims["exp"] - claims["iat"] <= 300
    assert jwt.get_unverified_header(form["client_assertion"])["kid"] == "kid-1"


@responses.activate
def test_a_cached_token_is_reused_until_near_expiry(ec_key):
    pem, _ = ec_key
    now = [1000.0]
    responses.post(TOKEN_URL, json={"access_token": "a", "expires_in": 300})
    auth = BackendServicesToken(BackendServicesCredentials("c", pem, "k", TOKEN_URL, "ES384"), clock=lambda: now[0])
    auth.token(), auth.token()
    assert len(responses.calls) == 1
    now[0] += 280  # within the refresh margin
    auth.token()
    assert len(responses.calls) == 2


@responses.activate
def test_a_refused_client_names_the_oauth_error_only(ec_key):
    pem, _ = ec_key
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client", "error_description": "bad"})
    with pytest.raises(AuthError, match="HTTP 401, invalid_client") as caught:
        BackendServicesToken(BackendServicesCredentials("c", pem, "k", TOKEN_URL, "ES384")).token()
    assert "BEGIN" not in str(caught.value)


@responses.activate
def test_token_endpoint_discovered_from_smart_configuration():
    responses.get(BASE + "/.well-known/smart-configuration", json={"token_endpoint": TOKEN_URL})
    assert discover_token_url(BASE) == TOKEN_URL
    responses.get("https://other.example/.well-known/smart-configuration", status=404)
    with pytest.raises(AuthError, match="--token-url"):
        discover_token_url("https://other.example")


def test_only_smart_algorithms_are_accepted(ec_key):
    with pytest.raises(AuthError):
        BackendServicesCredentials("c", ec_key[0], "k", TOKEN_URL, "HS256")
