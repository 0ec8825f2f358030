"""The order-time alerts already shown (cds_hooks/alert_memory.py): ``order_alert``.

The table came with the order-select and order-sign services, just before migrations: a database made by that
version's ``metadata.create_all`` already has it, and keeps it (with its rows) when adopted.

Revision ID: 0002
Revises: 0001
Create Date: 2026-06-01
"""
from alembic import context, op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not context.is_offline_mode():
        inspector = sa.inspect(op.get_bind())
        if inspector.has_table("order_alert"):
            found = {column["name"] for column in inspector.get_columns("order_alert")}
            if found != {"key", "expires_at"}:
                raise RuntimeError(f"table 'order_alert' exists but is not the table this schema expects (columns "
                                   f"{sorted(found)}); not adopting this database")
            return
    op.create_table('order_alert',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('order_alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_alert_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('order_alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_alert_expires_at'))

    op.drop_table('order_alert')
