"""A FHIR server that drips its answer byte by byte must not hold a hook past the prefetch deadline."""
from __future__ import annotations

import json
import socket
import threading
import time
import uuid

import pytest

from cds_hooks.app import create_app


@pytest.fixture
def dripping_server():
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.2)
    stop = threading.Event()

    def handle(conn):
        try:
            conn.recv(65536)
            body = b'{"resourceType":"Patient","id":"p1","gender":"male","birthDate":"1970-01-01"}' + b" " * 400
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: %d\r\n\r\n"
                         % len(body))
            for i in range(len(body)):  # ~24 s in all, each byte well inside the read timeout
                if stop.is_set():
                    break
                conn.send(body[i:i + 1])
                time.sleep(0.05)
        except OSError:
            pass
        finally:
            conn.close()

    def accept_loop():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/fhir"
    stop.set()
    thread.join(2)
    server.close()


def test_dripping_body_is_cut_at_the_deadline(dripping_server, tmp_path):
    app = create_app({"DEV_MODE": True, "WARM_MODELS": False, "AS_OF": "2026-06-01", "DATA_DIR": str(tmp_path),
                      "FHIR_DEADLINE_S": 1.0, "FHIR_READ_TIMEOUT_S": 1.0, "FHIR_RETRIES": 0})
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "fhirServer": dripping_server,
            "context": {"userId": "Practitioner/1", "patientId": "p1"}}
    started = time.monotonic()
    resp = app.test_client().post("/cds-services/cardiovascular-risk", data=json.dumps(body),
                                  content_type="application/json")
    elapsed = time.monotonic() - started
    assert resp.status_code == 412
    assert elapsed < 3.0, f"held the hook {elapsed:.1f} s with a 1 s deadline"
