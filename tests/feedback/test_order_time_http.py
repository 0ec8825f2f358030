"""Feedback on the order-time warnings (order-select / order-sign cards about a drafted order), through HTTP: they are
never hidden - an EHR may reuse a draft's id for the next order - yet the answers are stored and reported per rule,
not per drafted order. And what is stored about any card holds no word from the record (the finding's title names the
patient's drugs; the stored title is the engine's)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from cds_hooks import audit
from cds_hooks.declaration import find_engine
from cds_hooks.report import feedback_report
from cds_hooks.store import Suppression, card_suppression, issued_card, store_of
from engine.rule_ids import rule_id_of
from tests import order_requests as orders
from tests.feedback.conftest import card_about, feedback_app, open_chart, override
from tests.protocol.test_order_checks_http import IBUPROFEN, WARFARIN

SIGN = "/cds-services/order-sign-safety"
ON_WARFARIN = [orders.medication("m1", *WARFARIN, amount=5)]
INTERACTION_RULE = "drug-interactions:warfarin-nsaid"
REASONS = "urn:precision-cds:override-reason"


@pytest.fixture
def app(database, clock):
    # Alerts are shown once per draft for ORDER_ALERT_TTL_S (cds_hooks/alert_memory.py): 0 here, so that what a
    # second call shows depends on the feedback alone.
    return feedback_app(database, clock, ORDER_ALERT_TTL_S=0)


def sign(client, draft_id: str = "d1", amount: float = 400) -> list[dict]:
    body = orders.order_request("order-sign", [orders.draft(draft_id, *IBUPROFEN, amount=amount, per_day=3)],
                                record=ON_WARFARIN)
    resp = client.post(SIGN, data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return resp.get_json()["cards"]


def warfarin_card(cards: list[dict]) -> dict | None:
    return next((c for c in cards if "warfarin" in c["summary"].lower()), None)


@pytest.mark.parametrize("code", ["data-error", "benefit-outweighs-risk", "monitoring-planned"])
def test_an_answered_order_warning_comes_back_for_the_next_order_with_the_same_draft_id(client, app, clock, code):
    card = warfarin_card(sign(client))
    assert code in [r["code"] for r in card["overrideReasons"]]
    assert override(client, card, code, service=SIGN + "/feedback").status_code == 200
    assert len(list(store_of(app).feedback_rows())) == 1  # stored and reported...
    assert list(store_of(app).suppression_rows()) == []  # ...and hides nothing
    for days in (0, 60):
        clock.days = days
        assert warfarin_card(sign(client)) is not None


def test_an_order_warning_is_sent_whole_even_against_a_matching_suppression(client, app):
    """Defence in depth: a suppression row that matches an order warning (written by an older policy) hides
    nothing."""
    card = warfarin_card(sign(client))
    store = store_of(app)
    audit.flush(app)  # the batched audit writer commits the issued cards
    [issued] = store.issued_cards([card["uuid"]], service_id="order-sign-safety", issuer=None, tenant=None,
                                  since=0).values()
    row = Suppression(key="old-policy", card_key=issued.card_key, patient_key=str(issued.patient_key),
                      service_id="order-sign-safety", suggestion_key=None, reason_code="data-error",
                      reason_display=None, fingerprint=issued.fingerprint, title=issued.title,
                      card_uuid=card["uuid"], finding_ids=issued.finding_ids, created_at=0.0, until_at=None)
    with store.engine.begin() as conn:
        conn.execute(card_suppression.insert(), [row.row()])
    again = warfarin_card(sign(client))
    assert again is not None and again["summary"] == card["summary"]


def test_order_warnings_are_reported_per_rule_not_per_drafted_order(client, app):
    for draft_id in ("d1", "d2", "d3"):
        card = warfarin_card(sign(client, draft_id))
        assert override(client, card, "benefit-outweighs-risk", service=SIGN + "/feedback").status_code == 200
    report = feedback_report(store_of(app))
    assert [(r["key"], r["total"], r["overridden"]) for r in report["findings"]] == [(INTERACTION_RULE, 3, 3)]
    assert list(report["over_time"]["findings"]) == [INTERACTION_RULE]
    # The finding ids name the draft; their rule does not.
    finding_ids = {i for row in store_of(app).feedback_rows() for i in json.loads(row["finding_ids"])}
    assert len(finding_ids) == 3 and {rule_id_of(i) for i in finding_ids} == {INTERACTION_RULE}


def test_every_order_check_finding_states_its_rule_and_its_id_gives_it_back(app):
    from cds_hooks.declaration import SERVICES
    from cds_hooks.processing import process_hook

    drafts = [orders.draft("d1", *IBUPROFEN, amount=400, per_day=3), orders.draft("d2", *WARFARIN, amount=5)]
    body = orders.order_request("order-sign", drafts, record=ON_WARFARIN)
    with app.app_context():
        findings = process_hook(SERVICES.get("order-sign-safety"), body, app.config).findings
    assert {f.engine_id for f in findings} >= {"drug-interactions", "duplicate-therapy"}
    for finding in findings:
        assert finding.rule_id and finding.rule == finding.rule_id != finding.id
        assert rule_id_of(finding.id) == finding.rule


def test_rule_ids_round_trip_for_every_order_check():
    from engine.finding import Finding
    from engine.order_checks.common import finding_id, rule_id

    for engine_id in ("renal-dosing", "drug-interactions", "drug-allergy", "duplicate-therapy",
                      "pregnancy-contraindication", "condition-contraindication"):
        for rule in ("dabigatran/af-crcl-15-30", "group:statins", "penicillin->cephalosporin", "x"):
            fid = finding_id(engine_id, rule, "MedicationRequest/draft-1")
            assert rule_id_of(fid) == rule_id(engine_id, rule) == f"{engine_id}:{rule}"
    assert rule_id_of("pce-2013:ascvd-10y") == "pce-2013:ascvd-10y"
    assert rule_id_of("diabetes-gap:0123456789") == "diabetes-gap:0123456789"  # not an order check: kept whole
    assert Finding.__dataclass_fields__["rule_id"].default is None


# -- stored titles hold no word from the record --------------------------------------------------------------------------
def test_stored_titles_are_the_engines_not_the_findings(client, app):
    card = warfarin_card(sign(client))
    assert card["summary"].startswith("Ibuprofen with warfarin")  # the card (and its page) say what it is about
    opened = open_chart(client)  # and a diagnosis card, answered, for a suppression
    assert override(client, card_about(opened, "Possible undiagnosed diabetes"), "patient-declined").status_code == 200
    with store_of(app).engine.connect() as conn:
        issued = conn.execute(select(issued_card.c.title, issued_card.c.engine_ids)).all()
        suppressed = conn.execute(select(card_suppression.c.title)).scalars().all()
    titles = {title for title, _ in issued} | set(suppressed)
    assert not any(word in title.lower() for title in titles for word in ("ibuprofen", "warfarin"))
    for title, engine_ids in issued:
        assert title == find_engine(json.loads(engine_ids)[0]).title or title.startswith("Data needed for ")
    assert "Drug interactions of the drafted drug" in titles
    assert suppressed == ["Possible undiagnosed diabetes or prediabetes"]


def test_engine_titles_are_kept_per_engine_id_in_a_bounded_cache():
    """``engine_title`` is asked for every card sent: its answers (constants of the code) are cached, boundedly, and
    are what the registry says; an id no registry knows stays its own title."""
    from cds_hooks.suppression.screen import engine_title

    assert engine_title("pce-2013") == find_engine("pce-2013").title
    assert engine_title("pce-2013") == find_engine("pce-2013").title  # from the cache, the same
    assert engine_title("no-such-engine-retired") == "no-such-engine-retired"
    assert engine_title.cache_info().maxsize == 256
