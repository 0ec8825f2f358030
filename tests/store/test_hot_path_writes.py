"""The store's hook-path statements (built once, values as parameters), on SQLite and on PostgreSQL: a batch of audit
records lands as one insert per record would have put it, the active suppressions are the ones that hold, and the
relaxed writes (explainer evidence, order alerts) go through the engine that skips the fsync on SQLite only."""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import event, select

from cds_hooks.store import (AuditCard, AuditRecord, ExplainerRow, IssuedCard, Store, StoreUnavailable, Suppression,
                             audit_card, audit_event, card_suppression, issued_card, sqlite_url)

SERVICE = "cardiovascular-risk"
ISSUER = "https://ehr.example.org"


def issued(uuid_: str, hook_instance: str) -> IssuedCard:
    return IssuedCard(card_uuid=uuid_, card_key="k" * 64, patient_key="p" * 64, indicator="info", fingerprint="f" * 64,
                      title="Drug interactions of the drafted drug", finding_ids=("f-" + uuid_[:4],),
                      engine_ids=("e1",), suggestions={"s": "sk"}, override_codes=("a",), service_id=SERVICE,
                      issuer=ISSUER, tenant="t", hook_instance=hook_instance, issued_at=time.time())


def record(n_cards: int, *, status: int = 200) -> AuditRecord:
    hook_instance = str(uuid.uuid4())
    cards = tuple(AuditCard(card_uuid=str(uuid.uuid4()).upper(), finding_ids=(f"f{i}",), engine_ids=(f"e{i}", "x"))
                  for i in range(n_cards))
    return AuditRecord(recorded_at=datetime.now(timezone.utc), service_id=SERVICE, hook_instance=hook_instance,
                       issuer=ISSUER, tenant="t", status=status, latency_ms=1.23456, cards=cards,
                       issued=tuple(issued(card.card_uuid, hook_instance) for card in cards))


def test_a_batch_of_audit_records_lands_as_one_insert_per_record_would_put_it(database):
    store = database.store()
    assert store.record_audits([]) == []
    first = store.record_audits([record(1)])
    batch = [record(2), record(0, status=500), record(3), record(1)]
    ids = store.record_audits(batch)
    assert ids == sorted(ids) and len(set(ids)) == len(batch) and ids[0] > first[0]
    with store.engine.connect() as conn:
        events = {row.id: row for row in conn.execute(select(audit_event))}
        cards = conn.execute(select(audit_card).order_by(audit_card.c.id)).all()
        issued_rows = conn.execute(select(issued_card).order_by(issued_card.c.id)).all()
    for audit_id, sent in zip(ids, batch):
        row = events[audit_id]
        assert (row.hook_instance, row.status, row.card_count, row.latency_ms) == (
            sent.hook_instance, sent.status, len(sent.cards), 1.235)
        assert [(c.card_uuid, json.loads(c.finding_ids), json.loads(c.engine_ids)) for c in cards
                if c.audit_id == audit_id] == [(card.card_uuid.lower(), list(card.finding_ids), list(card.engine_ids))
                                               for card in sent.cards]
    # Every table's rows in the order of the records, as before.
    assert [c.card_uuid for c in cards][1:] == [card.card_uuid.lower() for sent in batch for card in sent.cards]
    assert [r.card_uuid for r in issued_rows][1:] == [card.card_uuid.lower() for sent in batch for card in sent.issued]
    assert [r.hook_instance for r in issued_rows][1:] == [c.hook_instance for sent in batch for c in sent.issued]
    last = batch[3].cards[0]
    origin = store.card_origin(last.card_uuid, service_id=SERVICE, issuer=ISSUER)
    assert origin.hook_instance == batch[3].hook_instance and origin.finding_ids == last.finding_ids


def suppression(key: str, *, patient: str = "p", service: str = SERVICE, created_at: float, until_at=None,
                lifted_at=None) -> Suppression:
    return Suppression(key=key, card_key="c" * 64, patient_key=patient * 64, service_id=service, suggestion_key=None,
                       reason_code="r", reason_display=None, fingerprint="f" * 64, title=None,
                       card_uuid=str(uuid.uuid4()), finding_ids=("f",), created_at=created_at, until_at=until_at,
                       lifted_at=lifted_at)


def test_the_active_suppressions_are_the_patients_unlifted_unexpired_ones_oldest_first(database):
    store = database.store()
    now = time.time()
    rows = [suppression("later", created_at=now - 10, until_at=now + 60),
            suppression("first", created_at=now - 20),
            suppression("run-out", created_at=now - 30, until_at=now - 1),
            suppression("lifted", created_at=now - 40, lifted_at=now - 5),
            suppression("other-patient", patient="q", created_at=now - 50),
            suppression("other-service", service="diagnosis-gaps", created_at=now - 60)]
    with store.engine.begin() as conn:
        conn.execute(card_suppression.insert(), [s.row() for s in rows])
    active = store.active_suppressions("p" * 64, service_id=SERVICE, now=now)
    assert [s.key for s in active] == ["first", "later"]
    assert active[1] == rows[0]
    assert [s.key for s in store.active_suppressions("p" * 64, service_id=SERVICE, now=now + 61)] == ["first"]
    assert store.active_suppressions("z" * 64, service_id=SERVICE, now=now) == []


def test_the_alerts_shown_are_the_remembered_ones_not_run_out(database):
    store = database.store()
    assert store.shown_alerts([]) == set()
    assert store.first_alerts(["a", "b", "a"], 3600) == {"a", "b"}
    assert store.first_alerts(["gone"], -1) == {"gone"}
    assert store.shown_alerts(["a", "b", "c", "a", "gone"]) == {"a", "b"}


def statements_by_engine(store: Store) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {"engine": [], "relaxed": []}
    for name, engine in (("engine", store.engine), ("relaxed", store.relaxed_engine)):
        if name == "relaxed" and engine is store.engine:
            continue
        event.listen(engine, "before_cursor_execute",
                     lambda _c, _cur, statement, *_rest, name=name: seen[name].append(statement.split("(")[0]))
    return seen


def explainer_row(key: str) -> ExplainerRow:
    now = time.time()
    return ExplainerRow(key=key, created_at=now, expires_at=now + 60, service_id=SERVICE, encoding="json",
                        payload=b"{}")


def test_on_sqlite_the_relaxed_writes_skip_the_fsync_and_audit_keeps_it(tmp_path):
    store = Store(sqlite_url(tmp_path))
    assert store.relaxed_engine is not store.engine
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    with store.relaxed_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    seen = statements_by_engine(store)
    store.save_explainer(explainer_row("k"))
    assert store.first_alerts(["a"], 60) == {"a"}
    assert store.remember_jti(ISSUER, "jti", time.time() + 60)
    store.record_audits([record(1)])
    relaxed = " ".join(seen["relaxed"])
    assert all(f"INTO {table}" in relaxed for table in ("explainer_call", "order_alert", "jwt_replay"))
    assert not any("explainer_call" in s or "order_alert" in s or "jwt_replay" in s for s in seen["engine"])
    assert any("audit_event" in s for s in seen["engine"])
    assert not any("audit_event" in s for s in seen["relaxed"])
    assert store.explainer("k") is not None  # both engines on the one file
    store.dispose()


def test_elsewhere_there_is_one_engine(database):
    store = database.store()
    if database.backend == "postgresql":
        assert store.relaxed_engine is store.engine
    memory = Store("sqlite:///:memory:")
    assert memory.relaxed_engine is memory.engine
    memory.dispose()



def test_when_the_relaxed_engine_cannot_be_made_the_engine_just_made_is_disposed(tmp_path, monkeypatch):
    store = Store(sqlite_url(tmp_path))
    made: list = []
    make = Store.bare_engine

    def the_second_fails(self, **kwargs):
        if made:
            raise OSError("too many open files")
        made.append(make(self, **kwargs))
        return made[-1]

    monkeypatch.setattr(Store, "bare_engine", the_second_fails)
    with pytest.raises(StoreUnavailable):
        store.engine  # noqa: B018 - the property opens the database
    [engine] = made
    assert engine.pool.checkedin() == 0  # the connections of the schema check closed, not left open
    monkeypatch.undo()
    assert store.relaxed_engine is not store.engine and store.engine is not engine  # both made anew
    assert store.remember_jti(ISSUER, "after", time.time() + 60)
    store.dispose()

def _child_opens_its_own_engines(store: Store, parents: tuple, queue) -> None:
    fresh = store.engine not in parents and store.relaxed_engine not in parents
    store.save_explainer(explainer_row("child"))
    queue.put(fresh and store.remember_jti(ISSUER, "child", time.time() + 60))


def test_a_forked_process_opens_both_engines_anew(tmp_path):
    store = Store(sqlite_url(tmp_path))
    store.save_explainer(explainer_row("parent"))
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    # The parent's engines themselves go to the child (kept alive there, so no new engine can reuse their id).
    child = context.Process(target=_child_opens_its_own_engines,
                            args=(store, (store.engine, store.relaxed_engine), queue))
    child.start()
    assert queue.get(timeout=60) is True
    child.join(timeout=30)
    assert child.exitcode == 0
    assert store.explainer("child") is not None and store.explainer("parent") is not None
    store.dispose()


def _child_remembers_then_is_killed(url: str, queue) -> None:
    store = Store(url)
    queue.put(store.remember_jti(ISSUER, "before-the-kill", time.time() + 60))
    os.kill(os.getpid(), signal.SIGKILL)  # no clean-up, no checkpoint: what a crash leaves


def test_a_token_id_is_committed_before_remember_jti_returns_and_a_kill_9_keeps_it(tmp_path):
    """The id is committed by the time ``remember_jti`` returns, and a kill -9 of the worker right after leaves it
    seen: a replay. Any ``synchronous`` level passes this (a process crash keeps every committed WAL transaction), so
    it does not show that skipping the fsync is safe: what a power cut may forget is argued in docs/security.md."""
    url = sqlite_url(tmp_path)
    context = multiprocessing.get_context("fork")
    queue = context.SimpleQueue()  # put() is written before it returns
    child = context.Process(target=_child_remembers_then_is_killed, args=(url, queue))
    child.start()
    assert queue.get() is True
    child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL
    store = Store(url)
    assert store.remember_jti(ISSUER, "before-the-kill", time.time() + 60) is False
    store.dispose()


def test_with_jwt_replay_fsync_the_token_ids_commit_on_the_fsyncing_engine(tmp_path):
    """CDS_JWT_REPLAY_FSYNC=true: a deployment that wants no token id forgotten even by a power cut."""
    store = Store.from_config({"DATA_DIR": str(tmp_path), "JWT_REPLAY_FSYNC": True})
    seen = statements_by_engine(store)
    assert store.remember_jti(ISSUER, "durable", time.time() + 60)
    assert any("jwt_replay" in s for s in seen["engine"])
    assert not any("jwt_replay" in s for s in seen["relaxed"])
    assert store.remember_jti(ISSUER, "durable", time.time() + 60) is False
    store.dispose()
    assert Store.from_config({"DATA_DIR": str(tmp_path)}).replay_fsync is False  # the default
