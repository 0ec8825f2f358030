"""The databases the store tests run against: a SQLite file in the test's folder, and a database on a throwaway
PostgreSQL server that the test session starts itself (fixtures in tests/conftest.py).

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

from cds_hooks.store import Store, sqlite_url

DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class Database:
    """One test's database: ``backend`` is "sqlite" or "postgresql"; ``settings`` go into the app config."""

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
    """Creates and drops the tests' databases on a server given by its admin URL."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_size=1)

    def create_database(self, data_dir: Path) -> Database:
        name = f"cds_test_{uuid.uuid4().hex[:16]}"
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)
        return Database("postgresql", url, data_dir)

    def drop_database(self, database: Database) -> None:
        """Drop it, closing what the test left connected (apps are not disposed at the end of every test)."""
        name = make_url(database.url).database
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def connections(self) -> int:
        with self._admin.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"))
                       .scalar())

    def close(self) -> None:
        self._admin.dispose()


class ThrowawayCluster(PostgresServer):
    """initdb in a temporary folder, the server started on its Unix socket there; ``stop`` deletes it all."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="cds-test-postgres-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._run_as = _unprivileged_user() if os.geteuid() == 0 else None
        if self._run_as is not None:
            os.chown(self.root, self._run_as.pw_uid, self._run_as.pw_gid)
        self._started = False
        try:
            self._pg("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
                     "--no-sync")
            options = (f"-c listen_addresses='' -k {self.root} -p {self.port} -c fsync=off -c synchronous_commit=off "
                       f"-c full_page_writes=off -c max_connections=300")
            self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t",
                     str(START_TIMEOUT_S), "-o", options, "start")
            self._started = True
        except BaseException:
            self.stop()
            raise
        super().__init__(f"postgresql+psycopg://postgres@/postgres?host={self.root}&port={self.port}")

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
        if hasattr(self, "_admin"):
            self.close()
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


def start_postgres() -> PostgresServer:
    """The server for this test session: CDS_TEST_POSTGRES_URL, or a throwaway cluster."""
    try:
        import psycopg  # noqa: F401  (the driver comes with the test extra: pip install -e '.[test]')
    except ImportError:
        pytest.fail("psycopg is not installed: pip install -e '.[test]' (or '.[postgres]')")
    given = os.environ.get("CDS_TEST_POSTGRES_URL")
    if given:
        return PostgresServer(given)
    return ThrowawayCluster(postgres_bin())
