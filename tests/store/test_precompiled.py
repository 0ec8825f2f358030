"""The hook-path statements run on the driver's cursor (cds_hooks/precompiled.py), on SQLite and on PostgreSQL: they
answer as SQLAlchemy does, commit and roll back as ``engine.begin()`` does, raise a database error as SQLAlchemy's
and give the connection back to the pool; statements that need SQLAlchemy's conversions are refused."""
from __future__ import annotations

import inspect
import re
import time
import uuid

import pytest
from sqlalchemy import Float, Integer, LargeBinary, String, bindparam, create_engine, event, func, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from cds_hooks import store as store_module
from cds_hooks.precompiled import DIRECT_DRIVERS, PrecompiledStatement, pooled_read, pooled_transaction, runs_direct
from cds_hooks.store import (ExplainerRow, Store, Suppression, audit_event, card_suppression, explainer_call,
                             jwt_replay, sqlite_url)

SERVICE = "cardiovascular-risk"
ISSUER = "https://ehr.example.org"
COUNT_JTIS = PrecompiledStatement(select(func.count().label("n")).select_from(jwt_replay))


def suppression(key: str, *, created_at: float, until_at=None, lifted_at=None) -> Suppression:
    return Suppression(key=key, card_key="c" * 64, patient_key="p" * 64, service_id=SERVICE, suggestion_key=None,
                       reason_code="r", reason_display="Not now", fingerprint="f" * 64, title="T",
                       card_uuid=str(uuid.uuid4()), finding_ids=("f", "g"), created_at=created_at, until_at=until_at,
                       lifted_at=lifted_at)


def watched(store: Store) -> None:
    """A listener on both engines: from then on the statements go through SQLAlchemy."""
    for engine in {store.engine, store.relaxed_engine}:
        event.listen(engine, "before_cursor_execute", lambda *_args: None)


def hook_path_answers(store: Store, now: float) -> tuple:
    jti = str(uuid.uuid4())
    first, replay = store.remember_jti(ISSUER, jti, now + 60), store.remember_jti(ISSUER, jti, now + 60)
    key = uuid.uuid4().hex
    store.save_explainer(ExplainerRow(key=key, created_at=now, expires_at=now + 60, service_id=SERVICE,
                                      encoding="json+zlib", payload=b"\x00\x01zlib\xff"))
    saved = store.explainer(key)
    return (first, replay, (saved.created_at, saved.expires_at, saved.service_id, saved.encoding, saved.payload),
            store.active_suppressions("p" * 64, service_id=SERVICE, now=now))


def test_the_driver_path_answers_as_sqlalchemy_does(database):
    store = database.store()
    now = time.time()
    rows = [suppression("held", created_at=now - 10, until_at=now + 60), suppression("first", created_at=now - 20),
            suppression("run-out", created_at=now - 30, until_at=now - 1),
            suppression("lifted", created_at=now - 40, lifted_at=now - 5)]
    with store.engine.begin() as conn:
        conn.execute(card_suppression.insert(), [s.row() for s in rows])
    assert runs_direct(store.engine) and runs_direct(store.relaxed_engine)
    direct = hook_path_answers(store, now)
    watched(store)
    assert not runs_direct(store.engine) and not runs_direct(store.relaxed_engine)
    assert hook_path_answers(store, now) == direct
    assert direct[:3] == (True, False, (now, now + 60, SERVICE, "json+zlib", b"\x00\x01zlib\xff"))
    assert [s.key for s in direct[3]] == ["first", "held"] and direct[3][1] == rows[0]
    store.dispose()


def test_a_transaction_commits_at_the_end_of_the_block_and_rolls_back_on_an_error(database):
    store = database.store()
    engine = store.engine
    statement = PrecompiledStatement(insert(jwt_replay), column_keys=["key", "expires_at"])
    with pooled_transaction(engine) as db:
        db.run(statement, {"key": "kept", "expires_at": 1.5})
    with pytest.raises(RuntimeError):
        with pooled_transaction(engine) as db:
            db.run(statement, {"key": "dropped", "expires_at": 2.0})
            raise RuntimeError("the caller failed")
    with pytest.raises(IntegrityError):  # the driver's error, as SQLAlchemy raises it
        with pooled_transaction(engine) as db:
            db.run(statement, {"key": "dropped-too", "expires_at": 2.0})
            db.run(statement, {"key": "kept", "expires_at": 3.0})
    with pooled_read(engine) as db:
        assert db.first(COUNT_JTIS, {}).n == 1
    with engine.connect() as conn:
        assert conn.execute(select(jwt_replay.c.key, jwt_replay.c.expires_at)).all() == [("kept", 1.5)]
    assert engine.pool.checkedout() == 0
    store.dispose()


def test_a_database_error_is_a_sqlalchemy_error_and_the_connection_goes_back(database):
    store = database.store()
    store.remember_jti(ISSUER, "before", time.time() + 60)
    with store.engine.begin() as conn:
        conn.execute(jwt_replay.delete())
        conn.exec_driver_sql("DROP TABLE jwt_replay")
    with pytest.raises(SQLAlchemyError) as raised:  # what auth turns into a 503
        store.remember_jti(ISSUER, "after", time.time() + 60)
    assert isinstance(raised.value, DBAPIError) and "jwt_replay" in str(raised.value)
    assert store.engine.pool.checkedout() == 0
    assert store.active_suppressions("p" * 64, service_id=SERVICE, now=time.time()) == []  # the pool still serves
    store.dispose()


def test_a_lost_connection_is_dropped_from_the_pool(tmp_path, monkeypatch):
    store = Store(sqlite_url(tmp_path))
    engine = store.engine
    assert store.remember_jti(ISSUER, "first", time.time() + 60)
    lost: list = []
    monkeypatch.setattr(engine.dialect, "is_disconnect", lambda exc, connection, cursor: True)
    event.listen(engine.pool, "invalidate", lambda dbapi_connection, record, exc: lost.append(exc))
    broken = PrecompiledStatement(select(jwt_replay.c.key).where(jwt_replay.c.key == bindparam("key")))
    monkeypatch.setattr(broken.compiled(engine.dialect), "sql", "SELECT nothing FROM nowhere")
    with pytest.raises(DBAPIError) as raised:
        with pooled_read(engine) as db:
            db.all(broken, {"key": "first"})
    assert raised.value.connection_invalidated and len(lost) == 1
    monkeypatch.undo()
    assert engine.pool.checkedout() == 0
    assert store.remember_jti(ISSUER, "first", time.time() + 60) is False  # a new connection, the same database
    store.dispose()


def test_each_write_checks_out_from_its_engine(tmp_path):
    """The driver path bypasses execution events; the pool's checkouts still say which engine a write used."""
    store = Store(sqlite_url(tmp_path))
    checkouts = {"engine": 0, "relaxed": 0}
    for name, engine in (("engine", store.engine), ("relaxed", store.relaxed_engine)):
        event.listen(engine.pool, "checkout", lambda *_args, name=name: checkouts.__setitem__(name, checkouts[name] + 1))
    assert runs_direct(store.engine) and runs_direct(store.relaxed_engine)
    now = time.time()
    store.save_explainer(ExplainerRow(key="k", created_at=now, expires_at=now + 60, service_id=SERVICE,
                                      encoding="json", payload=b"{}"))
    assert checkouts == {"engine": 0, "relaxed": 1}
    store.remember_jti(ISSUER, "jti", now + 60)
    assert checkouts == {"engine": 0, "relaxed": 2}
    store.active_suppressions("p" * 64, service_id=SERVICE, now=now)
    assert checkouts == {"engine": 1, "relaxed": 2}
    store.dispose()


def test_statements_that_need_sqlalchemys_conversions_are_refused(database):
    store = database.store()
    dialect = store.engine.dialect
    with pytest.raises(TypeError, match="DateTime"):
        PrecompiledStatement(insert(audit_event), column_keys=["recorded_at", "status", "latency_ms",
                                                               "card_count"]).compiled(dialect)
    with pytest.raises(ValueError, match="expanding"):
        PrecompiledStatement(select(explainer_call.c.key).where(
            explainer_call.c.key.in_(bindparam("keys", expanding=True)))).compiled(dialect)
    with pytest.raises(ValueError, match="value in the statement"):
        PrecompiledStatement(select(explainer_call.c.key).where(explainer_call.c.encoding == "json")).compiled(dialect)
    store.dispose()


SAMPLE_VALUES = {Float: 1.5, Integer: 2, LargeBinary: b"\x00b", String: "s"}


def store_statements(dialect_name: str) -> dict[str, PrecompiledStatement]:
    """Every statement the store runs on the driver's cursor: its module-level ones, and its insert-if-new statement
    for each table it is called with (found in the store's source, so a new call is covered without a new test)."""
    found = {name: value for name, value in vars(store_module).items() if isinstance(value, PrecompiledStatement)}
    calls = re.findall(r"_precompiled_insert_if_new\((\w+), \"(\w+)\"", inspect.getsource(store_module))
    assert calls, "the store no longer calls _precompiled_insert_if_new: update this test"
    for table, key in calls:
        found[f"insert-if-new {table}"] = store_module._precompiled_insert_if_new(
            getattr(store_module, table), key, dialect_name)
    return found


@pytest.mark.parametrize("name, driver", sorted(DIRECT_DRIVERS))
def test_every_store_statement_compiles_for_each_driver_the_direct_path_takes(name, driver):
    """A statement compiles at its first execution: one the driver path cannot take would fail a live request. The
    dialect objects of the engines, without a database (creating an engine connects to nothing)."""
    dialect = create_engine(f"{name}+{driver}://").dialect
    statements = store_statements(name)
    assert {"_ACTIVE_SUPPRESSIONS", "_INSERT_EXPLAINER", "insert-if-new jwt_replay"} <= set(statements)
    for label, statement in statements.items():
        compiled = statement.compiled(dialect)
        bound = statement.statement.compile(dialect=dialect, column_keys=statement.column_keys).binds
        values = {key: next(v for t, v in SAMPLE_VALUES.items() if isinstance(bound[key].type, t))
                  for key, _ in compiled.binds}
        made = compiled.parameters(values)
        assert len(made) == len(values) and compiled.sql, label
