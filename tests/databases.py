"""The databases the store tests run against: a SQLite file in the test's folder, and a schema of its own on a
throwaway PostgreSQL server that the test session starts itself (fixtures in tests/conftest.py; docs/database.md).

The server is Debian's ``postgresql`` (``/usr/lib/postgresql/<version>/bin``), installed with apt-get when it is
missing (the tests run as root, as in CI). As with the Chromium test, only a machine without apt skips the PostgreSQL
tests (with the reason); where apt is there, a failed install fails them, so CI cannot pass without PostgreSQL.
``CDS_TEST_POSTGRES_URL`` (a SQLAlchemy URL of a server the tests may create databases on) uses that server instead.

The cluster lives in a temporary folder and listens only on a Unix socket in that folder (mode 0700: no other user of
the machine can connect; trust authentication is safe there). PostgreSQL refuses to run as root, so under root the
folder belongs to the ``postgres`` user and initdb, pg_ctl and the server run as that user. Durability settings are off
(``fsync``, ``synchronous_commit``): the tests kill the application, never the database server.
"""
from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from cds_hooks.store import Store, sqlite_url

DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
START_TIMEOUT_S = 60
CLUSTER_PREFIX = "cds-test-postgres-"
OWNER_FILE = "owner.pid"  # the test session that started the cluster


@dataclass(frozen=True)
class Database:
    """One test's database (on PostgreSQL, a schema its URL selects): ``backend`` is "sqlite" or "postgresql";
    ``settings`` go into the app config."""

    backend: str
    url: str
    data_dir: Path

    @property
    def settings(self) -> dict:
        if self.backend == "sqlite":  # the default place: the app finds the file under DATA_DIR as in production
            return {"DATA_DIR": str(self.data_dir)}
        return {"DATA_DIR": str(self.data_dir), "DATABASE_URL": self.url}

    def environment(self) -> dict[str, str]:
        """The same settings as CDS_* environment variables (for the CLI and subprocesses)."""
        return {f"CDS_{key}": value for key, value in self.settings.items()}

    def store(self) -> Store:
        return Store(self.url)


def sqlite_database(data_dir: Path) -> Database:
    return Database("sqlite", sqlite_url(data_dir), data_dir)


# -- the server ---------------------------------------------------------------------------------------------------------
def _version_key(path: Path) -> tuple:
    return tuple(int(part) if part.isdigit() else 0 for part in re.split(r"[.]", path.parent.name))


def find_postgres_bin() -> Path | None:
    """The bin folder of the newest PostgreSQL installed (Debian's layout first, then initdb on the PATH)."""
    found = sorted((Path(p) for p in glob.glob(DEBIAN_BIN_GLOB) if (Path(p) / "initdb").exists()), key=_version_key)
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def postgres_bin() -> Path:
    """Where initdb and pg_ctl are, installing Debian's ``postgresql`` when they are missing."""
    found = find_postgres_bin()
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip("PostgreSQL tests skipped: PostgreSQL is not installed and apt-get is unavailable "
                    "(or set CDS_TEST_POSTGRES_URL)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]
    install = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    if install.returncode != 0:  # the package lists may be missing on a fresh machine
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=900)
        install = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    found = find_postgres_bin()
    if found:
        return found
    pytest.fail(f"apt-get install postgresql failed (install it, or set CDS_TEST_POSTGRES_URL to a server the tests "
                f"may create databases on): {install.stderr[-300:]}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """The tests' databases on a server given by its admin URL.

    The session makes one database of its own on the server; each test gets a schema of its own in it, which its URL
    puts first on the ``search_path`` (so the store's tables, Alembic's version table and every query land there, as
    they would in a database of their own). A schema is made and dropped in milliseconds where a database takes a
    tenth of a second. ``application_name`` names the test's schema, so that what a test left connected (apps are not
    disposed at the end of every test) is closed when its schema is dropped."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.database_name = f"cds_tests_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.database_name}"')
        self.session_url = make_url(admin_url).set(database=self.database_name)
        self._session = create_engine(self.session_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def create_database(self, data_dir: Path) -> Database:
        schema = f"t_{uuid.uuid4().hex[:16]}"
        with self._session.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = self.session_url.update_query_dict({"options": f"-csearch_path={schema}", "application_name": schema})
        return Database("postgresql", url.render_as_string(hide_password=False), data_dir)

    def drop_database(self, database: Database) -> None:
        schema = make_url(database.url).query["application_name"]
        with self._session.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :s"),
                         {"s": schema})
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')

    def connections(self) -> int:
        with self._admin.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"))
                       .scalar())

    def close(self) -> None:
        """Drop the session's database (whatever is still connected to it is closed) and let go of the server."""
        self._session.dispose()
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
        self._admin.dispose()


class ThrowawayCluster(PostgresServer):
    """initdb in a temporary folder, the server started on its Unix socket there; ``stop`` deletes it all."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix=CLUSTER_PREFIX))
        self.data = self.root / "data"
        self.port = _free_port()
        self._run_as = _unprivileged_user() if os.geteuid() == 0 else None
        if self._run_as is not None:
            os.chown(self.root, self._run_as.pw_uid, self._run_as.pw_gid)
        self._started = False
        self._owner_pid = os.getpid()
        (self.root / OWNER_FILE).write_text(str(self._owner_pid))
        atexit.register(self.stop)  # also when the session ends without its teardown (the fixture stops it first)
        try:
            self._pg("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
                     "--no-sync")
            options = (f"-c listen_addresses='' -k {self.root} -p {self.port} -c fsync=off -c synchronous_commit=off "
                       f"-c full_page_writes=off -c max_connections=300")
            self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t",
                     str(START_TIMEOUT_S), "-o", options, "start")
            self._started = True
            super().__init__(f"postgresql+psycopg://postgres@/postgres?host={self.root}&port={self.port}")
        except BaseException:
            self.stop()
            raise

    def _pg(self, program: str, *args: str) -> None:
        kwargs = {}
        if self._run_as is not None:
            kwargs = {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}
        done = subprocess.run([str(self.bin_dir / program), *args], capture_output=True, text=True,
                              timeout=START_TIMEOUT_S + 30, cwd=self.root, **kwargs)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-1000:] if log.exists() else ""
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr[-1000:]} {tail}")

    def stop(self) -> None:
        """Stop the server at once and delete the folder: nothing in the cluster is worth dropping first. Once, and
        only in the process that started it (not in a forked child of the test session)."""
        if os.getpid() != self._owner_pid or not self.root.exists():
            return
        for engine in (getattr(self, "_session", None), getattr(self, "_admin", None)):
            if engine is not None:
                engine.dispose()
        try:
            if self._started:
                self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _unprivileged_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("postgres")  # made by Debian's postgresql package
    except KeyError:
        pytest.fail("the tests run as root and there is no 'postgres' user to run PostgreSQL as (PostgreSQL refuses "
                    "root); install Debian's postgresql package or set CDS_TEST_POSTGRES_URL")


def reap_orphaned_clusters() -> None:
    """Stop and delete the clusters of test sessions that died without their teardown (a segfault, SIGKILL)."""
    for root in Path(tempfile.gettempdir()).glob(CLUSTER_PREFIX + "*"):
        try:
            owner = int((root / OWNER_FILE).read_text())
            os.kill(owner, 0)
            continue  # its session is still running
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue  # not ours to judge (no owner file yet: a cluster being made right now)
        bin_dir = find_postgres_bin()
        if bin_dir is not None and (root / "data" / "postmaster.pid").exists():
            owner_of_data = (root / "data").stat().st_uid
            kwargs = {"user": owner_of_data} if os.geteuid() == 0 and owner_of_data != 0 else {}
            subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60, check=False, cwd=root, **kwargs)
        shutil.rmtree(root, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """The server for this test session: CDS_TEST_POSTGRES_URL, or a throwaway cluster."""
    try:
        import psycopg  # noqa: F401  (the driver comes with the test extra: pip install -e '.[test]')
    except ImportError:
        pytest.fail("psycopg is not installed: pip install -e '.[test]' (or '.[postgres]')")
    given = os.environ.get("CDS_TEST_POSTGRES_URL")
    if given:
        return PostgresServer(given)
    reap_orphaned_clusters()
    return ThrowawayCluster(postgres_bin())
