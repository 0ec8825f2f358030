"""``precision-cds db upgrade|downgrade|current|check|revision``: the store's schema migrations (docs/database.md).

The database is the service's (``CDS_DATABASE_URL``, else the SQLite file under ``CDS_DATA_DIR``); the service also
upgrades it when a process first opens it, unless ``CDS_DATABASE_AUTO_UPGRADE=false``.
"""
from __future__ import annotations

import sys

import click

from cds_hooks.config import load_config


def _engine():
    from cds_hooks.store import Store

    store = Store.from_config({**load_config(), "DATABASE_AUTO_UPGRADE": False})
    return store, store.bare_engine()


def _safe_url(store) -> str:
    from sqlalchemy import make_url

    return make_url(store.url).render_as_string(hide_password=True)


class _DatabaseGroup(click.Group):
    """A database that cannot be reached or used is one line on stderr and exit status 1, not a traceback."""

    def invoke(self, ctx: click.Context):
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return super().invoke(ctx)
        except (SQLAlchemyError, OSError) as exc:  # OSError: the SQLite file's folder cannot be made
            message = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            click.echo(f"error: {type(exc).__name__}: {message}", err=True)
            sys.exit(1)


@click.group(cls=_DatabaseGroup)
def db() -> None:
    """The database schema: upgrade it, see where it stands, write a new migration."""


@db.command()
@click.option("--sql", "as_sql", is_flag=True,
              help="Print the SQL of the upgrade from an empty database instead of running it (for review).")
def upgrade(as_sql: bool) -> None:
    """Bring the database to the newest schema revision (creating it when empty, adopting one made before
    migrations)."""
    from cds_hooks import migrations

    store, engine = _engine()
    try:
        if as_sql:
            click.echo(migrations.upgrade_sql(store.url))
            return
        ran = migrations.upgrade_to_head(engine)
        with engine.connect() as conn:
            now = migrations.current_revision(conn)
    finally:
        engine.dispose()
    click.echo(f"{_safe_url(store)}: {'upgraded to' if ran else 'already at'} revision {now} (head)")


@db.command()
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def downgrade(revision: str, yes: bool) -> None:
    """Take the schema back to REVISION (e.g. before running an older version); "base" drops every table. Run it
    with the version that made the newer revisions: only it knows how to undo them."""
    from cds_hooks import migrations

    store, engine = _engine()
    try:
        if not yes:
            click.confirm(f"Downgrade {_safe_url(store)} to {revision}? Tables and columns added since are dropped "
                          f"with their rows", abort=True)
        migrations.downgrade(engine, revision)
        with engine.connect() as conn:
            now = migrations.current_revision(conn)
    finally:
        engine.dispose()
    click.echo(f"{_safe_url(store)}: at revision {now or 'base'}")


@db.command()
def current() -> None:
    """Print the database's revision and the code's newest."""
    from cds_hooks import migrations

    store, engine = _engine()
    try:
        with engine.connect() as conn:
            now = migrations.current_revision(conn)
    finally:
        engine.dispose()
    head = migrations.head()
    state = "head" if now == head else f"the code's newest is {head}"
    click.echo(f"{_safe_url(store)}: revision {now or 'none'} ({state})")


@db.command()
def check() -> None:
    """Exit 0 when the database is at the newest revision and its tables are exactly those of the code; else print
    what differs and exit 1."""
    from cds_hooks import migrations

    store, engine = _engine()
    try:
        with engine.connect() as conn:
            now = migrations.current_revision(conn)
            differences = migrations.schema_differences(conn) if now == migrations.head() else []
    finally:
        engine.dispose()
    if now != migrations.head():
        click.echo(f"{_safe_url(store)}: revision {now or 'none'}, the code's newest is {migrations.head()}: "
                   f"run `precision-cds db upgrade`", err=True)
        sys.exit(1)
    if differences:
        click.echo(f"{_safe_url(store)}: at head, but the tables differ from the code:", err=True)
        for difference in differences:
            click.echo(f"  {difference}", err=True)
        sys.exit(1)
    click.echo(f"{_safe_url(store)}: revision {now} (head), tables as in the code")


@db.command()
@click.option("-m", "--message", required=True, help="What the revision changes, in a few words (names the file).")
@click.option("--autogenerate/--empty", default=True, show_default=True,
              help="Fill in the operations from the difference between the tables in cds_hooks/store.py and the "
                   "current head, or write an empty revision (data migrations, PostgreSQL-only changes).")
def revision(message: str, autogenerate: bool) -> None:
    """Write the next revision file into cds_hooks/migrations/versions/ (for developers; review it before
    committing)."""
    from cds_hooks import migrations

    path = migrations.new_revision(message, autogenerate=autogenerate)
    click.echo(f"wrote {path}")
