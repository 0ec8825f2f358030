"""Alembic's entry point for the store's migrations (run by cds_hooks.migrations, never imported as a module).

Online, the caller hands over an open connection in ``config.attributes["connection"]`` that is already inside the
transaction holding the migration lock (cds_hooks/migrations/__init__.py), so every revision and the version stamp
commit together or not at all. Offline (``precision-cds db upgrade --sql``) the SQL is printed for the URL's dialect.
"""
from alembic import context

from cds_hooks.store import metadata

config = context.config
# SQLite changes a table by copying it (ALTER TABLE can do little there): autogenerate writes batch operations.
render_as_batch = True

if context.is_offline_mode():
    context.configure(url=config.attributes["url"], target_metadata=metadata, literal_binds=True,
                      render_as_batch=render_as_batch)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes["connection"]
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=render_as_batch,
                      compare_type=True, transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()
