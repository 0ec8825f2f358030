"""FHIR client: headers, retries, timeouts, invalid answers, paging, SSRF guard, deadline, log redaction.

Most tests mock HTTP with ``responses`` (which also emulates urllib3 status retries, though not their sleeps);
a few run against a throwaway local HTTP server to exercise the real urllib3 retry/Retry-After path.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, ReadTimeoutError
from urllib3.response import HTTPResponse

from fhir_adapter.client import (
    ClientSettings,
    FhirClient,
    FhirConnectionError,
    FhirDeadlineExceeded,
    FhirError,
    FhirHTTPError,
    FhirInvalidResponse,
    FhirTimeout,
    _deadline_scope,
    _DeadlineRetry,
    _expected_type,
    _RetryWouldMissDeadline,
    _translate,
    client_for,
    redact_url,
)

BASE = "https://ehr.example.org/fhir"
TOKEN = "s3cr3t-token-value"
FAST = ClientSettings(connect_timeout_s=0.5, read_timeout_s=0.5, retries=2, backoff_factor=0.0, deadline_s=2.0,
                      page_cap=3, max_entries=50)
PATIENT = {"resourceType": "Patient", "id": "p1"}


def bundle(resources, next_url=None, outcome=None):
    entries = [{"resource": r, "search": {"mode": "match"}} for r in resources]
    if outcome is not None:
        entries.append({"resource": outcome, "search": {"mode": "outcome"}})
    out = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    if next_url:
        out["link"] = [{"relation": "self", "url": "ignored"}, {"relation": "next", "url": next_url}]
    return out


def obs(n):
    return {"resourceType": "Observation", "id": f"o{n}"}


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


# --- construction, URLs, headers -------------------------------------------------------------------


def test_read_sends_fhir_accept_and_bearer_token(mocked):
    mocked.get(f"{BASE}/Patient/p1", json=PATIENT)
    client = FhirClient(BASE, access_token=TOKEN, settings=FAST)
    assert client.read("Patient/p1") == PATIENT
    sent = mocked.calls[0].request
    assert sent.headers["Accept"] == "application/fhir+json"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"


def test_no_authorization_header_without_token(mocked):
    mocked.get(f"{BASE}/Patient/p1", json=PATIENT)
    FhirClient(BASE, settings=FAST).read("Patient/p1")
    assert "Authorization" not in mocked.calls[0].request.headers


@pytest.mark.parametrize("base", [BASE, BASE + "/", BASE + "//"])
def test_trailing_slash_on_base_does_not_change_the_url(mocked, base):
    mocked.get(f"{BASE}/Patient/p1", json=PATIENT)
    FhirClient(base, settings=FAST).read("/Patient/p1")
    assert mocked.calls[0].request.url == f"{BASE}/Patient/p1"


@pytest.mark.parametrize("base", ["ftp://ehr.example.org/fhir", "ehr.example.org/fhir", "", "https://user:pw@ehr.example.org"])
def test_unusable_base_url_is_refused(base):
    with pytest.raises(FhirError):
        FhirClient(base)


@pytest.mark.parametrize("token", ["abc def", "abc\r\nX-Injected: 1", "tökén"])
def test_unusable_token_is_refused(token):
    with pytest.raises(FhirError):
        FhirClient(BASE, access_token=token)


def test_token_never_in_repr():
    client = FhirClient(BASE, access_token=TOKEN)
    assert TOKEN not in repr(client) and TOKEN not in repr(client.__dict__)


def test_client_for_takes_token_from_fhir_authorization(mocked):
    mocked.get(f"{BASE}/Patient/p1", json=PATIENT)
    client_for(BASE, {"access_token": TOKEN, "token_type": "Bearer"}, FAST).read("Patient/p1")
    client_for(BASE, None, FAST).read("Patient/p1")
    client_for(BASE, {"access_token": ""}, FAST).read("Patient/p1")
    assert mocked.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Authorization" not in mocked.calls[1].request.headers
    assert "Authorization" not in mocked.calls[2].request.headers


# --- status codes and retries ----------------------------------------------------------------------


def test_5xx_is_retried_then_succeeds(mocked):
    mocked.get(f"{BASE}/Patient/p1", status=503)
    mocked.get(f"{BASE}/Patient/p1", status=502)
    mocked.get(f"{BASE}/Patient/p1", json=PATIENT)
    assert FhirClient(BASE, settings=FAST).read("Patient/p1") == PATIENT
    assert len(mocked.calls) == 3


def test_5xx_exhausted_raises_http_error_with_status(mocked):
    mocked.get(f"{BASE}/Patient/p1", status=503)
    with pytest.raises(FhirHTTPError) as info:
        FhirClient(BASE, settings=FAST).read("Patient/p1")
    assert info.value.status == 503
    assert len(mocked.calls) == 3  # first try + retries=2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500])
def test_other_errors_are_not_retried(mocked, status):
    mocked.get(f"{BASE}/Patient/p1", status=status, json={"resourceType": "OperationOutcome"})
    with pytest.raises(FhirHTTPError) as info:
        FhirClient(BASE, settings=FAST).read("Patient/p1")
    assert info.value.status == status
    assert len(mocked.calls) == 1


def test_redirect_is_not_followed(mocked):
    mocked.get(f"{BASE}/Patient/p1", status=302, headers={"Location": "https://elsewhere.example.com/x"})
    with pytest.raises(FhirHTTPError) as info:
        FhirClient(BASE, access_token=TOKEN, settings=FAST).read("Patient/p1")
    assert info.value.status == 302
    assert len(mocked.calls) == 1


@pytest.mark.parametrize("exc", [requests.exceptions.ReadTimeout, requests.exceptions.ConnectTimeout])
def test_timeouts_become_fhir_timeout(mocked, exc):
    mocked.get(f"{BASE}/Patient/p1", body=exc("slow"))
    with pytest.raises(FhirTimeout):
        FhirClient(BASE, settings=FAST).read("Patient/p1")


def test_connection_failure_becomes_fhir_connection_error(mocked):
    mocked.get(f"{BASE}/Patient/p1", body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(FhirConnectionError):
        FhirClient(BASE, settings=FAST).read("Patient/p1")


def test_read_timeouts_exhausted_by_retries_still_count_as_timeout():
    # urllib3 reports retried-out read timeouts as MaxRetryError(ReadTimeoutError); requests as ConnectionError.
    wrapped = requests.exceptions.ConnectionError(MaxRetryError(None, "/x", ReadTimeoutError(None, "/x", "slow")))
    assert isinstance(_translate(wrapped, time.monotonic() + 5), FhirTimeout)
    assert isinstance(_translate(wrapped, time.monotonic()), FhirDeadlineExceeded)


def test_every_error_shares_one_root():
    for cls in (FhirTimeout, FhirConnectionError, FhirHTTPError, FhirInvalidResponse, FhirDeadlineExceeded):
        assert issubclass(cls, FhirError)


# --- invalid answers -------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["<html>502 Bad Gateway</html>", "", "{not json", '{"resourceType": "Patient"'])
def test_non_json_body_is_invalid(mocked, body):
    mocked.get(f"{BASE}/Patient/p1", body=body, content_type="text/html")
    with pytest.raises(FhirInvalidResponse):
        FhirClient(BASE, settings=FAST).read("Patient/p1")


@pytest.mark.parametrize("payload", [[PATIENT], {"id": "p1"}, {"resourceType": 7}, "Patient", None])
def test_json_that_is_not_a_fhir_resource_is_invalid(mocked, payload):
    mocked.get(f"{BASE}/Patient/p1", body=json.dumps(payload), content_type="application/fhir+json")
    with pytest.raises(FhirInvalidResponse):
        FhirClient(BASE, settings=FAST).read("Patient/p1")


def test_read_of_wrong_resource_type_is_invalid(mocked):
    mocked.get(f"{BASE}/Patient/p1", json={"resourceType": "OperationOutcome", "issue": []})
    with pytest.raises(FhirInvalidResponse):
        FhirClient(BASE, settings=FAST).read("Patient/p1")


def test_search_answering_a_non_bundle_is_invalid(mocked):
    mocked.get(f"{BASE}/Observation", json=PATIENT)
    client = FhirClient(BASE, settings=FAST)
    with pytest.raises(FhirInvalidResponse):
        client.read("Observation?patient=p1")
    with pytest.raises(FhirInvalidResponse):
        client.search_all("Observation?patient=p1")


@pytest.mark.parametrize("path,expected", [
    ("Patient/1", "Patient"), ("/Patient/1", "Patient"), ("Observation?patient=1", "Bundle"), ("Observation", "Bundle"),
    ("Patient/1/_history/2", "Patient"), ("Patient/$everything", None), ("Patient/1/$everything", None),
    ("?_getpages=abc", None), ("metadata", None), ("Patient/_history", None),
])
def test_expected_type_of_a_path(path, expected):
    assert _expected_type(path) == expected


# --- paging ----------------------------------------------------------------------------------------


def test_search_follows_next_links_across_pages(mocked):
    mocked.get(f"{BASE}/Observation", json=bundle([obs(1), obs(2)], f"{BASE}?_getpages=abc&_getpagesoffset=2"))
    mocked.get(f"{BASE}", json=bundle([obs(3)], "Observation?patient=p1&page=3"))  # relative next link too
    mocked.get(f"{BASE}/Observation", json=bundle([obs(4)]))
    resources, truncated = FhirClient(BASE, settings=FAST).search_all("Observation?patient=p1")
    assert [r["id"] for r in resources] == ["o1", "o2", "o3", "o4"]
    assert truncated is False
    assert [c.request.url for c in mocked.calls] == [
        f"{BASE}/Observation?patient=p1",
        f"{BASE}?_getpages=abc&_getpagesoffset=2",
        f"{BASE}/Observation?patient=p1&page=3",
    ]


def test_search_drops_informational_outcome_entries_but_fails_on_errors(mocked):
    info = {"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational"}]}
    error = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing"}]}
    mocked.get(f"{BASE}/Observation", json=bundle([obs(1)], outcome=info))
    mocked.get(f"{BASE}/Observation", json=bundle([obs(1)], outcome=error))
    client = FhirClient(BASE, settings=FAST)
    assert client.search_all("Observation?patient=p1") == ([obs(1)], False)
    with pytest.raises(FhirInvalidResponse):
        client.search_all("Observation?patient=p1")


def test_next_link_loop_stops_and_reports_truncation(mocked):
    first = f"{BASE}/Observation?patient=p1"
    second = f"{BASE}/Observation?patient=p1&page=2"
    mocked.get(f"{BASE}/Observation", json=bundle([obs(1)], second))
    mocked.get(f"{BASE}/Observation", json=bundle([obs(2)], first))  # points back at page 1
    resources, truncated = FhirClient(BASE, settings=FAST).search_all("Observation?patient=p1")
    assert [r["id"] for r in resources] == ["o1", "o2"]
    assert truncated is True
    assert len(mocked.calls) == 2


def test_page_cap_is_honoured(mocked):
    settings = ClientSettings(**{**FAST.__dict__, "page_cap": 2})
    for n in range(1, 6):
        mocked.get(f"{BASE}/Observation", json=bundle([obs(n)], f"{BASE}/Observation?page={n + 1}"))
    resources, truncated = FhirClient(BASE, settings=settings).search_all("Observation?patient=p1")
    assert [r["id"] for r in resources] == ["o1", "o2"]
    assert truncated is True
    assert len(mocked.calls) == 2


def test_last_page_exactly_at_the_cap_is_not_truncated(mocked):
    settings = ClientSettings(**{**FAST.__dict__, "page_cap": 2})
    mocked.get(f"{BASE}/Observation", json=bundle([obs(1)], f"{BASE}/Observation?page=2"))
    mocked.get(f"{BASE}/Observation", json=bundle([obs(2)]))
    assert FhirClient(BASE, settings=settings).search_all("Observation?patient=p1") == ([obs(1), obs(2)], False)


def test_entry_cap_is_honoured(mocked):
    settings = ClientSettings(**{**FAST.__dict__, "max_entries": 3})
    mocked.get(f"{BASE}/Observation", json=bundle([obs(1), obs(2)], f"{BASE}/Observation?page=2"))
    mocked.get(f"{BASE}/Observation", json=bundle([obs(3), obs(4)], f"{BASE}/Observation?page=3"))
    resources, truncated = FhirClient(BASE, settings=settings).search_all("Observation?patient=p1")
    assert [r["id"] for r in resources] == ["o1", "o2", "o3"]
    assert truncated is True
    assert len(mocked.calls) == 2


@pytest.mark.parametrize("next_url", [
    "https://attacker.example.net/fhir/Observation?page=2",
    "http://ehr.example.org/fhir/Observation?page=2",       # https → http would leak the token
    "https://ehr.example.org:8443/fhir/Observation?page=2",  # another port is another server
    "https://user@ehr.example.org/fhir/Observation?page=2",
    "//attacker.example.net/fhir/Observation",
])
def test_next_link_to_another_server_is_refused(mocked, next_url):
    mocked.get(f"{BASE}/Observation", json=bundle([obs(1)], next_url))
    with pytest.raises(FhirInvalidResponse):
        FhirClient(BASE, access_token=TOKEN, settings=FAST).search_all("Observation?patient=p1")
    assert len(mocked.calls) == 1  # nothing sent to the other host


def test_absolute_url_on_the_same_server_is_accepted(mocked):
    mocked.get(f"{BASE}/Patient/p1", json=PATIENT)
    client = FhirClient(BASE, settings=FAST)
    assert client.read(f"{BASE}/Patient/p1") == PATIENT
    # Scheme and host compare case-insensitively, and the default port is the same server.
    assert client._resolve("HTTPS://EHR.example.org:443/fhir/Patient/p1") == "https://EHR.example.org:443/fhir/Patient/p1"


# --- deadline --------------------------------------------------------------------------------------


def test_no_request_starts_without_budget(mocked):
    mocked.get(f"{BASE}/Patient/p1", json=PATIENT)
    client = FhirClient(BASE, settings=ClientSettings(**{**FAST.__dict__, "deadline_s": 0.01}))
    with pytest.raises(FhirDeadlineExceeded):
        client.read("Patient/p1")
    with pytest.raises(FhirDeadlineExceeded):
        FhirClient(BASE, settings=FAST).read("Patient/p1", deadline=time.monotonic() + 0.02)
    assert len(mocked.calls) == 0


def test_deadline_covers_all_pages_of_a_search(mocked):
    def slow_page(request):
        time.sleep(0.08)
        return 200, {}, json.dumps(bundle([obs(1)], f"{BASE}/Observation?page={len(mocked.calls) + 2}"))

    mocked.add_callback(responses.GET, f"{BASE}/Observation", callback=slow_page)
    client = FhirClient(BASE, settings=ClientSettings(**{**FAST.__dict__, "deadline_s": 0.2, "page_cap": 10}))
    started = time.monotonic()
    with pytest.raises(FhirDeadlineExceeded):
        client.search_all("Observation?patient=p1")
    assert time.monotonic() - started < 0.5
    assert 1 <= len(mocked.calls) <= 2


def test_read_timeout_is_capped_by_the_remaining_budget(mocked):
    mocked.get(f"{BASE}/Patient/p1", json=PATIENT)
    FhirClient(BASE, settings=FAST).read("Patient/p1", deadline=time.monotonic() + 0.3)
    connect, read = mocked.calls[0].request.req_kwargs["timeout"]
    assert connect <= 0.3 and read <= 0.3
    FhirClient(BASE, settings=FAST).read("Patient/p1")
    assert mocked.calls[1].request.req_kwargs["timeout"] == (0.5, 0.5)


def test_retry_wait_longer_than_the_budget_gives_up_at_once():
    retry = _DeadlineRetry(total=2, status_forcelist=(503,), backoff_factor=0, respect_retry_after_header=True)
    asks_for_a_minute = HTTPResponse(status=503, headers={"Retry-After": "60"})
    started = time.monotonic()
    with _deadline_scope(time.monotonic() + 1.0):
        with pytest.raises(_RetryWouldMissDeadline):
            retry.sleep(asks_for_a_minute)
        retry.sleep(HTTPResponse(status=503, headers={"Retry-After": "0"}))  # fits: returns promptly
        retry.sleep(HTTPResponse(status=503, headers={"Retry-After": "soon"}))  # unparseable: own backoff (0)
    assert time.monotonic() - started < 0.5


# --- logging ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url,expected", [
    ("https://ehr/fhir/Observation?patient=123&code=4548-4", "https://ehr/fhir/Observation?patient=<redacted>&code=<redacted>"),
    ("https://u:pw@ehr/fhir/Patient/1#frag", "https://ehr/fhir/Patient/<redacted>"),
    ("Observation?_summary&sort:desc=date", "Observation?_summary&sort:desc=<redacted>"),
    ("Observation?123-45-6789=x&=y", "Observation?<redacted>=<redacted>&<redacted>=<redacted>"),
    ("https://ehr/fhir/Patient/1", "https://ehr/fhir/Patient/<redacted>"),
])
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_logs_carry_neither_token_nor_query_values(mocked, caplog):
    mocked.get(f"{BASE}/Observation", json=bundle([obs(1)], f"{BASE}/Observation?patient=SECRETPATIENT&page=2"))
    mocked.get(f"{BASE}/Observation", status=503)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FhirHTTPError):
        FhirClient(BASE, access_token=TOKEN, settings=FAST).search_all("Observation?patient=SECRETPATIENT&code=4548-4")
    text = caplog.text
    assert "GET https://ehr.example.org/fhir/Observation?patient=<redacted>&code=<redacted> -> 200" in text
    assert "SECRETPATIENT" not in text and "4548-4" not in text and TOKEN not in text


# --- the real urllib3 path, against a local server --------------------------------------------------


class _Script(BaseHTTPRequestHandler):
    """Answers each GET with the next (status, headers, body) of the server's script; the last one repeats."""

    def do_GET(self):  # noqa: N802 (http.server naming)
        server = self.server
        server.seen.append((self.path, self.headers.get("Authorization")))
        status, headers, body = server.script[min(len(server.seen) - 1, len(server.script) - 1)]
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def local_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Script)
    server.seen, server.script = [], []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}/fhir"
    server.shutdown()
    server.server_close()


def test_real_retry_after_503_then_success(local_server, caplog):
    server, base = local_server
    server.script = [(503, {"Retry-After": "0"}, None), (200, {"Content-Type": "application/fhir+json"}, PATIENT)]
    caplog.set_level(logging.DEBUG)
    assert FhirClient(base, access_token=TOKEN, settings=FAST).read("Patient/p1?_elements=SECRETVALUE") == PATIENT
    assert len(server.seen) == 2 and server.seen[1][1] == f"Bearer {TOKEN}"
    urllib3_lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("_elements=<redacted>" in line for line in urllib3_lines)  # urllib3's own request lines, redacted
    assert "SECRETVALUE" not in caplog.text and TOKEN not in caplog.text


def test_real_retry_after_beyond_the_deadline_fails_fast(local_server):
    server, base = local_server
    server.script = [(503, {"Retry-After": "30"}, None)]
    client = FhirClient(base, settings=ClientSettings(**{**FAST.__dict__, "deadline_s": 1.0}))
    started = time.monotonic()
    with pytest.raises(FhirDeadlineExceeded):
        client.read("Patient/p1")
    assert time.monotonic() - started < 1.0
    assert len(server.seen) == 1
