"""The audit trail off the request path (cds_hooks/audit_writer.py): every hook call's record is in the database
after a flush, after the flush interval, after the application's process exits, and after gunicorn stops its
workers; a database that refuses keeps the records queued until it accepts them; feedback right after a hook call
still finds the card's findings."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import requests
from sqlalchemy.exc import OperationalError

from cds_hooks import audit
from cds_hooks.app import create_app
from cds_hooks.audit_writer import AuditWriter
from cds_hooks.store import AuditRecord, Store, sqlite_url, store_of
from tests.conftest import TEST_AS_OF, load_fixture

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "/cds-services/cardiovascular-risk"
NEVER_S = 3600.0  # a flush interval no test waits for: only flush, exit and worker_exit can write


def make_app(tmp_path, **overrides):
    config = {"AS_OF": TEST_AS_OF, "DEV_MODE": True, "DATA_DIR": str(tmp_path), "AUDIT_FLUSH_INTERVAL_S": NEVER_S}
    config.update(overrides)
    return create_app(config)


def post_hook(client):
    body = load_fixture("hooks/patient-view-prefetch.json")
    resp = client.post(SERVICE, data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 200
    return body, resp.get_json()


def audit_rows(data_dir) -> list[dict]:
    store = Store(sqlite_url(data_dir))
    try:
        return store.audit_events()
    finally:
        store.dispose()


def test_the_record_is_queued_by_the_request_and_committed_by_a_flush(tmp_path):
    app = make_app(tmp_path)
    body, answer = post_hook(app.test_client())
    assert audit_rows(tmp_path) == []  # not on the request path
    assert audit.flush(app)
    rows = audit_rows(tmp_path)
    assert [(r["hook_instance"], r["status"], r["card_count"]) for r in rows] == [
        (body["hookInstance"], 200, len(answer["cards"]))]


def test_the_writer_thread_commits_within_the_flush_interval(tmp_path):
    app = make_app(tmp_path, AUDIT_FLUSH_INTERVAL_S=0.05)
    client = app.test_client()
    for _ in range(3):
        post_hook(client)
    deadline = time.monotonic() + 10
    while len(audit_rows(tmp_path)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(audit_rows(tmp_path)) == 3


def test_feedback_right_after_the_hook_is_linked_to_the_cards_findings(tmp_path):
    app = make_app(tmp_path)
    client = app.test_client()
    _, answer = post_hook(client)
    card = answer["cards"][0]["uuid"]
    feedback = {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-06-01T10:00:00Z"}]}
    resp = client.post(SERVICE + "/feedback", data=json.dumps(feedback), content_type="application/json")
    assert resp.status_code == 200
    [row] = list(store_of(app).feedback_rows())
    assert json.loads(row["finding_ids"]) and json.loads(row["engine_ids"])


def test_records_queued_when_the_process_exits_are_committed(tmp_path):
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(ROOT)!r})
        from cds_hooks.app import create_app
        app = create_app({{"AS_OF": {TEST_AS_OF!r}, "DEV_MODE": True, "DATA_DIR": {str(tmp_path)!r},
                          "AUDIT_FLUSH_INTERVAL_S": {NEVER_S}, "WARM_MODELS": False}})
        body = json.load(open({str(ROOT / "fixtures/hooks/patient-view-prefetch.json")!r}))
        client = app.test_client()
        for _ in range(5):
            assert client.post({SERVICE!r}, data=json.dumps(body), content_type="application/json").status_code == 200
        # no flush: the interpreter's exit (atexit) must commit the queue
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120, capture_output=True)
    assert len(audit_rows(tmp_path)) == 5


class RefusingStore(Store):
    """A store whose database refuses the first ``refusals`` audit writes."""

    def __init__(self, url: str, refusals: int) -> None:
        super().__init__(url)
        self.refusals = refusals

    def record_audits(self, records, *, keep_issued_s=None):
        if self.refusals > 0:
            self.refusals -= 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return super().record_audits(records)


def record(n: int) -> AuditRecord:
    from datetime import datetime, timezone

    return AuditRecord(recorded_at=datetime.now(timezone.utc), service_id="cardiovascular-risk", hook_instance=None,
                       issuer=None, tenant=None, status=200, latency_ms=float(n))


def test_a_refusing_database_keeps_the_records_queued_until_it_accepts(tmp_path):
    store = RefusingStore(sqlite_url(tmp_path), refusals=2)
    writer = AuditWriter(store, background=False)
    for n in range(3):
        writer.submit(record(n))
    assert not writer.flush() and not writer.flush()
    assert writer.pending() == 3
    assert writer.flush() and writer.pending() == 0
    assert [r["latency_ms"] for r in store.audit_events()] == [0.0, 1.0, 2.0]  # in order, none lost


def test_past_the_queue_bound_the_oldest_records_are_dropped_and_counted(tmp_path):
    store = RefusingStore(sqlite_url(tmp_path), refusals=1)
    writer = AuditWriter(store, batch_max=2, queue_max=4, background=False)
    for n in range(6):
        writer.submit(record(n))
    assert writer.dropped == 2 and writer.pending() == 4
    assert not writer.flush()  # refused: the batch goes back, nothing more lost
    assert writer.dropped == 2
    assert writer.flush()
    assert [r["latency_ms"] for r in store.audit_events()] == [2.0, 3.0, 4.0, 5.0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_commits_the_queue_when_it_stops_its_workers(tmp_path):
    port = _free_port()
    env = dict(os.environ, CDS_DEV_MODE="true", CDS_DATA_DIR=str(tmp_path), CDS_WARM_MODELS="false",
               CDS_AS_OF=TEST_AS_OF, CDS_AUDIT_FLUSH_INTERVAL_S=str(NEVER_S), CDS_LOG_LEVEL="WARNING",
               PYTHONPATH=str(ROOT))
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:cds_hooks.gunicorn_conf",
                               "--bind", f"127.0.0.1:{port}", "--workers", "2", "cds_hooks.wsgi:app"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/cds-services", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        body = json.dumps(load_fixture("hooks/patient-view-prefetch.json"))
        for _ in range(6):
            resp = requests.post(base + SERVICE, data=body, headers={"Content-Type": "application/json"}, timeout=30)
            assert resp.status_code == 200
        assert audit_rows(tmp_path) == []  # still queued in the workers
    finally:
        os.kill(server.pid, signal.SIGTERM)  # gunicorn's graceful stop
        server.wait(timeout=30)
    assert len(audit_rows(tmp_path)) == 6
