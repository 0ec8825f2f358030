"""Card identity across calls, the fingerprint of what is material, the reason policy, and the screen's handling of a
suggestion the record shows done."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from cards.render import RenderedCard
from cds_hooks.config import load_config
from cds_hooks.declaration import SERVICES
from cds_hooks.processing import process_hook
from cds_hooks.services import load_all
from cds_hooks.store import IssuedCard, Suppression, card_suppression
from cds_hooks.suppression.identity import card_key, fingerprint, patient_key, suggestion_key
from cds_hooks.suppression.policy import DEFAULT_OVERRIDE_DAYS, SuppressionPolicy
from cds_hooks.suppression.screen import CallScreen
from engine.finding import Citation, Evidence, Finding, Kind, Severity, Status
from tests.conftest import load_fixture

load_all()

CITATION = Citation(short="Test 2026", full="Test rule, 2026.")


def finding(**changes) -> Finding:
    base = dict(id="rule:x", engine_id="rule", engine_version="1", kind=Kind.DIAGNOSIS, status=Status.COMPUTED,
                title="Possible X", citation=CITATION, value=7.1, unit="%", category="criteria met",
                severity=Severity.WARNING,
                inputs=(Evidence("hba1c_pct", "HbA1c", 7.1, "%", datetime(2026, 4, 20, tzinfo=timezone.utc),
                                 "Observation/a1c"),
                        Evidence("age_years", "Age", 55, "years", date(2026, 6, 1), "Patient/p"),
                        Evidence("sex", "Sex", "female", None, None, "Patient/p"),
                        Evidence("on_metformin", "On metformin", False)))
    base.update(changes)
    return Finding(**base)


# -- identity -------------------------------------------------------------------------------------------------------
def test_the_card_key_names_service_client_patient_and_card():
    keys = {
        card_key("svc", patient_key("iss", "t", "p1"), "diagnosis:rule:x"),
        card_key("svc", patient_key("iss", "t", "p2"), "diagnosis:rule:x"),  # another patient
        card_key("svc", patient_key("iss", "u", "p1"), "diagnosis:rule:x"),  # another tenant's patient p1
        card_key("svc", patient_key("other", "t", "p1"), "diagnosis:rule:x"),  # another EHR's patient p1
        card_key("svc2", patient_key("iss", "t", "p1"), "diagnosis:rule:x"),  # another service
        card_key("svc", patient_key("iss", "t", "p1"), "diagnosis:rule:y"),  # another card
    }
    assert len(keys) == 6
    assert card_key("svc", patient_key("iss", "t", "p1"), "diagnosis:rule:x") in keys  # and it is stable
    assert "p1" not in patient_key("iss", "t", "p1")


def test_rendered_cards_have_an_identity_that_does_not_depend_on_the_call():
    body = load_fixture("hooks/patient-view-diagnosis-gaps.json")
    config = load_config({"AS_OF": "2026-06-01", "WARM_MODELS": False})
    first = process_hook(SERVICES.get("diagnosis-gaps"), body, config)
    second = process_hook(SERVICES.get("diagnosis-gaps"), dict(body, hookInstance="0b7a0c52-4d7e-4c1e-8f6a-1b2c3d4e5f60"),
                          config)
    assert [c.identity for c in first.rendered] == [c.identity for c in second.rendered]
    assert [c.card["uuid"] for c in first.rendered] != [c.card["uuid"] for c in second.rendered]
    assert first.rendered[0].identity == "diagnosis:diabetes-gap:diabetes|diabetes-mellitus"
    missing = process_hook(SERVICES.get("cardiovascular-risk"), load_fixture("hooks/patient-view-missing-lipids.json"),
                           config)
    # The smoker's tobacco-cessation card first (a warning), then the data-needed card of the two estimates.
    assert [c.identity for c in missing.rendered] == [
        "treatment:tobacco-cessation-uspstf-2021:cessation|tobacco-use",
        "data-needed:pce-2013:ascvd-10y,prevent-2024-base:cvd-10y"]


# -- what is material -------------------------------------------------------------------------------------------------
def test_the_fingerprint_ignores_the_calendar_and_float_noise():
    base = fingerprint([finding()])
    older = finding(inputs=tuple(replace(e, value=56, effective=date(2027, 1, 2)) if e.name == "age_years" else e
                                 for e in finding().inputs), value=7.1000000001)
    assert fingerprint([older]) == base
    noisy = finding(inputs=tuple(replace(e, value=7.1 + 1e-12) if e.name == "hba1c_pct" else e
                                 for e in finding().inputs))
    assert fingerprint([noisy]) == base


@pytest.mark.parametrize("change", [
    {"category": "criteria met on two tests"},
    {"severity": Severity.CRITICAL},
    {"status": Status.INSUFFICIENT_DATA},
    {"inputs": (Evidence("hba1c_pct", "HbA1c", 7.4, "%", datetime(2026, 5, 28, tzinfo=timezone.utc),
                         "Observation/a1c-new"),)},  # a new result
    {"inputs": (Evidence("hba1c_pct", "HbA1c", 7.9, "%", datetime(2026, 4, 20, tzinfo=timezone.utc),
                         "Observation/a1c"),)},  # the same result, corrected
    {"inputs": (Evidence("on_metformin", "On metformin", True),)},  # a flag from the record flips
    {"inputs": (Evidence("sex", "Sex", "male", None, None, "Patient/p"),)},
])
def test_the_fingerprint_changes_with_what_is_material(change):
    base = finding()
    if "inputs" in change:
        replaced = {e.name: e for e in change["inputs"]}
        change = {"inputs": tuple(replaced.get(e.name, e) for e in base.inputs)}
    assert fingerprint([replace(base, **change)]) != fingerprint([base])


@pytest.mark.parametrize("fixture, service", [
    ("patient-view-prefetch", "cardiovascular-risk"),
    ("patient-view-diagnosis-gaps", "diagnosis-gaps"),
    ("patient-view-missing-lipids", "cardiovascular-risk"),
    ("patient-view-risk-scores", "risk-scores"),
    ("patient-view-prevent-example", "cardiovascular-risk"),
])
def test_real_cards_keep_their_fingerprint_from_one_day_to_the_next(fixture, service):
    """Nothing in these records changes in three weeks (age moves on; no category crosses a boundary): a card
    answered today must stay hidden then."""
    def fingerprints(as_of: str) -> dict[str, str]:
        outcome = process_hook(SERVICES.get(service), load_fixture(f"hooks/{fixture}.json"),
                               load_config({"AS_OF": as_of, "WARM_MODELS": False}))
        by_id = {f.id: f for f in outcome.findings}
        return {c.identity: fingerprint(by_id[i] for i in c.finding_ids) for c in outcome.rendered}

    today = fingerprints("2026-06-01")
    assert today and fingerprints("2026-06-21") == today


def plain_fingerprint_document(findings) -> list:
    """The definition of the fingerprint's document, input by input (identity.fingerprint_document makes each shared
    input once per card, and must give the same document: a different one would lift every suppression)."""
    import json

    def plain(value):
        if isinstance(value, float):
            return float(f"{value:.6g}")
        return value if value is None or isinstance(value, (bool, int, str)) else str(value)

    def material(e):
        source = e.source or ""
        if source.startswith("Patient/"):
            number = isinstance(e.value, (int, float)) and not isinstance(e.value, bool)
            return [e.name, "patient", None if number else plain(e.value)]
        if source:
            effective = e.effective.isoformat() if hasattr(e.effective, "isoformat") else e.effective
            return [e.name, source, effective, plain(e.value)]
        if e.derived_from:
            return [e.name, "derived", sorted((material(d) for d in e.derived_from), key=json.dumps)]
        return [e.name, "flag", plain(e.value)]

    return [{"id": f.id, "status": f.status.value, "severity": f.severity.value, "category": f.category,
             "measures": sorted((m.label, m.category) for m in f.measures if m.category),
             "inputs": sorted((material(e) for e in f.inputs), key=json.dumps),
             "missing": sorted({m.name for m in f.missing})} for f in sorted(findings, key=lambda f: f.id)]


@pytest.mark.parametrize("fixture, service", [
    ("patient-view-prefetch", "cardiovascular-risk"),
    ("patient-view-diagnosis-gaps", "diagnosis-gaps"),
    ("patient-view-missing-lipids", "cardiovascular-risk"),
    ("patient-view-risk-scores", "risk-scores"),
    ("patient-view-prevent-example", "cardiovascular-risk"),
])
def test_the_fingerprint_document_is_its_plain_definition(fixture, service):
    from cds_hooks.suppression.identity import fingerprint_document

    outcome = process_hook(SERVICES.get(service), load_fixture(f"hooks/{fixture}.json"),
                           load_config({"AS_OF": "2026-06-01", "WARM_MODELS": False}))
    by_id = {f.id: f for f in outcome.findings}
    groups = [[by_id[i] for i in card.finding_ids] for card in outcome.rendered] + [outcome.findings]
    assert any(len(group) > 1 for group in groups)
    for group in groups:
        assert fingerprint_document(group) == plain_fingerprint_document(group)
    derived = finding(inputs=(Evidence("egfr", "eGFR", 61.2, None, None, None, derived_from=(
        Evidence("creatinine", "Creatinine", 1.1, "mg/dL", date(2026, 5, 1), "Observation/c"),
        Evidence("age_years", "Age", 55, "years", date(2026, 6, 1), "Patient/p"))),))
    assert fingerprint_document([derived, finding()]) == plain_fingerprint_document([derived, finding()])


# -- the reason policy ------------------------------------------------------------------------------------------------
def issued(**changes) -> IssuedCard:
    base = dict(card_uuid="c0ffee00-0000-4000-8000-000000000001", card_key="k", patient_key="p", indicator="warning",
                fingerprint="f", title="Possible X", finding_ids=("rule:x",), engine_ids=("rule",),
                suggestions={"5a000000-0000-4000-8000-000000000001": suggestion_key("Order a test")},
                override_codes=("patient-declined", "not-applicable", "defer"), service_id="svc", issuer=None,
                tenant=None, hook_instance=None, issued_at=0.0)
    base.update(changes)
    return IssuedCard(**base)


def overridden(code: str) -> dict:
    return {"card": "c0ffee00-0000-4000-8000-000000000001", "outcome": "overridden",
            "overrideReason": {"reason": {"system": "urn:precision-cds:override-reason", "code": code}}}


def test_the_documented_defaults():
    policy = SuppressionPolicy.from_config({})
    assert policy.override_period("patient-declined") == (True, 90)
    assert policy.override_period("not-applicable") == (True, None)
    assert policy.override_period("already-addressed") == (True, 180)
    assert policy.override_period("benefit-outweighs-risk") == (False, None)  # drafted-order warnings ask every time
    assert policy.accepted_days == 30
    [made] = policy.suppressions_for(overridden("patient-declined"), issued(), dedup_key="d", now=1000.0)
    assert (made.until_at - made.created_at) == 90 * 86400 and made.patient_key == "p"
    [made] = policy.suppressions_for(overridden("not-applicable"), issued(), dedup_key="d", now=1000.0)
    assert made.until_at is None


def test_configured_periods_merge_over_the_defaults():
    policy = SuppressionPolicy.from_config({"SUPPRESSION_DAYS": {"defer": 1, "patient-declined": None,
                                                                 "not-applicable": 0}})
    assert policy.override_period("defer") == (True, 1)
    assert policy.override_period("patient-declined") == (True, None)
    assert policy.override_period("not-applicable") == (False, None)
    assert policy.override_period("already-done") == (True, DEFAULT_OVERRIDE_DAYS["already-done"])


@pytest.mark.parametrize("config", [{"SUPPRESSION_DAYS": {"defer": -1}}, {"SUPPRESSION_DAYS": {"defer": "7"}},
                                    {"SUPPRESSION_DAYS": ["defer"]}, {"SUPPRESSION_ACCEPTED_DAYS": -3},
                                    {"SUPPRESSION_DAYS": {"defer": True}}])
def test_a_bad_setting_stops_the_start_up(config, tmp_path):
    from cds_hooks.app import create_app

    with pytest.raises(ValueError):
        create_app({"DEV_MODE": True, "DATA_DIR": str(tmp_path), **config})


def test_nothing_is_made_for_a_critical_card_or_without_a_patient():
    policy = SuppressionPolicy.from_config({})
    assert policy.suppressions_for(overridden("patient-declined"), issued(indicator="critical"), dedup_key="d",
                                   now=0.0) == []
    assert policy.suppressions_for(overridden("patient-declined"), issued(patient_key=None), dedup_key="d",
                                   now=0.0) == []


def test_an_accepted_suggestion_is_hidden_by_its_label():
    policy = SuppressionPolicy.from_config({})
    item = {"outcome": "accepted", "acceptedSuggestions": [{"id": "5A000000-0000-4000-8000-000000000001"}]}
    [made] = policy.suppressions_for(item, issued(), dedup_key="d", now=0.0)
    assert made.suggestion_key == suggestion_key("Order a test") and made.reason_code == "accepted"
    assert made.until_at == 30 * 86400


# -- the screen: a suggestion the record shows done -------------------------------------------------------------------
def test_an_accepted_suggestion_no_longer_offered_is_lifted(database):
    """The card is the same (same fingerprint) but no longer offers the accepted suggestion: the record shows it done,
    so the suppression ends and will not hide the suggestion if it is offered again one day."""
    store = database.store()
    lead = finding()
    card = RenderedCard({"uuid": "c0ffee00-0000-4000-8000-000000000001", "summary": "Possible X", "indicator": "warning",
                         "source": {"label": "Test 2026"},
                         "suggestions": [{"label": "Order a test", "uuid": "5a000000-0000-4000-8000-000000000001"}]},
                        ("rule:x",), ("rule",), identity="diagnosis:rule:x")

    def screen() -> CallScreen:
        return CallScreen(store=store, policy=SuppressionPolicy(), now=100.0, service_id="svc", issuer=None,
                          tenant=None, patient_id="p", hook_instance=None, findings=[lead])

    first = screen()
    [shown] = first.issued([card])
    accepted = Suppression(key="s1", card_key=shown.card_key, patient_key=shown.patient_key, service_id="svc",
                           suggestion_key=suggestion_key("Order a test"), reason_code="accepted", reason_display=None,
                           fingerprint=shown.fingerprint, title="Possible X", card_uuid=shown.card_uuid,
                           finding_ids=("rule:x",), created_at=50.0, until_at=10_000.0)
    with store.engine.begin() as conn:
        conn.execute(card_suppression.insert(), [accepted.row()])
    assert screen()([card]) == []  # all it offered was accepted: hidden
    done = replace(card, card={k: v for k, v in card.card.items() if k != "suggestions"})
    assert screen()([done]) == [done]
    [row] = list(store.suppression_rows())
    assert row["lifted_because"] == "no-longer-offered"
    assert screen()([card]) == [card]  # offered again later: shown
    store.dispose()
