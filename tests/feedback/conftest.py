"""Apps whose suppression clock the tests can move, and hook requests an EHR would send as the record changes.

The patient is the diagnosis-gaps fixture (a woman with five possible undiagnosed conditions, each a warning card that
offers override reasons; the anaemia card also offers two suggestions).

Every test that builds an app runs twice: on a SQLite file and on a PostgreSQL database of the session's throwaway
server (the ``database`` fixture, tests/conftest.py); the apps of one test share its database."""
from __future__ import annotations

import copy
import json
import time

import pytest

from cards.fhir import OVERRIDE_REASON_SYSTEM
from cds_hooks.app import create_app
from cds_hooks.explainer import EXTENSION, Explainer
from cds_hooks.explainer.tokens import ExplainerTokens
from cds_hooks.suppression import memory_of
from tests.conftest import TEST_AS_OF, CheckedClient, load_fixture
from tests.databases import Database

SERVICE = "/cds-services/diagnosis-gaps"
FEEDBACK = SERVICE + "/feedback"
SECRET = "feedback-test-secret-0123456789abcdef"
DAY_S = 86400.0


class Clock:
    """Seconds since the epoch, ``days`` ahead of now."""

    def __init__(self) -> None:
        self.days = 0.0

    def __call__(self) -> float:
        return time.time() + self.days * DAY_S


@pytest.fixture
def clock() -> Clock:
    return Clock()


def feedback_app(database: Database, clock: Clock, **overrides):
    config = {"AS_OF": TEST_AS_OF, "TESTING": True, "DEV_MODE": True, **database.settings,
              "EXPLAINER_SECRET": SECRET, **overrides}
    app = create_app(config)
    memory_of(app).clock = clock
    if app.extensions.get(EXTENSION) is not None:  # explainer links live as long as the test's clock needs
        store = app.extensions[EXTENSION].store
        app.extensions[EXTENSION] = Explainer(ExplainerTokens(SECRET, 10 * 365 * DAY_S, clock=clock), store)
    return app


@pytest.fixture
def app(database, clock):
    return feedback_app(database, clock)


@pytest.fixture
def client(app) -> CheckedClient:
    return CheckedClient(app.test_client())


# -- the record -------------------------------------------------------------------------------------------------------
def record(**changes) -> dict:
    """The diagnosis-gaps hook request. ``patient``: another patient's id (everywhere it appears); ``add``: extra
    Observations (resources) put first."""
    body = load_fixture("hooks/patient-view-diagnosis-gaps.json")
    if "patient" in changes:
        body = json.loads(json.dumps(body).replace("dx-gaps-woman", changes["patient"]))
    observations = body["prefetch"]["observations"]
    for resource in changes.get("add", ()):
        observations["entry"].insert(0, {"resource": resource})
    observations["total"] = len(observations["entry"])
    return body


def observation_like(body: dict, template_id: str, new_id: str, when: str, value: float | None = None,
                     components: tuple[float, float] | None = None) -> dict:
    """A copy of one of the record's Observations, as a new result on another day."""
    template = next(e["resource"] for e in body["prefetch"]["observations"]["entry"] if e["resource"]["id"] == template_id)
    resource = copy.deepcopy(template)
    resource["id"] = new_id
    resource["effectiveDateTime"] = when
    if value is not None:
        resource["valueQuantity"]["value"] = value
    if components is not None:
        resource["component"][0]["valueQuantity"]["value"] = components[0]
        resource["component"][1]["valueQuantity"]["value"] = components[1]
    return resource


def new_hba1c(value: float = 7.4) -> dict:
    return observation_like(record(), "dx-a1c", "dx-a1c-new", "2026-05-28T08:00:00Z", value=value)


def crisis_bp() -> dict:
    return observation_like(record(), "dx-bp-2", "dx-bp-crisis", "2026-05-30T09:00:00Z", components=(188, 124))


# -- calls ------------------------------------------------------------------------------------------------------------
def open_chart(client, body: dict | None = None) -> list[dict]:
    resp = client.post(SERVICE, data=json.dumps(body or record()), content_type="application/json")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return resp.get_json()["cards"]


def card_about(cards: list[dict], words: str) -> dict | None:
    return next((c for c in cards if words in c["summary"]), None)


def override(client, card: dict, code: str | None, *, system: str = OVERRIDE_REASON_SYSTEM, comment: str | None = None,
             service: str = FEEDBACK):
    reason: dict = {}
    if code:
        reason["reason"] = {"system": system, "code": code}
    if comment:
        reason["userComment"] = comment
    item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-06-01T10:00:00Z"}
    if reason:
        item["overrideReason"] = reason
    return client.post(service, data=json.dumps({"feedback": [item]}), content_type="application/json")


def accept(client, card: dict, *labels: str):
    chosen = [{"id": s["uuid"]} for s in card["suggestions"] if any(label in s["label"] for label in labels)]
    assert len(chosen) == len(labels)
    item = {"card": card["uuid"], "outcome": "accepted", "acceptedSuggestions": chosen,
            "outcomeTimestamp": "2026-06-01T10:00:00Z"}
    return client.post(FEEDBACK, data=json.dumps({"feedback": [item]}), content_type="application/json")


def page_of(client, card: dict) -> str:
    url = next(link["url"] for link in card["links"] if link["label"] == "How this was calculated")
    resp = client.raw().get(url[url.index("/explain/"):])
    assert resp.status_code == 200
    return resp.get_data(as_text=True)
