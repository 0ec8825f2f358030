"""Durability of feedback: concurrent posts from several threads and several processes are stored exactly once, and a
server killed with SIGKILL right after answering 200 has lost nothing it acknowledged.

Feedback names only cards the service issued, so each test first has the service issue a card (one hook call); the
items about it differ by what they say - a comment naming their outcomeTimestamp - since an item is what it says, not
when it was sent (the same answer with another timestamp is the same row). Each test runs on SQLite and on PostgreSQL
(the ``database`` fixture)."""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from cds_hooks import audit
from cds_hooks.app import create_app
from cds_hooks.store import store_of
from tests.conftest import load_fixture
from tests.databases import Database

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "/cds-services/cardiovascular-risk"
FEEDBACK = SERVICE + "/feedback"


def feedback_item(card: str, stamp: str) -> dict:
    return {"card": card, "outcome": "overridden", "outcomeTimestamp": stamp,
            "overrideReason": {"reason": {"system": "urn:test:reasons", "code": "not-relevant"},
                               "userComment": f"answered at {stamp}"}}


def stamp(hour: int, minute: int, micro: int = 0) -> str:
    return f"2026-06-01T{hour:02d}:{minute:02d}:00.{micro:06d}Z"


def dev_app(database: Database):
    return create_app({"DEV_MODE": True, **database.settings, "LOG_LEVEL": "WARNING", "AS_OF": "2026-06-01"})


def issue_card(client) -> str:
    resp = client.post(SERVICE, data=json.dumps(load_fixture("hooks/patient-view-prefetch.json")),
                       content_type="application/json")
    assert resp.status_code == 200
    return resp.get_json()["cards"][0]["uuid"]


def stored_items(database: Database) -> list[tuple[str, str]]:
    store = database.store()
    try:
        return [(row["card_uuid"], row["outcome_timestamp"]) for row in store.feedback_rows()]
    finally:
        store.dispose()


SHARED_STAMPS = [stamp(9, i) for i in range(12)]  # every worker posts these


def test_concurrent_threads_store_each_item_exactly_once(database):
    app = dev_app(database)
    card = issue_card(app.test_client())

    def worker(index: int) -> list[int]:
        client = app.test_client()
        statuses = []
        own = [stamp(10 + index, i) for i in range(5)]
        for when in SHARED_STAMPS + own:
            body = {"feedback": [feedback_item(card, when)]}
            statuses.append(client.post(FEEDBACK, data=json.dumps(body), content_type="application/json").status_code)
        # The shared batch again, as one request: all duplicates.
        batch = {"feedback": [feedback_item(card, when) for when in SHARED_STAMPS]}
        statuses.append(client.post(FEEDBACK, data=json.dumps(batch), content_type="application/json").status_code)
        return statuses

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(worker, range(8)))
    assert all(status == 200 for statuses in results for status in statuses)
    items = stored_items(database)
    assert len(items) == len(set(items)) == len(SHARED_STAMPS) + 8 * 5


def _process_worker(database: Database, card: str, index: int, queue) -> None:
    app = dev_app(database)
    client = app.test_client()
    own = [stamp(10 + index, i) for i in range(5)]
    statuses = []
    for when in SHARED_STAMPS + own:
        body = {"feedback": [feedback_item(card, when)]}
        statuses.append(client.post(FEEDBACK, data=json.dumps(body), content_type="application/json").status_code)
    queue.put(statuses)


def test_concurrent_processes_store_each_item_exactly_once(database):
    issuer = dev_app(database)  # another process issued the card: each worker finds it in the shared database
    card = issue_card(issuer.test_client())
    audit.flush(issuer)  # the card is committed (and the writer idle) before the workers fork
    store_of(issuer).dispose()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_process_worker, args=(database, card, i, queue)) for i in range(4)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0
    assert all(status == 200 for statuses in results for status in statuses)
    items = stored_items(database)
    assert len(items) == len(set(items)) == len(SHARED_STAMPS) + 4 * 5


SERVER_SCRIPT = """
import json
import sys
from werkzeug.serving import make_server
from cds_hooks.app import create_app

app = create_app({"DEV_MODE": True, **json.loads(sys.argv[1]), "LOG_LEVEL": "WARNING", "AS_OF": "2026-06-01"})
server = make_server("127.0.0.1", 0, app, threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_right_after_200_loses_nothing_acknowledged(database):
    server = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, json.dumps(database.settings)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(server.stdout.readline())
        hook = requests.post(f"http://127.0.0.1:{port}{SERVICE}", json=load_fixture("hooks/patient-view-prefetch.json"),
                             timeout=30)
        card = hook.json()["cards"][0]["uuid"]
        url = f"http://127.0.0.1:{port}{FEEDBACK}"
        acknowledged: list[tuple[str, str]] = []
        lock = threading.Lock()
        stop = threading.Event()
        numbers = iter(range(1, 10**6))

        def post_until_stopped() -> None:
            session = requests.Session()
            while not stop.is_set():
                with lock:
                    when = stamp(10, 0, next(numbers))
                try:
                    resp = session.post(url, json={"feedback": [feedback_item(card, when)]}, timeout=5)
                except requests.RequestException:
                    return  # the server is gone
                if resp.status_code == 200:
                    with lock:
                        acknowledged.append((card, when))
                        if len(acknowledged) >= 40:
                            # Kill the moment a 200 is in hand, while the other clients' posts are in flight.
                            os.kill(server.pid, signal.SIGKILL)
                            stop.set()
                            return

        clients = [threading.Thread(target=post_until_stopped) for _ in range(4)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(timeout=30)
        server.wait(timeout=10)
        assert server.returncode == -signal.SIGKILL
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    stored = set(stored_items(database))
    assert len(acknowledged) >= 40
    assert set(acknowledged) <= stored  # nothing acknowledged was lost
