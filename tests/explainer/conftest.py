"""Apps with explainer links on, a known secret and a clock the tests can move."""
from __future__ import annotations

import json
import time

import pytest

from cds_hooks.app import create_app
from cds_hooks.explainer import EXTENSION, Explainer
from cds_hooks.explainer.tokens import ExplainerTokens
from tests.conftest import TEST_AS_OF, CheckedClient, load_fixture
from tests.databases import Database

SECRET = "explainer-test-secret-0123456789abcdef"
TTL_S = 3600


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


def explainer_app(tmp_path, clock: Clock, database: Database | None = None, **overrides):
    """An app with a known secret and ``clock``; its store is ``database``, or a SQLite file under ``tmp_path``."""
    settings = database.settings if database is not None else {"DATA_DIR": str(tmp_path / "data")}
    config = {"AS_OF": TEST_AS_OF, "TESTING": True, "DEV_MODE": True, **settings,
              "EXPLAINER_SECRET": SECRET, "EXPLAINER_TTL_S": TTL_S, **overrides}
    app = create_app(config)
    if app.extensions.get(EXTENSION) is not None:
        current = app.extensions[EXTENSION]
        app.extensions[EXTENSION] = Explainer(ExplainerTokens(SECRET, TTL_S, clock=clock), current.store)
    return app


@pytest.fixture
def xapp(tmp_path, clock, database):
    """On SQLite and on PostgreSQL: the evidence behind the pages is in the store."""
    return explainer_app(tmp_path, clock, database)


@pytest.fixture
def xclient(xapp) -> CheckedClient:
    return CheckedClient(xapp.test_client())


def hook_body(**changes) -> dict:
    """The ACC/AHA worked-example patient; ``total_cholesterol`` replaces its TC value (another patient's record)."""
    body = load_fixture("hooks/patient-view-prefetch.json")
    if "total_cholesterol" in changes:
        text = json.dumps(body).replace('"value": 213', f'"value": {changes["total_cholesterol"]}')
        body = json.loads(text)
    if "hook_instance" in changes:
        body["hookInstance"] = changes["hook_instance"]
    return body


def explainer_links(response_json: dict) -> list[str]:
    return [link["url"] for card in response_json["cards"] for link in card.get("links", [])
            if link["label"] == "How this was calculated"]
