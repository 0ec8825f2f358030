"""Nothing secret in the logs: every log record of a full request cycle, at DEBUG, from every logger.

The cycle: discovery, a refused forged token, an invalid request, a hook call whose FHIR fetch fails, one that
succeeds, and feedback with a free-text comment. Neither the JWTs, nor the FHIR access token, nor anything from
the patient's record (id, birth date, name, the clinician's comment) may appear in any message, argument or
traceback. The second test does the same over a real loopback HTTP server so urllib3's own logging is included.
"""
from __future__ import annotations

import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import responses

from cds_hooks.app import create_app
from tests.conftest import CheckedClient, load_fixture
from tests.security.jwt_helpers import FHIR_BASE, ISSUER, PUBLIC_BASE, Signer, auth_config, bearer, issuer_config

SERVICE = "/cds-services/cardiovascular-risk"
ACCESS_TOKEN = "fixture-access-token-not-a-secret"
PATIENT_ID = "pce-example-man"
PATIENT_NAME = "Quixotezebediah"
BIRTH_DATE = "1971-01-15"
COMMENT = f"{PATIENT_NAME} declined statins at the visit"


def patient_data() -> dict:
    data = load_fixture("hooks/fhir-server-patient-a.json")
    data["Patient"]["name"] = [{"family": PATIENT_NAME, "given": ["Alonso"]}]
    return data


def all_log_text(records: list[logging.LogRecord]) -> str:
    """Everything a handler could write: message, raw args, exception and stack text."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    parts = []
    for record in records:
        parts.append(formatter.format(record))
        parts.append(repr(record.args))
        parts.append(str(record.msg))
    return "\n".join(parts)


def assert_clean(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        if secret in text:
            line = next(line for line in text.splitlines() if secret in line)
            pytest.fail(f"log output contains {secret[:12]}…: {line[:200]}")


@responses.activate
def test_a_full_request_cycle_logs_no_token_and_no_patient_data(tmp_path, caplog):
    signer = Signer("ES384", kid="log-key")
    forger = Signer("ES384", kid="log-key")
    app = create_app(auth_config(tmp_path, {ISSUER: issuer_config(signer)}, LOG_LEVEL="DEBUG",
                                 LOG_TRACEBACKS=True, FEEDBACK_KEEP_COMMENTS=True))
    client = CheckedClient(app.test_client())
    data = patient_data()
    responses.get(f"{FHIR_BASE}/Patient/{PATIENT_ID}", json=data["Patient"])
    responses.get(re.compile(re.escape(f"{FHIR_BASE}/Observation?")), status=500,
                  json={"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception",
                                                                        "diagnostics": f"boom for {PATIENT_ID}"}]})
    tokens = []

    def token_for(path, who=signer):
        tokens.append(who.token(PUBLIC_BASE + path))
        return bearer(tokens[-1])

    no_prefetch = load_fixture("hooks/patient-view-no-prefetch.json")
    with_prefetch = load_fixture("hooks/patient-view-prefetch.json")
    with_prefetch["prefetch"]["patient"]["name"] = data["Patient"]["name"]
    invalid = dict(with_prefetch, hookInstance=f"{PATIENT_NAME}-{BIRTH_DATE}")
    with caplog.at_level(logging.DEBUG):
        assert client.get("/cds-services", headers=token_for("/cds-services")).status_code == 200
        assert client.get("/cds-services", headers=token_for("/cds-services", forger)).status_code == 401
        assert client.post(SERVICE, data=json.dumps(invalid), content_type="application/json",
                           headers=token_for(SERVICE)).status_code == 400
        failed = client.post(SERVICE, data=json.dumps(no_prefetch), content_type="application/json",
                             headers=token_for(SERVICE))
        assert failed.status_code == 412  # the failing FHIR fetch
        ok = client.post(SERVICE, data=json.dumps(with_prefetch), content_type="application/json",
                         headers=token_for(SERVICE))
        assert ok.status_code == 200
        card = ok.get_json()["cards"][0]["uuid"]
        feedback = {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-06-01T10:00:00Z",
                                  "overrideReason": {"userComment": COMMENT}}]}
        assert client.post(SERVICE + "/feedback", data=json.dumps(feedback), content_type="application/json",
                           headers=token_for(SERVICE + "/feedback")).status_code == 200

    assert len(responses.calls) >= 2  # the fetch did happen, with the token
    text = all_log_text(caplog.records)
    assert "401 for GET" in text and "hook cardiovascular-risk" in text  # the logs are not simply empty
    secrets = [ACCESS_TOKEN, PATIENT_ID, PATIENT_NAME, BIRTH_DATE, COMMENT]
    for token in tokens:
        secrets += [token] + token.split(".")  # nor any of the three parts of a JWT
    assert_clean(text, secrets)
    assert_clean(failed.get_data(as_text=True), [ACCESS_TOKEN, PATIENT_ID])


# -- over real HTTP: urllib3's own debug lines --------------------------------------------------------------------
class _FhirHandler(BaseHTTPRequestHandler):
    data: dict = {}

    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path.startswith("/fhir/Patient/"):
            self._send(200, self.data["Patient"])
        elif self.path.startswith("/fhir/Observation"):
            self._send(503, {"resourceType": "OperationOutcome", "issue": []})
        else:
            self._send(404, {"resourceType": "OperationOutcome", "issue": []})

    def _send(self, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):  # the server's own access log is not the service's
        pass


@pytest.fixture
def loopback_fhir():
    _FhirHandler.data = patient_data()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FhirHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    server.shutdown()
    server.server_close()


def test_real_http_fetch_failure_logs_nothing_secret(tmp_path, caplog, loopback_fhir):
    app = create_app({"DEV_MODE": True, "DATA_DIR": str(tmp_path), "AS_OF": "2026-06-01", "LOG_LEVEL": "DEBUG",
                      "FHIR_RETRIES": 1, "FHIR_BACKOFF_S": 0.0, "FHIR_DEADLINE_S": 3.0, "LOG_TRACEBACKS": True})
    body = load_fixture("hooks/patient-view-no-prefetch.json")
    body["fhirServer"] = loopback_fhir
    with caplog.at_level(logging.DEBUG):
        resp = app.test_client().post(SERVICE, data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 412
    text = all_log_text(caplog.records)
    assert "127.0.0.1" in text  # urllib3 did log its requests
    assert_clean(text, [ACCESS_TOKEN, PATIENT_NAME, BIRTH_DATE, PATIENT_ID])


# -- where the lines go -------------------------------------------------------------------------------------------
def test_with_no_logging_configured_the_app_logs_info_to_stderr_once(tmp_path, monkeypatch, capsys, request):
    from cds_hooks.logs import LOG_FORMAT, OTHER_SERVICE_LOGGERS

    saved = {name: logging.getLogger(name).level for name in OTHER_SERVICE_LOGGERS}  # set below, restored after
    request.addfinalizer(lambda: [logging.getLogger(name).setLevel(level) for name, level in saved.items()])
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # as under plain gunicorn: nothing configured Python logging
    create_app({"DEV_MODE": True, "DATA_DIR": str(tmp_path), "LOG_LEVEL": "info"})
    create_app({"DEV_MODE": True, "DATA_DIR": str(tmp_path)})  # a second app in the process adds no second handler
    assert len(root.handlers) == 1 and root.handlers[0].formatter._fmt == LOG_FORMAT
    logging.getLogger("cds_hooks.hooks").info("hook x: 1 cards in 2.0 ms")
    logging.getLogger("urllib3.connectionpool").info("other libraries stay at WARNING")
    err = capsys.readouterr().err
    assert "[INFO] cds_hooks.hooks: hook x: 1 cards in 2.0 ms" in err
    assert "other libraries" not in err


def test_logging_configured_by_the_host_is_left_alone(tmp_path, monkeypatch):
    root = logging.getLogger()
    own = logging.NullHandler()
    monkeypatch.setattr(root, "handlers", [own])  # gunicorn --log-config, an embedding application
    adapter_level = logging.getLogger("fhir_adapter").level
    create_app({"DEV_MODE": True, "DATA_DIR": str(tmp_path), "LOG_LEVEL": "WARNING"})
    assert root.handlers == [own]
    assert logging.getLogger("cds_hooks").level == logging.WARNING  # LOG_LEVEL still sets the service's own level
    assert logging.getLogger("fhir_adapter").level == adapter_level  # the host's configuration decides the rest
