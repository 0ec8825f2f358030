"""Schema migrations of the store (Alembic; docs/database.md).

The revisions live in ``versions/`` (``0001_initial_schema.py`` is the schema as it stood when migrations began). The
store brings its database to the newest revision the first time a process opens it (``upgrade_to_head``), and
``precision-cds db upgrade`` does the same from the command line. Several workers may start at once: the upgrade runs
in one transaction under a lock (SQLite: ``BEGIN IMMEDIATE``, the database's write lock; PostgreSQL: a transaction
advisory lock), and a worker that gets the lock after another re-reads the revision and finds nothing to do. DDL is
transactional on both, so a failed upgrade leaves the database as it was.

A database made before migrations existed has the tables and no ``alembic_version``: revision 0001 creates only the
tables missing and checks the others, so it is adopted with its rows.
"""
from __future__ import annotations

import functools
import hashlib
import io
import logging
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

SCRIPT_LOCATION = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"
# pg_advisory_xact_lock takes a bigint: the first 8 bytes of a hash of a name no other application uses.
POSTGRES_LOCK_KEY = int.from_bytes(hashlib.sha256(b"precision-cds schema migration").digest()[:8], "big",
                                   signed=True)
SQLITE_BUSY_TIMEOUT_MS = 60_000  # a worker waits while another one upgrades
# Alembic's ``op`` and ``context`` are process-wide proxies: two migrations running in threads of one process (two
# stores, e.g. the audit writer's thread opening one database while a request opens another) would send each other's
# DDL to the wrong connection. One Alembic run at a time per process; taken before any database lock.
_ALEMBIC_RUN = threading.RLock()


class SchemaError(SQLAlchemyError):
    """The database's schema is not one this code can use: a revision it does not know (written by a newer version),
    a table it cannot adopt, or (with automatic upgrades off) a database behind the code. A store failure like any
    other database error (503 on feedback, cards without explainer links)."""


def alembic_config(*, connection: Connection | None = None, url: str | None = None,
                   output: io.StringIO | None = None, script_location: Path = SCRIPT_LOCATION) -> Config:
    """Alembic's configuration without an ini file: the script folder inside the package, and the connection (or,
    offline, the URL) handed to env.py. Revision files are named ``<rev>_<slug>.py``."""
    config = Config(output_buffer=output)
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    config.attributes["url"] = url
    return config


@functools.lru_cache(maxsize=1)
def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision of the code (one head: the revisions form a line)."""
    found = script_directory().get_current_head()
    assert found is not None, "no revision in cds_hooks/migrations/versions"
    return found


def current_revision(connection: Connection) -> str | None:
    """The database's revision; None when it has none (empty, or made before migrations)."""
    heads = MigrationContext.configure(connection).get_current_heads()
    if len(heads) > 1:
        raise SchemaError(f"the database names several schema revisions {heads}; expected one")
    return heads[0] if heads else None


def _check_known(revision: str | None) -> None:
    if revision is None:
        return
    try:
        script_directory().get_revision(revision)
    except CommandError:
        raise SchemaError(f"the database is at schema revision {revision!r}, which this version of precision-cds does "
                          f"not know (written by a newer version?); its newest is {head()!r}") from None


def store_tables_present(connection: Connection) -> list[str]:
    """The tables of a database other than Alembic's own (a database made before migrations has some)."""
    return sorted(name for name in inspect(connection).get_table_names() if name != VERSION_TABLE)


def upgrade_to_head(engine: Engine) -> bool:
    """Bring the database to the newest revision; True when a revision ran. Cheap when already there (one read)."""
    with engine.connect() as conn:
        revision = current_revision(conn)
    _check_known(revision)
    if revision == head():
        return False
    with _migration_lock(engine) as conn:
        revision = current_revision(conn)  # another worker may have upgraded while this one waited
        _check_known(revision)
        if revision == head():
            return False
        if revision is None:
            present = store_tables_present(conn)
            if present:
                log.info("adopting a database made before schema migrations (tables: %s)", ", ".join(present))
        log.info("upgrading the database schema from %s to %s", revision or "nothing", head())
        try:
            command.upgrade(alembic_config(connection=conn), "head")
        except (CommandError, RuntimeError) as exc:
            raise SchemaError(str(exc)) from exc
    return True


def require_head(engine: Engine) -> None:
    """Refuse a database that is not at the newest revision (when start-up upgrades are off)."""
    with engine.connect() as conn:
        revision = current_revision(conn)
    _check_known(revision)
    if revision != head():
        raise SchemaError(f"the database is at schema revision {revision or 'none'}, the code needs {head()}: run "
                          f"`precision-cds db upgrade` (or set CDS_DATABASE_AUTO_UPGRADE=true)")


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database back to ``revision`` ("base": no tables), e.g. before running an older version."""
    with _migration_lock(engine) as conn:
        _check_known(current_revision(conn))
        command.downgrade(alembic_config(connection=conn), revision)


def upgrade_sql(url: str, *, revision: str = "head") -> str:
    """The SQL of the upgrade from an empty database, for a DBA to review or run (``db upgrade --sql``)."""
    output = io.StringIO()
    with _ALEMBIC_RUN:
        command.upgrade(alembic_config(url=url, output=output), revision, sql=True)
    return output.getvalue()


def schema_differences(connection: Connection) -> list:
    """What autogenerate would change to make the database's tables those of the code (empty: they are the same)."""
    from alembic.autogenerate import compare_metadata

    from cds_hooks.store import metadata

    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return compare_metadata(context, metadata)


def next_revision_id(script_location: Path = SCRIPT_LOCATION) -> str:
    """Revisions are numbered 0001, 0002, ... so that the files list in order."""
    scripts = ScriptDirectory.from_config(alembic_config(script_location=script_location))
    numbers = [int(rev.revision) for rev in scripts.walk_revisions() if rev.revision.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


def new_revision(message: str, *, autogenerate: bool = True, script_location: Path = SCRIPT_LOCATION) -> Path:
    """Write the next revision file. With ``autogenerate`` its operations are what the tables in cds_hooks/store.py
    add to a scratch SQLite database at the current head (review them: autogenerate cannot see renames, and
    PostgreSQL-only details need writing by hand)."""
    import tempfile

    revision_id = next_revision_id(script_location)
    with _ALEMBIC_RUN, tempfile.TemporaryDirectory(prefix="precision-cds-revision-") as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'scratch.sqlite3'}", poolclass=NullPool)
        try:
            with engine.begin() as conn:
                command.upgrade(alembic_config(connection=conn, script_location=script_location), "head")
            with engine.begin() as conn:
                script = command.revision(alembic_config(connection=conn, script_location=script_location),
                                          message=message, autogenerate=autogenerate, rev_id=revision_id)
        finally:
            engine.dispose()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that no other migration (of this process or another) can run beside;
    committed on exit."""
    dialect = engine.dialect.name
    with _ALEMBIC_RUN:
        if dialect == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            locking = _sqlite_locking_engine(engine)
            try:
                with locking.begin() as conn:
                    yield conn
            finally:
                locking.dispose()
            return
        with engine.begin() as conn:
            if dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_LOCK_KEY})
            yield conn


def _sqlite_locking_engine(engine: Engine) -> Engine:
    """An engine whose transactions start with ``BEGIN IMMEDIATE`` (SQLite's write lock, taken at once), so that the
    DDL of the migration runs inside the transaction: Python's sqlite3 would otherwise commit before each DDL
    statement. The SQLAlchemy recipe for SQLite transactions; used only for migrations."""
    locking = create_engine(engine.url, poolclass=NullPool)

    @event.listens_for(locking, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # the driver issues no BEGIN/COMMIT of its own
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(locking, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return locking
