"""End to end through HTTP, as an EHR would: open the chart (patient-view), answer a card (feedback), open the chart
again. What an override hides, for whom and how long; what brings a card back at once; critical cards; accepted
suggestions; the explainer page; feedback that names no issued card; the database shared by two app instances."""
from __future__ import annotations

import re

import pytest
from sqlalchemy.exc import OperationalError

from cds_hooks import audit
from cds_hooks.store import Suppression, card_suppression, store_of
from cds_hooks.suppression.identity import suggestion_key
from tests.conftest import CheckedClient
from tests.feedback.conftest import (
    FEEDBACK,
    accept,
    card_about,
    crisis_bp,
    feedback_app,
    new_hba1c,
    observation_like,
    open_chart,
    override,
    page_of,
    record,
)

DIABETES = "Possible undiagnosed diabetes"
HYPERTENSION = "Possible undiagnosed hypertension"
ANAEMIA = "Possible undocumented anaemia"
CKD = "Possible undiagnosed chronic kidney disease"


def summaries(cards: list[dict]) -> list[str]:
    return [c["summary"].split(":")[0] for c in cards]


# -- an override hides the card for this patient ---------------------------------------------------------------------
def test_override_with_a_reason_hides_the_card_at_the_next_opening(client, app):
    first = open_chart(client)
    diabetes = card_about(first, DIABETES)
    assert override(client, diabetes, "patient-declined").status_code == 200

    second = open_chart(client)
    assert card_about(second, DIABETES) is None
    assert summaries(second) == [s for s in summaries(first) if s != DIABETES]  # the others are untouched
    third = open_chart(client)  # and at every opening after
    assert card_about(third, DIABETES) is None

    [row] = list(store_of(app).suppression_rows())
    assert row["reason_code"] == "patient-declined" and row["suggestion_key"] is None
    assert 89.9 < (row["until_at"] - row["created_at"]) / 86400 < 90.1  # the documented default: 90 days


def test_the_same_card_for_another_patient_is_still_shown(client):
    diabetes = card_about(open_chart(client), DIABETES)
    assert override(client, diabetes, "not-applicable").status_code == 200
    assert card_about(open_chart(client, record(patient="another-woman")), DIABETES) is not None
    assert card_about(open_chart(client), DIABETES) is None


def test_reposting_the_same_feedback_makes_one_suppression(client, app):
    diabetes = card_about(open_chart(client), DIABETES)
    for _ in range(3):
        assert override(client, diabetes, "patient-declined").status_code == 200
    assert len(list(store_of(app).suppression_rows())) == 1
    assert len(list(store_of(app).feedback_rows())) == 1


@pytest.mark.parametrize("code, days_hidden, days_back", [
    ("patient-declined", 89, 91),
    ("defer", 6, 8),
    ("already-addressed", 179, 181),
])
def test_each_reason_hides_for_its_period(client, clock, code, days_hidden, days_back):
    card = card_about(open_chart(client), HYPERTENSION)  # offers the diagnosis and the order reasons
    assert override(client, card, code).status_code == 200
    clock.days = days_hidden
    assert card_about(open_chart(client), HYPERTENSION) is None
    clock.days = days_back
    assert card_about(open_chart(client), HYPERTENSION) is not None


def test_not_applicable_hides_until_the_inputs_change_with_no_time_limit(client, clock):
    assert override(client, card_about(open_chart(client), DIABETES), "not-applicable").status_code == 200
    clock.days = 3 * 365
    cards = open_chart(client)
    assert card_about(cards, DIABETES) is None
    assert "Not applicable to this patient until its inputs change (no time limit)" in _text(page_of(client, cards[0]))
    assert card_about(open_chart(client, record(add=[new_hba1c()])), DIABETES) is not None


def test_periods_are_configurable_per_reason(database, clock):
    client = CheckedClient(feedback_app(database, clock, SUPPRESSION_DAYS={"patient-declined": 10,
                                                                            "not-applicable": 0}).test_client())
    first = open_chart(client)
    assert override(client, card_about(first, DIABETES), "patient-declined").status_code == 200
    assert override(client, card_about(first, HYPERTENSION), "not-applicable").status_code == 200  # 0: hides nothing
    clock.days = 9
    cards = open_chart(client)
    assert card_about(cards, DIABETES) is None and card_about(cards, HYPERTENSION) is not None
    clock.days = 11
    assert card_about(open_chart(client), DIABETES) is not None


@pytest.mark.parametrize("code, system, comment", [
    (None, None, "seen by the diabetologist"),  # a comment only
    ("patient-declined", "https://ehr.example.org/reasons", None),  # the EHR's own code system
    ("defer", None, None),  # one of ours, but the diabetes card does not offer it
    ("made-up", None, None),
])
def test_a_reason_the_card_did_not_offer_is_stored_and_hides_nothing(client, app, code, system, comment):
    from cards.fhir import OVERRIDE_REASON_SYSTEM

    diabetes = card_about(open_chart(client), DIABETES)
    resp = override(client, diabetes, code, system=system or OVERRIDE_REASON_SYSTEM, comment=comment)
    assert resp.status_code == 200
    assert len(list(store_of(app).feedback_rows())) == 1
    assert list(store_of(app).suppression_rows()) == []
    assert card_about(open_chart(client), DIABETES) is not None


def test_suppression_can_be_turned_off(database, clock):
    app = feedback_app(database, clock, SUPPRESSION_ENABLED=False)
    client = CheckedClient(app.test_client())
    assert override(client, card_about(open_chart(client), DIABETES), "patient-declined").status_code == 200
    assert len(list(store_of(app).feedback_rows())) == 1
    assert card_about(open_chart(client), DIABETES) is not None


# -- material change brings it back at once --------------------------------------------------------------------------
def test_a_new_lab_result_brings_the_card_back_at_once(client, app):
    assert override(client, card_about(open_chart(client), DIABETES), "patient-declined").status_code == 200
    assert card_about(open_chart(client), DIABETES) is None
    back = card_about(open_chart(client, record(add=[new_hba1c(8.2)])), DIABETES)
    assert back is not None and "8.2" in back["summary"]
    [row] = list(store_of(app).suppression_rows())
    assert row["lifted_because"] == "inputs-changed" and row["lifted_at"] is not None
    # Lifted for good: the card stays when the record is read again.
    assert card_about(open_chart(client, record(add=[new_hba1c(8.2)])), DIABETES) is not None


def test_a_new_result_of_an_unrelated_test_changes_nothing(client):
    assert override(client, card_about(open_chart(client), DIABETES), "patient-declined").status_code == 200
    unrelated = observation_like(record(), "dx-bmi", "dx-bmi-new", "2026-05-28T08:00:00Z", value=35.0)
    assert card_about(open_chart(client, record(add=[unrelated])), DIABETES) is None


def test_a_rising_stage_brings_the_card_back(client):
    ckd = card_about(open_chart(client), CKD)
    assert "G3a" in ckd["summary"]
    assert override(client, ckd, "already-addressed").status_code == 200
    assert card_about(open_chart(client), CKD) is None
    lower = observation_like(record(), "dx-egfr-2", "dx-egfr-3", "2026-05-25T08:00:00Z", value=38)
    back = card_about(open_chart(client, record(add=[lower])), CKD)
    assert back is not None and "G3b" in back["summary"]


def test_a_crisis_is_shown_though_the_hypertension_card_was_answered(client):
    assert override(client, card_about(open_chart(client), HYPERTENSION), "not-applicable").status_code == 200
    cards = open_chart(client, record(add=[crisis_bp()]))
    assert cards[0]["indicator"] == "critical" and "hypertensive crisis" in cards[0]["summary"]


# -- critical cards are never suppressed ----------------------------------------------------------------------------
def test_a_critical_card_is_never_suppressed(client, app, clock):
    crisis = record(add=[crisis_bp()])
    critical = open_chart(client, crisis)[0]
    assert critical["indicator"] == "critical" and "patient-declined" in [r["code"] for r in critical["overrideReasons"]]
    assert override(client, critical, "patient-declined").status_code == 200  # the feedback is stored...
    assert len(list(store_of(app).feedback_rows())) == 1
    assert list(store_of(app).suppression_rows()) == []  # ...and hides nothing
    for days in (0, 1, 30):
        clock.days = days
        again = open_chart(client, crisis)
        assert again[0]["indicator"] == "critical" and again[0]["summary"] == critical["summary"]


def test_a_critical_card_is_sent_whole_even_against_a_matching_suppression(client, app):
    """Defence in depth: a suppression row that matches a critical card (say, written by an older policy) hides
    nothing and takes no suggestion off it."""
    crisis = record(add=[crisis_bp()])
    critical = open_chart(client, crisis)[0]
    audit.flush(app)  # the batched audit writer commits the issued cards
    [issued] = [c for c in store_of(app).issued_cards([critical["uuid"]], service_id="diagnosis-gaps", issuer=None,
                                                         tenant=None, since=0).values()]
    store = store_of(app)
    rows = [Suppression(key=f"k{n}", card_key=issued.card_key, patient_key=issued.patient_key,
                        service_id="diagnosis-gaps", suggestion_key=key, reason_code="patient-declined",
                        reason_display=None, fingerprint=issued.fingerprint, title=issued.title,
                        card_uuid=critical["uuid"], finding_ids=issued.finding_ids, created_at=0.0, until_at=None)
            for n, key in enumerate([None, suggestion_key(critical["suggestions"][0]["label"])])]
    with store.engine.begin() as conn:
        conn.execute(card_suppression.insert(), [r.row() for r in rows])
    again = open_chart(client, crisis)[0]
    assert again["summary"] == critical["summary"]
    assert [s["label"] for s in again["suggestions"]] == [s["label"] for s in critical["suggestions"]]


# -- accepted suggestions ---------------------------------------------------------------------------------------------
def test_an_accepted_suggestion_is_not_offered_again_until_the_timeout(client, app, clock):
    anaemia = card_about(open_chart(client), ANAEMIA)
    assert [s["label"] for s in anaemia["suggestions"]] == ["Add 'Anaemia' to the problem list (provisional)",
                                                             "Order a complete blood count with red-cell indices"]
    assert accept(client, anaemia, "complete blood count").status_code == 200

    trimmed = card_about(open_chart(client), ANAEMIA)
    assert [s["label"] for s in trimmed["suggestions"]] == ["Add 'Anaemia' to the problem list (provisional)"]

    assert accept(client, trimmed, "problem list").status_code == 200  # everything it offered is done: no card
    assert card_about(open_chart(client), ANAEMIA) is None

    clock.days = 29
    assert card_about(open_chart(client), ANAEMIA) is None
    clock.days = 31  # the documented default: 30 days
    assert len(card_about(open_chart(client), ANAEMIA)["suggestions"]) == 2


def test_an_accepted_suggestion_comes_back_when_the_record_shows_a_new_result(client, app):
    anaemia = card_about(open_chart(client), ANAEMIA)
    assert accept(client, anaemia, "complete blood count").status_code == 200
    assert len(card_about(open_chart(client), ANAEMIA)["suggestions"]) == 1
    cbc_done = observation_like(record(), "dx-hb", "dx-hb-new", "2026-05-29T08:00:00Z", value=11.6)
    back = card_about(open_chart(client, record(add=[cbc_done])), ANAEMIA)
    assert len(back["suggestions"]) == 2 and "11.6" in back["summary"]
    [row] = list(store_of(app).suppression_rows())
    assert row["reason_code"] == "accepted" and row["lifted_because"] == "inputs-changed"


# -- the explainer page says what is hidden, why and until when ----------------------------------------------------------
def test_the_explainer_page_says_what_is_hidden_why_and_until_when(client, app, clock):
    first = open_chart(client)
    diabetes = card_about(first, DIABETES)
    assert override(client, diabetes, "patient-declined").status_code == 200
    assert accept(client, card_about(first, ANAEMIA), "complete blood count").status_code == 200
    [declined, accepted] = sorted(store_of(app).suppression_rows(), key=lambda r: r["reason_code"], reverse=True)
    until = _day(declined["until_at"])

    second = open_chart(client)
    text = _text(page_of(client, second[0]))
    assert "Hidden for this patient" in text
    assert f"{DIABETES} Overridden on {_day(declined['created_at'])}: Patient declined until {until}" in text
    assert "Order a complete blood count with red-cell indices" in text
    assert f"until {_day(accepted['until_at'])}, or until the record shows it done" in text
    assert "critical cards are never hidden" in text
    # The trimmed anaemia card of that call: its suggestion was hidden before the call, not since.
    trimmed = _text(page_of(client, card_about(second, ANAEMIA)))
    assert "since this page was made" not in trimmed and "Order a complete blood count" in trimmed

    # The page of the card that was answered says, when opened later, that it is hidden now.
    old = _text(page_of(client, diabetes))
    assert "Hidden for this patient since this page was made This card: Overridden on" in old
    assert f"Patient declined; until {until}" in old
    # Once the card came back, its old page no longer says it is hidden.
    open_chart(client, record(add=[new_hba1c()]))
    assert "since this page was made" not in _text(page_of(client, diabetes))


def test_a_hidden_card_the_call_did_not_produce_is_still_listed(client):
    """Diabetes was answered 'not applicable'; then it is put on the problem list, so the call has no diabetes card
    at all. Its pages still say that a diabetes card is hidden for this patient, and that the call did not make it."""
    import copy

    assert override(client, card_about(open_chart(client), DIABETES), "not-applicable").status_code == 200
    body = record()
    conditions = body["prefetch"]["conditions"]
    listed = copy.deepcopy(conditions["entry"][0])
    listed["resource"]["id"] = "dx-listed-diabetes"
    listed["resource"]["code"] = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]}
    conditions["entry"].append(listed)
    conditions["total"] = len(conditions["entry"])
    cards = open_chart(client, body)
    assert card_about(cards, DIABETES) is None
    # Named by the engine's declared title: what is stored with a suppression holds no word from the record.
    assert f"{DIABETES} or prediabetes (not produced at this call) Overridden on" in _text(page_of(client, cards[0]))


def test_the_hidden_card_keeps_a_page_linked_from_the_call(client):
    assert override(client, card_about(open_chart(client), DIABETES), "patient-declined").status_code == 200
    page = page_of(client, open_chart(client)[0])
    links = re.findall(r'<a href="(/explain/[^"]+)">' + re.escape(DIABETES), page)
    # In "Other results of this call" and in "Hidden for this patient": the same page (the tokens' payload; their
    # signing time may differ by a second).
    assert len(links) == 2 and len({link.split(".")[0] for link in links}) == 1
    hidden_page = client.raw().get(links[0])
    assert hidden_page.status_code == 200 and "ADA" in hidden_page.get_data(as_text=True)


# -- feedback bound to what was shown ------------------------------------------------------------------------------------
def test_feedback_for_an_unknown_card_is_refused_stored_nowhere_and_hides_nothing(client, app):
    cards = open_chart(client)
    forged = dict(card_about(cards, DIABETES), uuid="7d1f1a52-0c2e-4c8b-9a43-5b1f0e9d2c11")
    resp = override(client, forged, "patient-declined")
    assert resp.status_code == 404
    assert resp.get_json()["issue"][0]["expression"] == ["feedback[0].card"]
    assert list(store_of(app).feedback_rows()) == [] and list(store_of(app).suppression_rows()) == []
    assert summaries(open_chart(client)) == summaries(cards)


def test_a_card_issued_by_another_service_cannot_be_answered_here(client, app):
    cvd = client.post("/cds-services/cardiovascular-risk", json=record()).get_json()["cards"]
    assert cvd
    assert override(client, cvd[0], "patient-declined", service=FEEDBACK).status_code == 404
    assert list(store_of(app).feedback_rows()) == []


# -- across workers and restarts ---------------------------------------------------------------------------------------
def test_two_app_instances_sharing_one_database_act_as_one(database, clock):
    """Like two gunicorn workers (or replicas) on one database: the card issued by one is answered at the other, and
    both then hide it; a restarted instance still does."""
    first, second = feedback_app(database, clock), feedback_app(database, clock)
    one, two = CheckedClient(first.test_client()), CheckedClient(second.test_client())
    diabetes = card_about(open_chart(one), DIABETES)
    assert override(two, diabetes, "patient-declined").status_code == 200
    assert card_about(open_chart(one), DIABETES) is None
    assert card_about(open_chart(two), DIABETES) is None
    # The card comes back at the first worker: the second one sees it lifted too.
    assert card_about(open_chart(one, record(add=[new_hba1c()])), DIABETES) is not None
    assert card_about(open_chart(two, record(add=[new_hba1c()])), DIABETES) is not None

    # Restart: a new process on the same database remembers what is hidden.
    hypertension = card_about(open_chart(one), HYPERTENSION)
    assert override(one, hypertension, "patient-declined").status_code == 200
    store_of(first).dispose()
    store_of(second).dispose()
    restarted = CheckedClient(feedback_app(database, clock).test_client())
    assert card_about(open_chart(restarted), HYPERTENSION) is None


# -- failure: the cards go out --------------------------------------------------------------------------------------------
def test_when_the_suppressions_cannot_be_read_every_card_is_sent(client, app, monkeypatch):
    first = open_chart(client)
    assert override(client, card_about(first, DIABETES), "patient-declined").status_code == 200

    def unreadable(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(store_of(app), "active_suppressions", unreadable)
    assert summaries(open_chart(client)) == summaries(first)


def _day(epoch: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d")


def _text(page: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def test_the_page_tells_an_answer_after_the_call_from_one_before_it_within_the_same_second(app):
    """The call's document keeps its moment to the fraction (``answered_s``, written by evidence.capture): a card
    answered 0.2 s after the call is "hidden since this page was made"; one hidden 0.3 s before it is not."""
    from datetime import date

    from cds_hooks.explainer import evidence
    from cds_hooks.explainer.page import hidden_now

    document = evidence.capture(service=None, as_of=date(2026, 6, 1), answered_at=1000, answered_s=1000.5,
                                findings=[], slots=[()], features=None, card_keys={(): "card-k"})
    assert (document["answered_at"], document["answered_s"]) == (1000, 1000.5)
    assert evidence.capture(service=None, as_of=date(2026, 6, 1), answered_at=1000, findings=[], slots=[],
                            features=None)["answered_s"] == 1000.0
    store = store_of(app)
    rows = [Suppression(key=f"k-{when}", card_key="card-k", patient_key="p", service_id="diagnosis-gaps",
                        suggestion_key=None, reason_code=code, reason_display=code, fingerprint="f", title=None,
                        card_uuid="c0ffee00-0000-4000-8000-000000000001", finding_ids=(), created_at=when,
                        until_at=None)
            for when, code in ((1000.2, "defer"), (1000.7, "patient-declined"))]
    with store.engine.begin() as conn:
        conn.execute(card_suppression.insert(), [r.row() for r in rows])
    [after] = hidden_now(store, document, 0, [], now=2000.0)
    assert after["why"].endswith("patient-declined")
