"""The service under a real gunicorn, configured as production runs it (authentication on, nothing configuring
Python logging): the INFO lines docs/security.md describes reach gunicorn's stderr, without a token or patient data;
and a chunked body of exactly the request limit passes while one byte more is 413, as with a Content-Length."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, load_fixture
from tests.security.jwt_helpers import ISSUER, Signer, issuer_config

SERVICE = "/cds-services/cardiovascular-risk"
PATIENT_NAME = "Quixotezebediah"
COMMENT = f"{PATIENT_NAME} declined statins at the visit"
START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hook_body() -> bytes:
    body = load_fixture("hooks/patient-view-prefetch.json")
    body["prefetch"]["patient"]["name"] = [{"family": PATIENT_NAME, "given": ["Alonso"]}]
    return json.dumps(body).encode()


class Service:
    def __init__(self, base: str, signer: Signer, process: subprocess.Popen, log_file: Path) -> None:
        self.base, self.signer, self.process, self.log_file = base, signer, process, log_file
        self.tokens: list[str] = []

    def headers(self, path: str, signer: Signer | None = None) -> dict:
        self.tokens.append((signer or self.signer).token(self.base + path))
        return {"Authorization": f"Bearer {self.tokens[-1]}", "Content-Type": "application/json"}

    def log(self) -> str:
        """Everything written so far: each record is flushed as it is logged, before the response is sent."""
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # gunicorn's graceful stop: workers flush and exit
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    gunicorn = pytest.importorskip("gunicorn")
    folder = tmp_path_factory.mktemp("gunicorn")
    signer = Signer("ES384", kid="gunicorn-key")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CDS_")}
    env.update(CDS_PUBLIC_BASE_URL=base, CDS_DATA_DIR=str(folder / "data"), CDS_AS_OF="2026-06-01",
               CDS_WARM_MODELS="false", CDS_FEEDBACK_KEEP_COMMENTS="true", CDS_MAX_BODY_BYTES=str(len(hook_body())),
               CDS_TRUSTED_ISSUERS=json.dumps({ISSUER: issuer_config(signer, fhir_servers=[])}),
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    log_file = folder / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "60"]
    if gunicorn.version_info >= (27,):  # its control socket has one default path: parallel runs would share it
        command.append("--no-control-socket")
    with log_file.open("wb") as log:
        process = subprocess.Popen(command + ["cds_hooks.wsgi:app"],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    running = Service(base, signer, process, log_file)
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if process.poll() is not None:
                pytest.fail("gunicorn exited at start-up:\n" + log_file.read_text(errors="replace")[-3000:])
            try:  # any answer (a 401) means the worker is up; until then the master's socket may only queue us
                requests.get(base + "/cds-services", timeout=10)
                break
            except (requests.ConnectionError, requests.Timeout):
                if time.monotonic() > deadline:
                    pytest.fail("gunicorn did not answer in time:\n" + log_file.read_text(errors="replace")[-3000:])
                time.sleep(0.2)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def calls_and_log(service):
    """One request cycle (discovery, a forged token, a hook call, feedback with a comment), then the whole log."""
    forger = Signer("ES384", kid="gunicorn-key")
    statuses = {
        "discovery": requests.get(service.base + "/cds-services", headers=service.headers("/cds-services"),
                                  timeout=30).status_code,
        "forged": requests.get(service.base + "/cds-services", headers=service.headers("/cds-services", forger),
                               timeout=30).status_code,
    }
    hook = requests.post(service.base + SERVICE, data=hook_body(), headers=service.headers(SERVICE), timeout=30)
    statuses["hook"] = hook.status_code
    card = hook.json()["cards"][0]["uuid"]
    feedback = {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-06-01T10:00:00Z",
                              "overrideReason": {"userComment": COMMENT}}]}
    statuses["feedback"] = requests.post(service.base + SERVICE + "/feedback", data=json.dumps(feedback),
                                         headers=service.headers(SERVICE + "/feedback"), timeout=30).status_code
    return statuses, service.log(), list(service.tokens)


def test_the_documented_info_lines_appear(calls_and_log):
    statuses, log, _ = calls_and_log
    assert statuses == {"discovery": 200, "forged": 401, "hook": 200, "feedback": 200}
    assert "[INFO] cds_hooks.hooks: hook cardiovascular-risk: " in log, log[-3000:]
    assert "[INFO] cds_hooks.feedback: feedback cardiovascular-risk: 1 items, 1 new, 0 suppressions" in log, log[-3000:]
    assert "[WARNING] cds_hooks.auth: 401 for GET '/cds-services': bad signature" in log, log[-3000:]


def test_the_log_holds_no_token_and_no_patient_data(calls_and_log):
    _, log, tokens = calls_and_log
    patient = json.loads(hook_body())["prefetch"]["patient"]
    secrets = [PATIENT_NAME, COMMENT, patient["id"], patient["birthDate"]]
    for token in tokens:
        secrets += token.split(".")
    leaked = [secret[:12] for secret in secrets if secret in log]
    assert not leaked, leaked


def test_a_chunked_body_of_exactly_the_limit_passes_and_one_byte_more_is_413(service):
    body = hook_body()  # CDS_MAX_BODY_BYTES is its length

    def chunked(data: bytes):
        yield from (data[i:i + 1000] for i in range(0, len(data), 1000))  # a generator: requests sends it chunked

    def post(data: bytes, *, as_chunks: bool) -> int:
        return requests.post(service.base + SERVICE, data=chunked(data) if as_chunks else data,
                             headers=service.headers(SERVICE), timeout=30).status_code

    assert [post(body, as_chunks=True), post(body + b" ", as_chunks=True)] == [200, 413]
    assert [post(body, as_chunks=False), post(body + b" ", as_chunks=False)] == [200, 413]
