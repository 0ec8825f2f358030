"""Feedback on one card looks its issues up with a precompiled statement per (issuer, tenant) NULL-ness; more than one
card, with SQLAlchemy's IN list. Both must find the same issues - a client without an issuer (dev mode) or without a
tenant matches only issues without one (IS NULL), as ``column == None`` does - on SQLite and on PostgreSQL."""
from __future__ import annotations

import itertools
import time
from datetime import datetime, timezone

from cds_hooks.store import AuditRecord, IssuedCard

ISSUERS = (None, "https://ehr.example.org", "https://other.example.org")
TENANTS = (None, "t1")
SERVICE = "cardiovascular-risk"


def _card(uuid: str, issuer, tenant, *, patient: str, issued_at: float) -> IssuedCard:
    return IssuedCard(card_uuid=uuid, card_key=f"key-{uuid}", patient_key=patient, indicator="info",
                      fingerprint="f" * 64, title="Cardiovascular risk", finding_ids=("a",), engine_ids=("pce",),
                      suggestions={"s1": "k1"}, override_codes=("x",), service_id=SERVICE, issuer=issuer,
                      tenant=tenant, hook_instance=None, issued_at=issued_at)


def test_one_card_is_found_as_the_in_list_finds_it_for_every_client(database):
    store = database.store()
    now = time.time()
    issued = []
    for issuer, tenant in itertools.product(ISSUERS, TENANTS):
        issued.append(_card("shared", issuer, tenant, patient=f"p-{issuer}-{tenant}", issued_at=now - 10))
    issued += [_card("two-patients", "https://ehr.example.org", None, patient="p1", issued_at=now - 20),
               _card("two-patients", "https://ehr.example.org", None, patient="p2", issued_at=now - 5),
               _card("old", None, None, patient="p1", issued_at=now - 10_000),
               _card("reissued", None, "t1", patient="p1", issued_at=now - 30),
               _card("reissued", None, "t1", patient="p1", issued_at=now - 3)]
    store.record_audits([AuditRecord(recorded_at=datetime.now(timezone.utc), service_id=SERVICE, hook_instance=None,
                                     issuer=None, tenant=None, status=200, latency_ms=1.0, issued=tuple(issued))])
    for issuer, tenant in itertools.product(ISSUERS + ("https://unknown.example.org",), TENANTS + ("t2",)):
        client = {"service_id": SERVICE, "issuer": issuer, "tenant": tenant, "since": now - 100}
        for uuid in ("shared", "SHARED", "two-patients", "old", "reissued", "missing"):
            one = store.issued_cards([uuid], **client)  # the precompiled statement
            several = store.issued_cards([uuid, "not-issued-to-anyone"], **client)  # the IN list
            assert one == several, (issuer, tenant, uuid)
            for card in one.values():
                assert (card.issuer, card.tenant) == (issuer, tenant)
    shared = store.issued_cards(["shared"], service_id=SERVICE, issuer=None, tenant=None, since=now - 100)
    assert shared["shared"].patient_key == "p-None-None"  # IS NULL, not a bound NULL that matches nothing
    ambiguous = store.issued_cards(["two-patients"], service_id=SERVICE, issuer="https://ehr.example.org",
                                   tenant=None, since=now - 100)
    assert ambiguous["two-patients"].ambiguous
    latest = store.issued_cards(["reissued"], service_id=SERVICE, issuer=None, tenant="t1", since=now - 100)
    assert latest["reissued"].issued_at == now - 3
    assert store.issued_cards(["old"], service_id=SERVICE, issuer=None, tenant=None, since=now - 100) == {}
    assert store.issued_cards(["shared"], service_id="other-service", issuer=None, tenant=None, since=0) == {}
