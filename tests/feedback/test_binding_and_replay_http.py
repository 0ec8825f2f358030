"""Through HTTP, as an EHR would: feedback on one patient's card never reaches another patient's (an EHR may reuse a
hook instance), and an answer posted again - another timestamp, an upper-case uuid, thousands of copies - is one
answer: one row, one suppression, counted once in the report."""
from __future__ import annotations

import json

import pytest

from cards import render
from cds_hooks.report import build_report, feedback_report
from cds_hooks.store import store_of
from tests.conftest import CheckedClient
from tests.databases import sqlite_database
from tests.feedback.conftest import FEEDBACK, card_about, feedback_app, open_chart, override, record

DIABETES = "Possible undiagnosed diabetes"
REASONS = "urn:precision-cds:override-reason"


def overridden(card: dict, code: str = "not-applicable", *, when: str = "2026-06-01T10:00:00Z",
               uuid: str | None = None) -> dict:
    return {"card": uuid or card["uuid"], "outcome": "overridden", "outcomeTimestamp": when,
            "overrideReason": {"reason": {"system": REASONS, "code": code}}}


def post(client, items: list[dict]):
    return client.post(FEEDBACK, data=json.dumps({"feedback": items}), content_type="application/json")


# -- a hook instance reused for another patient ------------------------------------------------------------------------
def test_two_patients_called_with_one_hook_instance_get_different_card_uuids(client):
    first, other = record(), record(patient="patient-b")
    assert first["hookInstance"] == other["hookInstance"]
    mine, theirs = card_about(open_chart(client, first), DIABETES), card_about(open_chart(client, other), DIABETES)
    assert mine["uuid"] != theirs["uuid"]
    assert {s["uuid"] for s in mine.get("suggestions", ())}.isdisjoint(s["uuid"] for s in theirs.get("suggestions", ()))
    # The same call still renders the same uuids.
    assert card_about(open_chart(client, first), DIABETES)["uuid"] == mine["uuid"]


def test_feedback_on_one_patients_card_does_not_hide_another_patients(client):
    first, other = record(), record(patient="patient-b")
    mine = card_about(open_chart(client, first), DIABETES)
    card_about(open_chart(client, other), DIABETES)  # the other patient's chart, same hook instance, opened after
    assert override(client, mine, "patient-declined").status_code == 200
    assert card_about(open_chart(client, first), DIABETES) is None
    assert card_about(open_chart(client, other), DIABETES) is not None


def test_a_card_uuid_issued_for_two_patients_is_answered_but_hides_nothing(client, app, monkeypatch):
    """Cards issued before uuids named the patient: one uuid for two patients' cards. The answer is stored and
    reported, and hides neither card - nobody can tell whose it was."""
    monkeypatch.setattr(render, "_call_namespace", lambda options: options.hook_instance)  # as issued before
    first, other = record(), record(patient="patient-b")
    mine = card_about(open_chart(client, first), DIABETES)
    theirs = card_about(open_chart(client, other), DIABETES)
    assert mine["uuid"] == theirs["uuid"]
    monkeypatch.undo()

    assert override(client, mine, "patient-declined").status_code == 200
    assert len(list(store_of(app).feedback_rows())) == 1
    assert list(store_of(app).suppression_rows()) == []
    assert card_about(open_chart(client, first), DIABETES) is not None
    assert card_about(open_chart(client, other), DIABETES) is not None


# -- the same answer again ---------------------------------------------------------------------------------------------
def test_copies_with_other_timestamps_and_upper_case_uuids_are_one_answer(client, app):
    diabetes = card_about(open_chart(client), DIABETES)
    copies = [overridden(diabetes, when=f"2026-06-01T10:{n // 60:02d}:{n % 60:02d}Z",
                         uuid=diabetes["uuid"].upper() if n % 2 else diabetes["uuid"]) for n in range(100)]
    assert post(client, copies).status_code == 200
    assert post(client, [overridden(diabetes, when="2026-06-09T08:00:00Z", uuid=diabetes["uuid"].upper())]
                ).status_code == 200
    store = store_of(app)
    assert len(list(store.feedback_rows())) == 1
    assert len(list(store.suppression_rows())) == 1
    assert feedback_report(store)["overall"]["overridden"] == 1
    assert card_about(open_chart(client), DIABETES) is None


def test_more_items_than_the_limit_are_refused_with_413_and_nothing_is_stored(client, app):
    diabetes = card_about(open_chart(client), DIABETES)
    resp = post(client, [overridden(diabetes, when=f"2026-06-01T10:00:{n % 60:02d}Z") for n in range(101)])
    assert resp.status_code == 413
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome" and "at most 100 items" in body["issue"][0]["diagnostics"]
    assert list(store_of(app).feedback_rows()) == [] and list(store_of(app).suppression_rows()) == []
    assert card_about(open_chart(client), DIABETES) is not None


def test_the_item_limit_is_a_setting(database, clock):
    client = CheckedClient(feedback_app(database, clock, FEEDBACK_MAX_ITEMS=2).test_client())
    diabetes = card_about(open_chart(client), DIABETES)
    assert post(client, [overridden(diabetes)] * 3).status_code == 413
    assert post(client, [overridden(diabetes)] * 2).status_code == 200


@pytest.mark.parametrize("limit", [0, -1, 2.5, True, "100"])
def test_a_bad_item_limit_stops_the_start_up(tmp_path, clock, limit):
    with pytest.raises(ValueError, match="FEEDBACK_MAX_ITEMS"):
        feedback_app(sqlite_database(tmp_path), clock, FEEDBACK_MAX_ITEMS=limit)  # refused before any database


def test_one_active_suppression_per_card_and_reason(client, app):
    """The chart opened twice before the clinician answers: the same card under two uuids, both answered with the
    same reason. One suppression holds; another reason is another one."""
    first, second = card_about(open_chart(client), DIABETES), card_about(open_chart(client), DIABETES)
    assert first["uuid"] == second["uuid"]  # the same hook instance: the same uuid
    again = card_about(open_chart(client, dict(record(), hookInstance="0b5c7f0e-3a2d-4f4e-8a1b-9c8d7e6f5a40")),
                       DIABETES)
    assert again["uuid"] != first["uuid"]
    assert post(client, [overridden(first), overridden(again, when="2026-06-01T10:05:00Z")]).status_code == 200
    assert post(client, [overridden(again, when="2026-06-02T10:05:00Z")]).status_code == 200
    rows = list(store_of(app).suppression_rows())
    assert [(r["reason_code"], r["lifted_at"]) for r in rows] == [("not-applicable", None)]
    assert post(client, [overridden(again, "patient-declined")]).status_code == 200
    assert sorted(r["reason_code"] for r in store_of(app).suppression_rows()) == ["not-applicable",
                                                                                  "patient-declined"]
    assert len(list(store_of(app).feedback_rows())) == 3  # each card's answers are kept for the report


def test_the_report_counts_one_answer_per_card_and_reason():
    """Rows stored before re-posts were merged (another timestamp: another row) count once."""
    from datetime import datetime, timezone

    def row(card: str, code: str | None, outcome: str = "overridden") -> dict:
        return {"service_id": "diagnosis-gaps", "issuer": None, "tenant": None, "card_uuid": card,
                "outcome": outcome, "override_system": REASONS if code else None, "override_code": code,
                "has_user_comment": False, "engine_ids": json.dumps(["diabetes-gap"]),
                "finding_ids": json.dumps(["diabetes-gap:diabetes"]),
                "received_at": datetime(2026, 6, 1, tzinfo=timezone.utc)}

    card = "e78048e1-3de1-540b-9b12-266e369fa782"
    rows = [row(card, "not-applicable")] * 500 + [row(card.upper(), "not-applicable"), row(card, "patient-declined"),
                                                  row(card, None, "accepted"), row(card, None, "accepted"),
                                                  row("0b5c7f0e-3a2d-4f4e-8a1b-9c8d7e6f5a40", "not-applicable")]
    [rule] = build_report(rows)["findings"]
    assert (rule["total"], rule["overridden"], rule["accepted"]) == (4, 3, 1)
    assert rule["override_reasons"] == {f"{REASONS}|not-applicable": 2, f"{REASONS}|patient-declined": 1}
