"""The store's schema migrations, on SQLite and on PostgreSQL: the revisions build exactly the tables of the code, a
database made before migrations is adopted with every row, workers starting together upgrade once, a database the
code cannot use is refused as a store failure, and ``precision-cds db`` does what docs/database.md says."""
from __future__ import annotations

import json
import multiprocessing
import re
import shutil
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from cds_hooks import migrations
from cds_hooks.app import create_app
from cds_hooks.cli import main
from cds_hooks.store import ExplainerRow, Store, store_of
from tests.databases import sqlite_database

DATA = Path(__file__).parent / "data"
STORE_TABLES = {"jwt_replay", "audit_event", "audit_card", "feedback", "explainer_call", "issued_card",
                "card_suppression", "order_alert"}
# Databases made before migrations, by age: the last version before them made every table; the one before lacked
# order_alert; an older one lacked the suppression tables too.
PRE_MIGRATION_AGES = {"last": (), "before-order-alerts": ("order_alert",),
                      "before-suppression": ("order_alert", "issued_card", "card_suppression")}


def engine_of(database):
    return database.store().bare_engine()


def revision_of(database) -> str | None:
    engine = engine_of(database)
    try:
        with engine.connect() as conn:
            return migrations.current_revision(conn)
    finally:
        engine.dispose()


def differences_of(database) -> list:
    engine = engine_of(database)
    try:
        with engine.connect() as conn:
            return migrations.schema_differences(conn)
    finally:
        engine.dispose()


def tables_of(database) -> set[str]:
    engine = engine_of(database)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def opened(database) -> Store:
    store = database.store()
    store.engine  # noqa: B018  (the first use upgrades)
    return store


# -- the revisions build the code's tables ------------------------------------------------------------------------------
def test_the_migrations_build_exactly_the_tables_of_the_code(database):
    opened(database).dispose()
    assert revision_of(database) == migrations.head()
    assert tables_of(database) == STORE_TABLES | {"alembic_version"}
    assert differences_of(database) == []


def test_the_comparison_sees_an_index_the_migrations_missed(database):
    """The check above can fail: drop one index and autogenerate names it."""
    opened(database).dispose()
    engine = engine_of(database)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_feedback_card_uuid")
    finally:
        engine.dispose()
    found = differences_of(database)
    assert [(d[0], d[1].name) for d in found] == [("add_index", "ix_feedback_card_uuid")]


def test_down_to_nothing_and_up_again(database):
    opened(database).dispose()
    engine = engine_of(database)
    try:
        migrations.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert migrations.upgrade_to_head(engine) is True
    finally:
        engine.dispose()
    assert differences_of(database) == []


# -- a database made before migrations ------------------------------------------------------------------------------------
def make_pre_migration_database(database, *, without: tuple[str, ...] = ()) -> None:
    """The tables exactly as the old ``metadata.create_all`` made them (its DDL, kept in tests/store/data)."""
    ddl = (DATA / f"pre-migration-{database.backend}.sql").read_text(encoding="utf-8")
    sql = "\n".join(line for line in ddl.splitlines() if not line.startswith("--"))
    statements = [s.strip() for s in sql.split(";") if s.strip()]
    engine = engine_of(database)
    try:
        with engine.begin() as conn:
            for statement in statements:
                if not any(re.search(rf"\b{table}\b", statement) for table in without):
                    conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def fill_pre_migration_rows(database, *, without: tuple[str, ...]) -> None:
    engine = engine_of(database)
    now = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO jwt_replay (key, expires_at) VALUES ('k1', 4102444800.0)"))
            conn.execute(text("INSERT INTO audit_event (recorded_at, service_id, hook_instance, issuer, tenant, status, "
                              "latency_ms, card_count) VALUES (:at, 'cardiovascular-risk', 'hi-1', 'https://ehr', "
                              "NULL, 200, 4.5, 1)"), {"at": now})
            audit_id = conn.execute(text("SELECT id FROM audit_event")).scalar()
            conn.execute(text("INSERT INTO audit_card (audit_id, card_uuid, service_id, issuer, finding_ids, engine_ids) "
                              "VALUES (:a, 'card-1', 'cardiovascular-risk', 'https://ehr', '[\"f1\"]', '[\"e1\"]')"),
                         {"a": audit_id})
            conn.execute(text("INSERT INTO feedback (dedup_key, received_at, service_id, issuer, tenant, card_uuid, "
                              "outcome, outcome_timestamp, has_user_comment, finding_ids, engine_ids) VALUES "
                              "('d1', :at, 'cardiovascular-risk', 'https://ehr', NULL, 'card-1', 'overridden', "
                              "'2026-05-01T12:00:00Z', :no, '[\"f1\"]', '[\"e1\"]')"), {"at": now, "no": False})
            conn.execute(text("INSERT INTO explainer_call (key, created_at, expires_at, service_id, encoding, payload) "
                              "VALUES ('x1', 1.0, 4102444800.0, 'cardiovascular-risk', 'json', :p)"),
                         {"p": b'{"v": 1}'})
            if "order_alert" not in without:
                conn.execute(text("INSERT INTO order_alert (key, expires_at) VALUES ('a1', 4102444800.0)"))
            if "card_suppression" not in without:
                conn.execute(text(
                    "INSERT INTO card_suppression (key, card_key, patient_key, service_id, reason_code, fingerprint, "
                    "card_uuid, finding_ids, created_at) VALUES ('s1', 'ck', 'pk', 'cardiovascular-risk', "
                    "'not-relevant', 'fp', 'card-1', '[\"f1\"]', 10.0)"))
    finally:
        engine.dispose()


@pytest.mark.parametrize("age", PRE_MIGRATION_AGES)
def test_a_database_made_before_migrations_is_adopted_with_every_row(database, age):
    without = PRE_MIGRATION_AGES[age]
    make_pre_migration_database(database, without=without)
    fill_pre_migration_rows(database, without=without)
    assert "alembic_version" not in tables_of(database)

    store = opened(database)
    try:
        assert revision_of(database) == migrations.head()
        assert differences_of(database) == []
        [row] = list(store.feedback_rows())
        assert (row["dedup_key"], row["card_uuid"], row["outcome"]) == ("d1", "card-1", "overridden")
        assert row["received_at"].replace(tzinfo=row["received_at"].tzinfo or timezone.utc) == \
            datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
        [event] = store.audit_events()
        assert (event["hook_instance"], event["status"], event["latency_ms"]) == ("hi-1", 200, 4.5)
        origin = store.card_origin("card-1", service_id="cardiovascular-risk", issuer="https://ehr")
        assert origin is not None and origin.finding_ids == ("f1",) and origin.engine_ids == ("e1",)
        assert store.explainer("x1").payload == b'{"v": 1}'
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT key FROM jwt_replay")).scalars().all() == ["k1"]
        assert [s["key"] for s in store.suppression_rows()] == ([] if "card_suppression" in without else ["s1"])
        assert store.first_alerts(["a1"], 60.0) == ({"a1"} if "order_alert" in without else set())
        # The adopted database takes new rows in every table, the added ones included.
        assert store.save_feedback([]) == 0
        store.save_explainer(ExplainerRow("x2", 2.0, 4102444800.0, "svc", "json", b"{}"))
        assert store.explainer("x2") is not None
    finally:
        store.dispose()
    opened(database).dispose()  # reopening finds it at head: nothing runs again
    assert revision_of(database) == migrations.head()


def test_a_table_that_is_not_the_stores_stops_the_adoption_and_changes_nothing(database):
    engine = engine_of(database)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE feedback (id INTEGER PRIMARY KEY, note TEXT)")
    finally:
        engine.dispose()
    store = database.store()
    with pytest.raises(migrations.SchemaError, match="'feedback' exists but is not the table"):
        store.engine  # noqa: B018
    store.dispose()
    assert tables_of(database) == {"feedback"}  # the DDL before the failure was rolled back with it


# -- several workers, newer and older databases -------------------------------------------------------------------------
def _start_worker(url: str, starting, results) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        starting.wait(30)
        results.put(migrations.upgrade_to_head(engine))
    except BaseException as exc:  # noqa: BLE001  (reported to the test)
        results.put(repr(exc))
    finally:
        engine.dispose()


def test_workers_starting_together_upgrade_the_database_once(database):
    """Like gunicorn workers opening a new database at the same moment: one upgrades, the others wait on the
    database's lock and find the work done."""
    context = multiprocessing.get_context("fork")
    starting, results = context.Barrier(4), context.Queue()
    database.data_dir.mkdir(parents=True, exist_ok=True)
    workers = [context.Process(target=_start_worker, args=(database.url, starting, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert sorted(outcomes, key=str) == [False, False, False, True]
    assert revision_of(database) == migrations.head() and differences_of(database) == []


def test_stores_of_several_databases_opened_at_once_in_one_process(tmp_path):
    """Alembic's operation proxies are global to the process: migrations of two databases in two threads (an audit
    writer's thread and a request, two apps) run one after the other, each on its own connection."""
    databases = [sqlite_database(tmp_path / f"db{i}") for i in range(6)]
    starting = threading.Barrier(len(databases))
    failures: list[BaseException] = []

    def open_store(database) -> None:
        store = database.store()
        try:
            starting.wait(10)
            store.engine  # noqa: B018
        except BaseException as exc:  # noqa: BLE001  (reported below)
            failures.append(exc)
        finally:
            store.dispose()

    threads = [threading.Thread(target=open_store, args=(database,)) for database in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    for database in databases:
        assert revision_of(database) == migrations.head() and differences_of(database) == []


def stamp(database, revision: str) -> None:
    engine = engine_of(database)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{revision}'")
    finally:
        engine.dispose()


def test_a_database_of_a_newer_version_is_refused_and_feedback_is_503(database):
    opened(database).dispose()
    stamp(database, "9999")
    store = database.store()
    with pytest.raises(migrations.SchemaError, match="'9999', which this version of precision-cds does not know"):
        store.engine  # noqa: B018
    app = create_app({"DEV_MODE": True, "AS_OF": "2026-06-01", **database.settings})
    item = {"card": "9b3b6b1e-1b8a-4c3e-9f0e-6b2a1c4d5e6f", "outcome": "overridden",
            "outcomeTimestamp": "2026-06-01T10:00:00Z"}
    resp = app.test_client().post("/cds-services/cardiovascular-risk/feedback", data=json.dumps({"feedback": [item]}),
                                  content_type="application/json")
    assert resp.status_code == 503 and resp.get_json()["resourceType"] == "OperationOutcome"
    assert revision_of(database) == "9999"  # left as it was


def test_with_automatic_upgrades_off_the_service_waits_for_db_upgrade(database, monkeypatch):
    settings = {"DEV_MODE": True, "AS_OF": "2026-06-01", "DATABASE_AUTO_UPGRADE": False, **database.settings}
    app = create_app(settings)
    with pytest.raises(migrations.SchemaError, match="run `precision-cds db upgrade`"):
        store_of(app).engine  # noqa: B018
    assert "alembic_version" not in tables_of(database)
    for key, value in database.environment().items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"upgraded to revision {migrations.head()} (head)" in result.output
    assert store_of(create_app(settings)).engine is not None


# -- precision-cds db -------------------------------------------------------------------------------------------------
def test_the_db_commands(database, monkeypatch):
    for key, value in database.environment().items():
        monkeypatch.setenv(key, value)
    run = CliRunner().invoke
    head = migrations.head()
    assert run(main, ["db", "check"]).exit_code == 1
    assert f"revision none (the code's newest is {head})" in run(main, ["db", "current"]).output
    upgraded = run(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0 and f"upgraded to revision {head}" in upgraded.output
    assert f"already at revision {head}" in run(main, ["db", "upgrade"]).output
    assert f"revision {head} (head)" in run(main, ["db", "current"]).output
    checked = run(main, ["db", "check"])
    assert checked.exit_code == 0 and "tables as in the code" in checked.output

    engine = engine_of(database)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_issued_card_issued_at")
    finally:
        engine.dispose()
    drifted = run(main, ["db", "check"])
    assert drifted.exit_code == 1 and "ix_issued_card_issued_at" in drifted.output

    down = run(main, ["db", "downgrade", "base", "--yes"])
    assert down.exit_code == 0 and "at revision base" in down.output
    assert tables_of(database) <= {"alembic_version"}


@pytest.mark.parametrize("url, dialect_sign", [("sqlite:////tmp/never-made.sqlite3", "INTEGER NOT NULL"),
                                               ("postgresql+psycopg://cds@db.example/cds", "SERIAL NOT NULL")])
def test_db_upgrade_sql_prints_the_ddl_and_touches_nothing(url, dialect_sign, monkeypatch):
    monkeypatch.setenv("CDS_DATABASE_URL", url)
    result = CliRunner().invoke(main, ["db", "upgrade", "--sql"])
    assert result.exit_code == 0, result.output
    for table in STORE_TABLES:
        assert f"CREATE TABLE {table} (" in result.output
    assert dialect_sign in result.output and "INSERT INTO alembic_version" in result.output
    assert not Path("/tmp/never-made.sqlite3").exists()


def test_a_new_revision_follows_the_head_and_is_empty_when_the_tables_did_not_change(tmp_path):
    scripts = tmp_path / "migrations"
    shutil.copytree(migrations.SCRIPT_LOCATION, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    path = migrations.new_revision("order alert memory", script_location=scripts)
    number = int(migrations.head()) + 1
    assert path.name == f"{number:04d}_order_alert_memory.py"
    source = path.read_text(encoding="utf-8")
    assert f"revision = '{number:04d}'" in source and f"down_revision = '{migrations.head()}'" in source
    assert "op." not in source  # nothing to do: the code's tables are those the revisions build


def test_the_db_commands_say_what_is_wrong_in_one_line(database, monkeypatch, tmp_path):
    opened(database).dispose()
    stamp(database, "9999")
    for key, value in database.environment().items():
        monkeypatch.setenv(key, value)
    newer = CliRunner().invoke(main, ["db", "upgrade"])
    assert newer.exit_code == 1 and "SchemaError" in newer.output and "'9999'" in newer.output
    assert revision_of(database) == "9999"

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.delenv("CDS_DATABASE_URL", raising=False)
    monkeypatch.setenv("CDS_DATA_DIR", str(blocked / "data"))
    unusable = CliRunner().invoke(main, ["db", "upgrade"])
    assert unusable.exit_code == 1 and unusable.output.startswith("error: NotADirectoryError")
