"""Shared fixtures. Every HTTP response the tests see goes through `checked_client`, which validates cards
responses against the CDS Hooks response schema and error responses as OperationOutcomes."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cds_hooks.app import create_app
from cds_hooks.validation import validate_discovery, validate_response
from tests.databases import Database, PostgresServer, sqlite_database, start_postgres

# Apps built by tests don't load the sentence encoder at start-up (tests/models and the notes tests load it lazily).
os.environ.setdefault("CDS_WARM_MODELS", "false")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"
TEST_AS_OF = "2026-06-01"


def load_fixture(relative: str) -> dict:
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


class CheckedClient:
    """A Flask test client that asserts the shape of every response it returns."""

    def __init__(self, client):
        self._client = client

    def _check(self, resp):
        if resp.status_code == 401 and not resp.data:
            return resp
        body = resp.get_json(silent=True)
        assert body is not None, f"non-JSON response {resp.status_code}: {resp.data[:200]!r}"
        if resp.status_code >= 400:
            assert body.get("resourceType") == "OperationOutcome", body
            assert body.get("issue"), body
            assert resp.status_code != 500 or "Traceback" not in resp.get_data(as_text=True)
        elif "cards" in body:
            problems = validate_response(body)
            assert not problems, problems
        elif "services" in body:
            problems = validate_discovery(body)
            assert not problems, problems
        return resp

    def get(self, *args, **kwargs):
        return self._check(self._client.get(*args, **kwargs))

    def post(self, *args, **kwargs):
        return self._check(self._client.post(*args, **kwargs))

    def options(self, *args, **kwargs):
        return self._client.options(*args, **kwargs)

    def raw(self):
        return self._client


@pytest.fixture
def app(tmp_path):
    # DEV_MODE: no client JWTs needed here; tests/security builds its apps with authentication on.
    return create_app({"AS_OF": TEST_AS_OF, "TESTING": True, "FHIR_RETRIES": 1, "FHIR_BACKOFF_S": 0.0,
                       "FHIR_DEADLINE_S": 2.0, "FHIR_READ_TIMEOUT_S": 1.0, "DEV_MODE": True,
                       "DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def client(app) -> CheckedClient:
    return CheckedClient(app.test_client())


# -- the store's databases (tests/databases.py) ---------------------------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
def audit_queues_settled_before_exit():
    """At the end of the run, commit what the test apps' audit writers still hold, and forget what a database broken on
    purpose by a test (removed, locked, read-only) refuses: the interpreter's exit flush (cds_hooks/audit_writer.py)
    would otherwise report those records as lost after pytest's summary, where they hide it. Tests of that exit flush
    run in their own processes."""
    yield
    from cds_hooks import audit_writer

    for writer in list(audit_writer._WRITERS):
        if writer._pid == os.getpid() and not writer.flush():
            with writer._lock:
                writer._pending.clear()


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """A PostgreSQL server for the whole session, started on first use (a throwaway cluster in a temporary folder)."""
    server = start_postgres()
    yield server
    stop = getattr(server, "stop", server.close)
    stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> Database:
    """The test's own empty database, once on SQLite and once on PostgreSQL (a schema of the session's server, dropped
    after the test): the store tests run on both."""
    if request.param == "sqlite":
        yield sqlite_database(tmp_path / "data")
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    made = server.create_database(tmp_path / "data")
    yield made
    server.drop_database(made)
