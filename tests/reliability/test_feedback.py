"""Feedback (POST /cds-services/{id}/feedback): spec validation, binding to the cards the service issued, durable
idempotent storage, linkage of each card to the findings and engines that produced it, and the acceptance/override
report (function and CLI). What feedback hides is tested in tests/feedback/. Every test with an app runs on SQLite and
on PostgreSQL (the ``database`` fixture)."""
from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from cds_hooks.app import create_app
from cds_hooks.declaration import find_engine
from cds_hooks.cli import main
from cds_hooks.report import build_report, feedback_report, format_text
from cds_hooks.store import store_of
from tests.conftest import TEST_AS_OF, load_fixture

SERVICE = "/cds-services/cardiovascular-risk"
FEEDBACK = SERVICE + "/feedback"
CARD = "9b3b6b1e-1b8a-4c3e-9f0e-6b2a1c4d5e6f"  # never issued
SUGGESTION = "0f1e2d3c-4b5a-4968-8776-655443322110"


@pytest.fixture
def app(database):
    return create_app({"AS_OF": TEST_AS_OF, "TESTING": True, "DEV_MODE": True, **database.settings})


def post_json(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def shown(client) -> dict:
    """A card the service issued to this client: 'Data needed' with its 'Order a lipid panel' suggestion."""
    resp = post_json(client, SERVICE, load_fixture("hooks/patient-view-missing-lipids.json"))
    card = resp.get_json()["cards"][0]
    assert card.get("suggestions")
    return card


def item(**fields) -> dict:
    base = {"card": CARD, "outcome": "overridden", "outcomeTimestamp": "2026-06-01T10:00:00Z"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def expressions(resp) -> list[str]:
    return [e for i in resp.get_json()["issue"] for e in i.get("expression", [])]


# -- validation ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("feedback_item", [
    lambda card: item(card=card["uuid"]),
    lambda card: item(card=card["uuid"], overrideReason={"reason": {"code": "not-relevant",
                                                                     "system": "https://example.org/override-reasons"}}),
    lambda card: item(card=card["uuid"], overrideReason={"userComment": "discussed already"}),
    lambda card: item(card=card["uuid"], outcome="accepted", acceptedSuggestions=[{"id": card["suggestions"][0]["uuid"]}]),
    lambda card: item(card=card["uuid"], outcome="accepted",
                      acceptedSuggestions=[{"id": card["suggestions"][0]["uuid"].upper()}]),
    lambda card: item(card=card["uuid"], outcomeTimestamp="2026-06-01t10:00:00.123+02:00"),
    lambda card: item(card=card["uuid"].upper()),
])
def test_valid_feedback_on_an_issued_card_is_200(client, app, shown, feedback_item):
    resp = post_json(client, FEEDBACK, {"feedback": [feedback_item(shown)]})
    assert resp.status_code == 200
    assert [r["card_uuid"] for r in store_of(app).feedback_rows()] == [shown["uuid"]]


def test_feedback_on_a_card_never_issued_is_404_and_stored_nowhere(client, app, shown):
    body = {"feedback": [item(card=shown["uuid"]), item(card=CARD)]}  # one good item does not carry the other
    resp = post_json(client, FEEDBACK, body)
    assert resp.status_code == 404
    assert expressions(resp) == ["feedback[1].card"]
    assert list(store_of(app).feedback_rows()) == [] and list(store_of(app).suppression_rows()) == []


def test_accepting_a_suggestion_the_card_did_not_offer_is_400_and_stored_nowhere(client, app, shown):
    body = {"feedback": [item(card=shown["uuid"], outcome="accepted", acceptedSuggestions=[{"id": SUGGESTION}])]}
    resp = post_json(client, FEEDBACK, body)
    assert resp.status_code == 400
    assert expressions(resp) == ["feedback[0].acceptedSuggestions[0].id"]
    assert list(store_of(app).feedback_rows()) == [] and list(store_of(app).suppression_rows()) == []


def test_a_card_of_another_service_is_unknown_here(client, app, shown):
    resp = post_json(client, "/cds-services/diagnosis-gaps/feedback", {"feedback": [item(card=shown["uuid"])]})
    assert resp.status_code == 404
    assert list(store_of(app).feedback_rows()) == []


def test_a_card_issued_before_the_feedback_window_is_unknown(client, app, shown):
    from cds_hooks.suppression import memory_of

    memory = memory_of(app)
    memory.clock = lambda: time.time() + app.config["FEEDBACK_CARD_WINDOW_S"] + 60
    assert post_json(client, FEEDBACK, {"feedback": [item(card=shown["uuid"])]}).status_code == 404
    assert list(store_of(app).feedback_rows()) == []


@pytest.mark.parametrize("feedback_item, where", [
    (item(outcome="accepted"), "feedback[0].acceptedSuggestions"),
    (item(outcome="accepted", acceptedSuggestions=[{"id": SUGGESTION}], overrideReason={"userComment": "x"}),
     "feedback[0].overrideReason"),
    (item(acceptedSuggestions=[{"id": SUGGESTION}]), "feedback[0].acceptedSuggestions"),
    (item(outcome="ignored"), "feedback[0].outcome"),
    (item(card="card-1"), "feedback[0].card"),
    (item(card=None), "feedback[0].card"),
    (item(outcomeTimestamp=None), "feedback[0].outcomeTimestamp"),
    (item(outcomeTimestamp="2026-06-01"), "feedback[0].outcomeTimestamp"),
    (item(outcomeTimestamp="2026-06-01T10:00:00"), "feedback[0].outcomeTimestamp"),  # no zone
    (item(outcomeTimestamp="2026-02-30T10:00:00Z"), "feedback[0].outcomeTimestamp"),  # no such day
    (item(overrideReason={}), "feedback[0].overrideReason"),
    (item(overrideReason={"reason": {"code": "x"}}), "feedback[0].overrideReason.reason.system"),
    (item(outcome="accepted", acceptedSuggestions=[{"id": "nope"}]), "feedback[0].acceptedSuggestions[0].id"),
])
def test_invalid_feedback_is_400_naming_the_field(client, feedback_item, where):
    resp = post_json(client, FEEDBACK, {"feedback": [feedback_item]})
    assert resp.status_code == 400
    assert where in expressions(resp)


@pytest.mark.parametrize("body", [{}, {"feedback": []}, {"feedback": "x"}, {"feedback": [1]}])
def test_feedback_body_shape_is_400(client, body):
    assert post_json(client, FEEDBACK, body).status_code == 400


def test_invalid_feedback_stores_nothing(client, app, shown):
    body = {"feedback": [item(card=shown["uuid"]), item(card=shown["uuid"], outcome="ignored")]}
    assert post_json(client, FEEDBACK, body).status_code == 400
    assert list(store_of(app).feedback_rows()) == []


def test_feedback_for_unknown_service_is_404(client):
    assert post_json(client, "/cds-services/nope/feedback", {"feedback": [item()]}).status_code == 404


def test_feedback_needs_json(client):
    assert client.post(FEEDBACK, data="x", content_type="text/plain").status_code == 415
    assert client.post(FEEDBACK, data="{", content_type="application/json").status_code == 400


def test_get_on_feedback_is_405(client):
    assert client.get(FEEDBACK).status_code == 405


# -- storage and linkage ------------------------------------------------------------------------------------------
def test_repeated_identical_feedback_is_stored_once(client, app, shown):
    """An item is what it says, not when the client says it happened: the same answer with another timestamp or an
    upper-case uuid, in one request or several, is one row (the first one's timestamp is kept)."""
    body = {"feedback": [item(card=shown["uuid"]), item(card=shown["uuid"], outcomeTimestamp="2026-06-01T11:00:00Z"),
                         item(card=shown["uuid"].upper(), outcomeTimestamp="2026-06-02T08:00:00Z")]}
    for _ in range(3):
        assert post_json(client, FEEDBACK, body).status_code == 200
    [row] = list(store_of(app).feedback_rows())
    assert row["outcome_timestamp"] == "2026-06-01T10:00:00Z"
    # Another answer about the same card is another row.
    commented = item(card=shown["uuid"], overrideReason={"userComment": "discussed already"})
    assert post_json(client, FEEDBACK, {"feedback": [commented]}).status_code == 200
    assert len(list(store_of(app).feedback_rows())) == 2


def test_feedback_is_linked_to_the_findings_and_engines_of_the_card(client, app):
    cards = post_json(client, SERVICE, load_fixture("hooks/patient-view-prefetch.json")).get_json()["cards"]
    outcome_by_card = {}
    items = []
    for card in cards:
        if card.get("suggestions"):
            items.append(item(card=card["uuid"], outcome="accepted",
                              acceptedSuggestions=[{"id": card["suggestions"][0]["uuid"]}]))
        else:
            items.append(item(card=card["uuid"], overrideReason={"userComment": "patient declined"}))
        outcome_by_card[card["uuid"]] = items[-1]["outcome"]
    assert post_json(client, FEEDBACK, {"feedback": items}).status_code == 200

    rows = {r["card_uuid"]: r for r in store_of(app).feedback_rows()}
    for card in cards:
        row = rows[card["uuid"]]
        assert json.loads(row["finding_ids"]) and json.loads(row["engine_ids"])
        engine = json.loads(row["engine_ids"])[0]
        # The card names the engine by its short citation (no engine ids on cards); the row keeps the engine id.
        assert (find_engine(engine).citation.short == card["source"]["label"]
                or card["summary"].startswith("Data needed"))
        assert row["hook_instance"] == "2b8a7d1e-6c43-4f4e-9d0b-3f9a1e2c5d70"
        assert row["user_comment"] is None  # free text is not kept by default
        assert row["has_user_comment"] == (row["outcome"] == "overridden")

    report = feedback_report(store_of(app))
    assert report["overall"]["total"] == len(cards)
    assert report["unlinked"]["total"] == 0
    engines = {e["key"]: e for e in report["engines"]}
    assert "pce-2013" in engines
    pce = engines["pce-2013"]
    assert pce["accepted"] + pce["overridden"] == pce["total"] >= 1


def test_override_comments_are_kept_only_when_configured(database):
    app = create_app({"DEV_MODE": True, **database.settings, "FEEDBACK_KEEP_COMMENTS": True})
    card = post_json(app.test_client(), SERVICE, load_fixture("hooks/patient-view-prefetch.json")).get_json()["cards"][0]
    body = {"feedback": [item(card=card["uuid"], overrideReason={"userComment": "seen by cardiology"})]}
    assert post_json(app.test_client(), FEEDBACK, body).status_code == 200
    assert [r["user_comment"] for r in store_of(app).feedback_rows()] == ["seen by cardiology"]


# -- the report ---------------------------------------------------------------------------------------------------
def _row(outcome, engines, findings, code=None, comment=False):
    from datetime import datetime, timezone

    return {"outcome": outcome, "engine_ids": json.dumps(engines) if engines else None,
            "finding_ids": json.dumps(findings) if findings else None, "override_code": code,
            "override_system": "urn:reasons" if code else None, "has_user_comment": comment,
            "received_at": datetime(2026, 6, 1, tzinfo=timezone.utc)}


def test_report_rates_per_engine_and_finding():
    rows = [
        _row("accepted", ["pce-2013"], ["pce-2013:ascvd-10y"]),
        _row("overridden", ["pce-2013"], ["pce-2013:ascvd-10y"], code="not-relevant"),
        _row("overridden", ["pce-2013"], ["pce-2013:ascvd-10y"], code="not-relevant"),
        _row("overridden", ["pce-2013"], ["pce-2013:ascvd-10y"], comment=True),
        # A combined data-needed card counts for both of its findings and engines.
        _row("accepted", ["pce-2013", "prevent-2024-base"], ["pce-2013:ascvd-10y", "prevent-2024-base:cvd-10y"]),
        _row("overridden", None, None),
    ]
    report = build_report(rows)
    engines = {e["key"]: e for e in report["engines"]}
    assert engines["pce-2013"]["total"] == 5
    assert engines["pce-2013"]["accepted"] == 2 and engines["pce-2013"]["overridden"] == 3
    assert engines["pce-2013"]["acceptance_rate"] == 0.4
    assert engines["pce-2013"]["override_rate"] == 0.6
    assert engines["pce-2013"]["override_reasons"] == {"urn:reasons|not-relevant": 2, "comment only": 1}
    assert engines["prevent-2024-base"]["total"] == 1 and engines["prevent-2024-base"]["acceptance_rate"] == 1.0
    findings = {f["key"]: f for f in report["findings"]}
    assert set(findings) == {"pce-2013:ascvd-10y", "prevent-2024-base:cvd-10y"}
    assert report["overall"]["total"] == 6
    assert report["unlinked"]["total"] == 1
    text = format_text(report)
    assert "pce-2013" in text and "40.0" in text and "60.0" in text


def test_report_since_filters_by_reception_time():
    from datetime import datetime

    rows = [_row("accepted", ["e"], ["e:f"])]
    assert build_report(rows, since=datetime(2026, 7, 1))["overall"]["total"] == 0
    assert build_report(rows, since=datetime(2026, 5, 1))["overall"]["total"] == 1


def test_feedback_report_cli(client, app, shown, database, monkeypatch):
    post_json(client, FEEDBACK, {"feedback": [item(card=shown["uuid"])]})
    store_of(app).dispose()
    for key, value in database.environment().items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["feedback-report", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["overall"]["total"] == 1
    text = CliRunner().invoke(main, ["feedback-report"])
    assert text.exit_code == 0 and "Engines" in text.output
    bad = CliRunner().invoke(main, ["feedback-report", "--since", "yesterday"])
    assert bad.exit_code != 0
