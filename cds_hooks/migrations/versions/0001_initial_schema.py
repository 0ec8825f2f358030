"""The schema as it stood when migrations began: JWT replay, audit, feedback, explainer evidence, issued cards and
suppressions.

A database made before migrations existed (by ``metadata.create_all``) has some or all of these tables and no
``alembic_version``: this revision creates only the tables that are missing and checks that the ones present have
exactly these columns, so such a database is adopted with its rows as they are (an older one lacks ``issued_card``
and ``card_suppression``, which were added later as new tables only).

Revision ID: 0001
Revises:
Create Date: 2026-06-01
"""
from alembic import context, op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _jwt_replay() -> None:
    op.create_table(
        "jwt_replay",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_jwt_replay_expires_at", "jwt_replay", ["expires_at"])


def _audit_event() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_id", sa.String(200)),
        sa.Column("hook_instance", sa.String(64)),
        sa.Column("issuer", sa.String(512)),
        sa.Column("tenant", sa.String(256)),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("card_count", sa.Integer(), nullable=False),
    )


def _audit_card() -> None:
    op.create_table(
        "audit_card",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("audit_id", sa.Integer(), sa.ForeignKey("audit_event.id"), nullable=False),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(200)),
        sa.Column("issuer", sa.String(512)),
        sa.Column("finding_ids", sa.Text(), nullable=False),
        sa.Column("engine_ids", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_card_card_uuid", "audit_card", ["card_uuid"])


def _feedback() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("dedup_key", sa.String(64), nullable=False, unique=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_id", sa.String(200), nullable=False),
        sa.Column("issuer", sa.String(512)),
        sa.Column("tenant", sa.String(256)),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("outcome_timestamp", sa.Text(), nullable=False),
        sa.Column("accepted_suggestions", sa.Text()),
        sa.Column("override_system", sa.Text()),
        sa.Column("override_code", sa.Text()),
        sa.Column("override_display", sa.Text()),
        sa.Column("has_user_comment", sa.Boolean(), nullable=False),
        sa.Column("user_comment", sa.Text()),
        sa.Column("hook_instance", sa.String(64)),
        sa.Column("finding_ids", sa.Text()),
        sa.Column("engine_ids", sa.Text()),
    )
    op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])


def _explainer_call() -> None:
    op.create_table(
        "explainer_call",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("service_id", sa.String(200)),
        sa.Column("encoding", sa.String(16), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_explainer_call_expires_at", "explainer_call", ["expires_at"])


def _issued_card() -> None:
    op.create_table(
        "issued_card",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.Float(), nullable=False),
        sa.Column("service_id", sa.String(200), nullable=False),
        sa.Column("issuer", sa.String(512)),
        sa.Column("tenant", sa.String(256)),
        sa.Column("hook_instance", sa.String(64)),
        sa.Column("card_key", sa.String(64), nullable=False),
        sa.Column("patient_key", sa.String(64)),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("title", sa.String(300)),
        sa.Column("finding_ids", sa.Text(), nullable=False),
        sa.Column("engine_ids", sa.Text(), nullable=False),
        sa.Column("suggestions", sa.Text(), nullable=False),
        sa.Column("override_codes", sa.Text(), nullable=False),
    )
    op.create_index("ix_issued_card_card_uuid", "issued_card", ["card_uuid"])
    op.create_index("ix_issued_card_issued_at", "issued_card", ["issued_at"])


def _card_suppression() -> None:
    op.create_table(
        "card_suppression",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("card_key", sa.String(64), nullable=False),
        sa.Column("patient_key", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(200), nullable=False),
        sa.Column("suggestion_key", sa.String(64)),
        sa.Column("reason_code", sa.String(64), nullable=False),
        sa.Column("reason_display", sa.String(200)),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("title", sa.String(300)),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("finding_ids", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("until_at", sa.Float()),
        sa.Column("lifted_at", sa.Float()),
        sa.Column("lifted_because", sa.String(32)),
    )
    op.create_index("ix_card_suppression_card_key", "card_suppression", ["card_key"])
    op.create_index("ix_card_suppression_patient_key", "card_suppression", ["patient_key"])


# In creation order (audit_card refers to audit_event), with the columns a table made before migrations must have.
TABLES = {
    "jwt_replay": (_jwt_replay, {"key", "expires_at"}),
    "audit_event": (_audit_event, {"id", "recorded_at", "service_id", "hook_instance", "issuer", "tenant", "status",
                                   "latency_ms", "card_count"}),
    "audit_card": (_audit_card, {"id", "audit_id", "card_uuid", "service_id", "issuer", "finding_ids",
                                 "engine_ids"}),
    "feedback": (_feedback, {"id", "dedup_key", "received_at", "service_id", "issuer", "tenant", "card_uuid",
                             "outcome", "outcome_timestamp", "accepted_suggestions", "override_system",
                             "override_code", "override_display", "has_user_comment", "user_comment",
                             "hook_instance", "finding_ids", "engine_ids"}),
    "explainer_call": (_explainer_call, {"key", "created_at", "expires_at", "service_id", "encoding", "payload"}),
    "issued_card": (_issued_card, {"id", "card_uuid", "issued_at", "service_id", "issuer", "tenant", "hook_instance",
                                   "card_key", "patient_key", "indicator", "fingerprint", "title", "finding_ids",
                                   "engine_ids", "suggestions", "override_codes"}),
    "card_suppression": (_card_suppression, {"key", "card_key", "patient_key", "service_id", "suggestion_key",
                                             "reason_code", "reason_display", "fingerprint", "title", "card_uuid",
                                             "finding_ids", "created_at", "until_at", "lifted_at",
                                             "lifted_because"}),
}


def upgrade() -> None:
    if context.is_offline_mode():  # SQL for an empty database
        present: set[str] = set()
    else:
        inspector = sa.inspect(op.get_bind())
        present = set(inspector.get_table_names())
    for name, (create, columns) in TABLES.items():
        if name not in present:
            create()
            continue
        found = {column["name"] for column in inspector.get_columns(name)}
        if found != columns:
            raise RuntimeError(
                f"table {name!r} exists but is not the table this schema expects (missing columns: "
                f"{sorted(columns - found)}, unknown columns: {sorted(found - columns)}); not adopting this database")


def downgrade() -> None:
    for name in reversed(list(TABLES)):
        op.drop_table(name)
