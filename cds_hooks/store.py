"""Durable storage: feedback, the audit trail of hook calls, the JWT replay (``jti``) store, and the evidence behind
the explainer pages of recent hook calls.

SQLAlchemy 2.x Core, so any SQLAlchemy URL works (``CDS_DATABASE_URL``, e.g. PostgreSQL in production); by
default a SQLite file under ``CDS_DATA_DIR``. SQLite runs in WAL mode with a busy timeout and
``synchronous=FULL`` so that several gunicorn workers and threads can write at once and a committed row survives
a crash of the process (and of the machine). Every write commits before the caller answers the HTTP request,
except the audit records, which cds_hooks/audit_writer.py commits in batches just after.

Nothing stored here is patient data - card and hook-instance uuids, finding and engine ids, issuers, outcomes; the
only free text is a clinician's override comment, kept only when ``FEEDBACK_KEEP_COMMENTS`` is on - except the
``explainer_call`` table: the findings of one hook call with their evidence (values, dates, source references), kept
only for the explainer link lifetime (``EXPLAINER_TTL_S``) and purged after it (docs/explainer.md).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from sqlalchemy import (Boolean, Column, DateTime, Engine, Float, ForeignKey, Integer, LargeBinary, MetaData, String,
                        Table, Text, create_engine, delete, event, insert, select)
from sqlalchemy.exc import IntegrityError, OperationalError

log = logging.getLogger(__name__)

SQLITE_FILE_NAME = "precision-cds.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 15_000  # writers queue behind each other; a burst of workers must wait, not fail
JTI_PURGE_INTERVAL_S = 300.0
EXPLAINER_PURGE_INTERVAL_S = 300.0

metadata = MetaData()

# One row per JWT accepted: (issuer, jti) hashed into a fixed-length key so that any database can index it.
jwt_replay = Table(
    "jwt_replay", metadata,
    Column("key", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)

# One row per authenticated hook call.
audit_event = Table(
    "audit_event", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("service_id", String(200)),
    Column("hook_instance", String(64)),
    Column("issuer", String(512)),
    Column("tenant", String(256)),
    Column("status", Integer, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("card_count", Integer, nullable=False),
)

# The cards one hook call answered with, and the findings/engines each came from: the link from feedback to rules.
audit_card = Table(
    "audit_card", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("audit_id", Integer, ForeignKey("audit_event.id"), nullable=False),
    Column("card_uuid", String(64), nullable=False, index=True),
    Column("service_id", String(200)),
    Column("issuer", String(512)),
    Column("finding_ids", Text, nullable=False),  # JSON array
    Column("engine_ids", Text, nullable=False),  # JSON array
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # sha256 of (service, issuer, tenant, the feedback item as canonical JSON): the same item posted twice is one row.
    Column("dedup_key", String(64), nullable=False, unique=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("service_id", String(200), nullable=False),
    Column("issuer", String(512)),
    Column("tenant", String(256)),
    Column("card_uuid", String(64), nullable=False, index=True),
    Column("outcome", String(16), nullable=False),
    Column("outcome_timestamp", Text, nullable=False),  # client text: no length limit to trip over
    Column("accepted_suggestions", Text),  # JSON array of suggestion uuids
    Column("override_system", Text),
    Column("override_code", Text),
    Column("override_display", Text),
    Column("has_user_comment", Boolean, nullable=False, default=False),
    Column("user_comment", Text),
    # Linkage, copied from the audit record of the hook call that rendered the card (NULL when none was found).
    Column("hook_instance", String(64)),
    Column("finding_ids", Text),  # JSON array
    Column("engine_ids", Text),  # JSON array
)

# The evidence behind the explainer pages of one hook call: all its findings in one row (one insert per call keeps
# the hook fast). ``key`` is a random id that only a signed explainer token names; the payload is JSON, zlib-compressed
# when ``encoding`` says so. Patient data: deleted once ``expires_at`` has passed.
explainer_call = Table(
    "explainer_call", metadata,
    Column("key", String(64), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
    Column("service_id", String(200)),
    Column("encoding", String(16), nullable=False),  # "json" | "json+zlib"
    Column("payload", LargeBinary, nullable=False),
)


@dataclass(frozen=True)
class ExplainerRow:
    key: str
    created_at: float
    expires_at: float
    service_id: str | None
    encoding: str
    payload: bytes


@dataclass(frozen=True)
class AuditCard:
    card_uuid: str
    finding_ids: tuple[str, ...]
    engine_ids: tuple[str, ...]


@dataclass(frozen=True)
class AuditRecord:
    recorded_at: datetime
    service_id: str | None
    hook_instance: str | None
    issuer: str | None
    tenant: str | None
    status: int
    latency_ms: float
    cards: tuple[AuditCard, ...] = ()


@dataclass(frozen=True)
class CardOrigin:
    hook_instance: str | None
    finding_ids: tuple[str, ...]
    engine_ids: tuple[str, ...]


@dataclass(frozen=True)
class FeedbackRecord:
    service_id: str
    issuer: str | None
    tenant: str | None
    item: Mapping[str, Any]  # one validated feedback item, as received
    origin: CardOrigin | None = None
    keep_comment: bool = False
    received_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def dedup_key(self) -> str:
        canonical = json.dumps([self.service_id, self.issuer, self.tenant, self.item], sort_keys=True,
                               separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()

    def row(self) -> dict[str, Any]:
        item = self.item
        reason = item.get("overrideReason") or {}
        coding = reason.get("reason") or {}
        comment = reason.get("userComment")
        accepted = item.get("acceptedSuggestions")
        origin = self.origin
        return {
            "dedup_key": self.dedup_key,
            "received_at": self.received_at,
            "service_id": self.service_id,
            "issuer": self.issuer,
            "tenant": self.tenant,
            "card_uuid": str(item["card"]).lower(),
            "outcome": item["outcome"],
            "outcome_timestamp": item["outcomeTimestamp"],
            "accepted_suggestions": json.dumps([s.get("id") for s in accepted]) if accepted else None,
            "override_system": coding.get("system"),
            "override_code": coding.get("code"),
            "override_display": coding.get("display"),
            "has_user_comment": bool(comment),
            "user_comment": comment if (comment and self.keep_comment) else None,
            "hook_instance": origin.hook_instance if origin else None,
            "finding_ids": json.dumps(list(origin.finding_ids)) if origin else None,
            "engine_ids": json.dumps(list(origin.engine_ids)) if origin else None,
        }


def sqlite_url(data_dir: str | os.PathLike) -> str:
    return f"sqlite:///{Path(data_dir).expanduser().resolve() / SQLITE_FILE_NAME}"


def database_url(config: Mapping[str, Any]) -> str:
    return config.get("DATABASE_URL") or sqlite_url(config.get("DATA_DIR") or "./var")


class Store:
    """All persistence behind one object. Thread-safe; fork-safe (a new engine per process, made on first use)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._pid: int | None = None
        self._next_purge = 0.0
        self._next_explainer_purge = 0.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Store":
        return cls(database_url(config))

    # -- connection ---------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        pid = os.getpid()
        if self._engine is not None and self._pid == pid:
            return self._engine
        with self._lock:
            if self._engine is None or self._pid != pid:
                if self._engine is not None:
                    # Inherited over fork: leave the parent's connections to the parent.
                    self._engine.dispose(close=False)
                self._engine = self._make_engine()
                self._pid = pid
        return self._engine

    def _make_engine(self) -> Engine:
        is_sqlite = self.url.startswith("sqlite")
        if is_sqlite and self.url.startswith("sqlite:///") and ":memory:" not in self.url:
            folder = Path(self.url[len("sqlite:///"):]).parent
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = create_engine(self.url, pool_pre_ping=not is_sqlite, future=True)
        if is_sqlite:
            event.listen(engine, "connect", _sqlite_pragmas)
        _create_schema(engine)
        return engine

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
            self._engine = None

    # -- JWT replay --------------------------------------------------------------------------------

    def remember_jti(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record a token id; False when it was already seen (a replay). Kept until the token has expired."""
        key = hashlib.sha256(f"{issuer}\x00{jti}".encode("utf-8")).hexdigest()
        now = time.time()
        with self.engine.begin() as conn:
            # Insert first (takes SQLite's write lock at once, waiting under busy_timeout), then purge.
            # A key seen before is a replay, whatever its stored expiry: an expired token is refused anyway.
            new = _insert_ignoring_duplicate(conn, jwt_replay, {"key": key, "expires_at": float(expires_at)}, "key")
            self._purge_expired(conn, now)
        return new

    def _purge_expired(self, conn, now: float) -> None:
        if now < self._next_purge:
            return
        self._next_purge = now + JTI_PURGE_INTERVAL_S
        conn.execute(delete(jwt_replay).where(jwt_replay.c.expires_at < now))

    # -- explainer evidence --------------------------------------------------------------------------

    def save_explainer(self, row: ExplainerRow) -> None:
        """Insert one hook call's evidence; every few minutes the same transaction also deletes expired rows.

        On SQLite this commit does not wait for fsync (``synchronous=NORMAL``, still atomic and consistent in WAL
        mode): it is on every hook call's path, and losing the last seconds of explainer pages to a power cut costs
        a clinician a "link expired" page, not a lost record. Feedback, audit and JWT replay keep ``FULL``."""
        with self.engine.connect() as conn:
            relaxed = conn.dialect.name == "sqlite"
            if relaxed:
                conn.exec_driver_sql("PRAGMA synchronous=NORMAL")  # before the INSERT opens SQLite's transaction
                conn.commit()
            try:
                conn.execute(insert(explainer_call).values(
                    key=row.key, created_at=row.created_at, expires_at=row.expires_at, service_id=row.service_id,
                    encoding=row.encoding, payload=row.payload))
                now = time.time()
                if now >= self._next_explainer_purge:
                    self._next_explainer_purge = now + EXPLAINER_PURGE_INTERVAL_S
                    conn.execute(delete(explainer_call).where(explainer_call.c.expires_at < now))
                conn.commit()
            finally:
                if relaxed:
                    conn.rollback()  # nothing left to roll back after a commit; after a failure, the INSERT goes
                    conn.exec_driver_sql("PRAGMA synchronous=FULL")  # the pooled connection goes back as it came
                    conn.commit()

    def explainer(self, key: str) -> ExplainerRow | None:
        """The stored call with this key, expired or not (the caller tells an expired link from an unknown one)."""
        with self.engine.connect() as conn:
            found = conn.execute(select(explainer_call).where(explainer_call.c.key == key)).first()
        if found is None:
            return None
        return ExplainerRow(key=found.key, created_at=float(found.created_at), expires_at=float(found.expires_at),
                            service_id=found.service_id, encoding=found.encoding, payload=bytes(found.payload))

    def purge_explainers(self, now: float | None = None) -> int:
        """Delete every explainer row expired at ``now`` (default: the current time); returns how many."""
        cutoff = time.time() if now is None else float(now)
        with self.engine.begin() as conn:
            return int(conn.execute(delete(explainer_call).where(explainer_call.c.expires_at < cutoff)).rowcount or 0)

    # -- audit ---------------------------------------------------------------------------------------

    def record_audit(self, record: AuditRecord) -> int:
        return self.record_audits([record])[0]

    def record_audits(self, records: Sequence[AuditRecord]) -> list[int]:
        """Insert audit records in one transaction (one commit for a batch: cds_hooks/audit_writer.py)."""
        with self.engine.begin() as conn:
            return [_insert_audit(conn, record) for record in records]

    def audit_events(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(select(audit_event).order_by(audit_event.c.id))]

    def card_origin(self, card_uuid: str, *, service_id: str, issuer: str | None) -> CardOrigin | None:
        """The findings/engines behind a card uuid, from the latest audited call of this service by this issuer."""
        query = (select(audit_card.c.finding_ids, audit_card.c.engine_ids, audit_event.c.hook_instance)
                 .join(audit_event, audit_event.c.id == audit_card.c.audit_id)
                 .where(audit_card.c.card_uuid == card_uuid.lower(), audit_card.c.service_id == service_id,
                        audit_card.c.issuer == issuer)
                 .order_by(audit_card.c.id.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return CardOrigin(hook_instance=row.hook_instance, finding_ids=tuple(json.loads(row.finding_ids)),
                          engine_ids=tuple(json.loads(row.engine_ids)))

    # -- feedback ------------------------------------------------------------------------------------

    def save_feedback(self, records: Sequence[FeedbackRecord]) -> int:
        """Store feedback items in one transaction; an item stored before is skipped. Returns how many were new."""
        rows = [r.row() for r in records]
        if not rows:
            return 0
        new = 0
        # Only writes in this transaction: SQLite takes its write lock at the first one (waiting under busy_timeout)
        # instead of upgrading a read lock later, which fails at once when another writer got there first.
        with self.engine.begin() as conn:
            for row in rows:
                new += _insert_ignoring_duplicate(conn, feedback, row, "dedup_key")
        return new

    def feedback_rows(self, *, service_id: str | None = None, since: datetime | None = None) -> Iterator[dict]:
        query = select(feedback).order_by(feedback.c.id)
        if service_id:
            query = query.where(feedback.c.service_id == service_id)
        if since:
            query = query.where(feedback.c.received_at >= since)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                yield dict(row._mapping)


def _insert_audit(conn, record: AuditRecord) -> int:
    audit_id = conn.execute(insert(audit_event).values(
        recorded_at=record.recorded_at, service_id=record.service_id, hook_instance=record.hook_instance,
        issuer=record.issuer, tenant=record.tenant, status=record.status,
        latency_ms=round(record.latency_ms, 3), card_count=len(record.cards),
    )).inserted_primary_key[0]
    if record.cards:
        conn.execute(insert(audit_card), [
            {"audit_id": audit_id, "card_uuid": card.card_uuid.lower(), "service_id": record.service_id,
             "issuer": record.issuer, "finding_ids": json.dumps(list(card.finding_ids)),
             "engine_ids": json.dumps(list(card.engine_ids))}
            for card in record.cards
        ])
    return int(audit_id)


def _insert_ignoring_duplicate(conn, table: Table, row: dict, key_column: str) -> bool:
    """INSERT unless a row with the same unique key exists; True when inserted. Atomic, so safe across processes."""
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        statement = dialect_insert(table).values(**row).on_conflict_do_nothing(index_elements=[key_column])
        return conn.execute(statement).rowcount == 1
    try:  # other databases: a savepoint keeps the rest of the transaction alive after the duplicate
        with conn.begin_nested():
            conn.execute(insert(table).values(**row))
        return True
    except IntegrityError:
        return False


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; several processes share the file
        cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged commit survives power loss, not only a crash
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _create_schema(engine: Engine) -> None:
    # Several workers may start together: one creates the tables, the others may race it once.
    for attempt in range(3):
        try:
            metadata.create_all(engine, checkfirst=True)
            return
        except OperationalError:
            if attempt == 2:
                raise
            time.sleep(0.1 * (attempt + 1))


def init_app(app) -> Store:
    store = Store.from_config(app.config)
    app.extensions["cds_store"] = store
    return store


def store_of(app) -> Store:
    return app.extensions["cds_store"]
