"""Durable storage: feedback, the audit trail of hook calls, the JWT replay (``jti``) store, the evidence behind
the explainer pages of recent hook calls, the cards issued (what feedback may name) and the suppressions feedback
creates (docs/feedback.md).

SQLAlchemy 2.x Core, so any SQLAlchemy URL works (``CDS_DATABASE_URL``, e.g. PostgreSQL in production); by
default a SQLite file under ``CDS_DATA_DIR``. SQLite runs in WAL mode with a busy timeout and
``synchronous=FULL`` so that several gunicorn workers and threads can write at once and a committed row survives
a crash of the process (and of the machine). Three writes on every call's path that may lose their last seconds to a
power cut (JWT ids seen, explainer evidence, order-time alerts shown) go through a second engine on the same file whose
connections run ``synchronous=NORMAL`` (``Store.relaxed_engine``): no fsync per commit, still atomic and consistent
in WAL mode, and a commit survives a crash of the process; on any other database it is the same engine. Every write
commits before the caller answers the HTTP request, except the audit records, which cds_hooks/audit_writer.py commits
in batches just after.

The statements of the hook path are built once, at import, with bind parameters (after the tables below): building a
SQLAlchemy statement per call cost more CPU than running it. The ones on every hook call's path (the JWT replay insert,
the active suppressions, the explainer insert) are also compiled once per database and run on the driver's cursor of a
pooled connection (cds_hooks/precompiled.py): SQLAlchemy's own work around an execution cost more than the database.

Nothing stored here is patient data - card and hook-instance uuids, finding and engine ids, issuers, outcomes; the
only free text is a clinician's override comment, kept only when ``FEEDBACK_KEEP_COMMENTS`` is on - except the
``explainer_call`` table: the findings of one hook call with their evidence (values, dates, source references), kept
only for the explainer link lifetime (``EXPLAINER_TTL_S``) and purged after it (docs/explainer.md). ``issued_card``
and ``card_suppression`` name the patient only by a pseudonymous key (SHA-256 of issuer, tenant and patient id) and
keep no value or word from the record (the card's inputs are kept as a fingerprint hash, its title is its engines'
declared title). Card uuids are derived from the hook instance, the patient id and the finding (cards/render.py):
like the patient key, an unkeyed hash.

The tables here are the schema the code expects; the database gets it from the Alembic revisions in
``cds_hooks/migrations/versions`` (docs/database.md), applied when a process first opens the database (or with
``precision-cds db upgrade``). A change to a table here needs a new revision (``precision-cds db revision``); a test
checks that the revisions build exactly these tables on SQLite and PostgreSQL.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from sqlalchemy import (Boolean, Column, DateTime, Engine, Float, ForeignKey, Integer, LargeBinary, MetaData, String,
                        Table, Text, bindparam, create_engine, delete, event, func, insert, select, update)
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cds_hooks import migrations
from cds_hooks.precompiled import PrecompiledStatement, pooled_read, pooled_transaction

log = logging.getLogger(__name__)

SQLITE_FILE_NAME = "precision-cds.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 15_000  # writers queue behind each other; a burst of workers must wait, not fail
JTI_PURGE_INTERVAL_S = 300.0
ORDER_ALERT_PURGE_INTERVAL_S = 300.0
EXPLAINER_PURGE_INTERVAL_S = 300.0
ISSUED_PURGE_INTERVAL_S = 300.0
INPUTS_CHANGED = "inputs-changed"  # why a suppression was lifted: the card came back with other contents
NO_LONGER_OFFERED = "no-longer-offered"  # an accepted suggestion the card no longer offers (the record shows it done)

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
    # sha256 of (service, issuer, tenant, what the item says - FeedbackRecord.dedup_key: card uuid lower-cased, outcome,
    # reason, comment, accepted suggestions; not the timestamp): the same answer posted twice is one row.
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


# Every card a hook call answered with, as shown: what feedback may name (cds_hooks/feedback.py) and what a suppression
# is made from. Kept ``FEEDBACK_CARD_WINDOW_S``: feedback for an older card is refused. ``card_key`` is the card's
# identity across calls for this patient (cds_hooks/suppression/identity.py); ``fingerprint`` hashes what makes it
# this card (status, severity, category, inputs): a suppression holds while the fingerprint stays the same.
issued_card = Table(
    "issued_card", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_uuid", String(64), nullable=False, index=True),
    Column("issued_at", Float, nullable=False, index=True),  # epoch seconds
    Column("service_id", String(200), nullable=False),
    Column("issuer", String(512)),
    Column("tenant", String(256)),
    Column("hook_instance", String(64)),
    Column("card_key", String(64), nullable=False),
    Column("patient_key", String(64)),  # NULL when the hook named no patient: nothing can be suppressed then
    Column("indicator", String(16), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    # What the card is about, in its engines' declared titles ("Drug interactions of the drafted drug"): constants of
    # the code, never the finding's own title, which may name the record ("Ibuprofen with warfarin").
    Column("title", String(300)),
    Column("finding_ids", Text, nullable=False),  # JSON array
    Column("engine_ids", Text, nullable=False),  # JSON array
    Column("suggestions", Text, nullable=False),  # JSON object: suggestion uuid -> suggestion key (hash of its label)
    Column("override_codes", Text, nullable=False),  # JSON array: the overrideReasons codes the card offered
)

# What feedback hides, per patient: one row per feedback item (or per accepted suggestion), at most one active per
# card, reason and suggestion (Store.save_feedback). ``key`` is derived from the feedback item's dedup key (what the
# item says, not its timestamp), so a re-posted item adds nothing. Active while ``lifted_at`` is NULL and
# ``until_at`` (NULL: no time limit) has not passed; lifted when the card comes back changed ("inputs-changed") or
# without the accepted suggestion ("no-longer-offered").
card_suppression = Table(
    "card_suppression", metadata,
    Column("key", String(64), primary_key=True),
    Column("card_key", String(64), nullable=False, index=True),
    Column("patient_key", String(64), nullable=False, index=True),
    Column("service_id", String(200), nullable=False),
    Column("suggestion_key", String(64)),  # NULL: the whole card is hidden; else only this suggestion
    Column("reason_code", String(64), nullable=False),  # an override reason code, or "accepted"
    Column("reason_display", String(200)),
    Column("fingerprint", String(64), nullable=False),  # of the card the feedback was about
    Column("title", String(300)),  # the issued card's: its engines' declared titles, no word from the record
    Column("card_uuid", String(64), nullable=False),
    Column("finding_ids", Text, nullable=False),  # JSON array (the report counts suppressions per rule)
    Column("created_at", Float, nullable=False),
    Column("until_at", Float),
    Column("lifted_at", Float),
    Column("lifted_because", String(32)),
)


@dataclass(frozen=True)
class IssuedCard:
    """One card as it was sent: its identity across calls and what may be said about it in feedback."""

    card_uuid: str
    card_key: str
    patient_key: str | None
    indicator: str
    fingerprint: str
    title: str | None
    finding_ids: tuple[str, ...]
    engine_ids: tuple[str, ...]
    suggestions: Mapping[str, str]  # suggestion uuid -> suggestion key
    override_codes: tuple[str, ...]
    service_id: str
    issuer: str | None
    tenant: str | None
    hook_instance: str | None
    issued_at: float
    # Not stored: set by Store.issued_cards when this uuid was issued for more than one patient (cards issued before
    # card uuids were derived from the patient too, by an EHR that reuses hook instances). Feedback on such a card
    # cannot say whose card it was: it is stored and reported, and hides nothing.
    ambiguous: bool = False

    def row(self) -> dict[str, Any]:
        return {"card_uuid": self.card_uuid.lower(), "issued_at": self.issued_at, "service_id": self.service_id,
                "issuer": self.issuer, "tenant": self.tenant, "hook_instance": self.hook_instance,
                "card_key": self.card_key, "patient_key": self.patient_key, "indicator": self.indicator,
                "fingerprint": self.fingerprint, "title": self.title,
                "finding_ids": json.dumps(list(self.finding_ids)), "engine_ids": json.dumps(list(self.engine_ids)),
                "suggestions": json.dumps(dict(self.suggestions), sort_keys=True),
                "override_codes": json.dumps(list(self.override_codes))}

    @classmethod
    def from_row(cls, row) -> "IssuedCard":
        return cls(card_uuid=row.card_uuid, card_key=row.card_key, patient_key=row.patient_key,
                   indicator=row.indicator, fingerprint=row.fingerprint, title=row.title,
                   finding_ids=tuple(json.loads(row.finding_ids)), engine_ids=tuple(json.loads(row.engine_ids)),
                   suggestions=json.loads(row.suggestions), override_codes=tuple(json.loads(row.override_codes)),
                   service_id=row.service_id, issuer=row.issuer, tenant=row.tenant, hook_instance=row.hook_instance,
                   issued_at=float(row.issued_at))

    @property
    def origin(self) -> "CardOrigin":
        return CardOrigin(hook_instance=self.hook_instance, finding_ids=self.finding_ids, engine_ids=self.engine_ids)


@dataclass(frozen=True)
class Suppression:
    key: str
    card_key: str
    patient_key: str
    service_id: str
    suggestion_key: str | None
    reason_code: str
    reason_display: str | None
    fingerprint: str
    title: str | None
    card_uuid: str
    finding_ids: tuple[str, ...]
    created_at: float
    until_at: float | None
    lifted_at: float | None = None
    lifted_because: str | None = None

    def row(self) -> dict[str, Any]:
        return {"key": self.key, "card_key": self.card_key, "patient_key": self.patient_key,
                "service_id": self.service_id, "suggestion_key": self.suggestion_key,
                "reason_code": self.reason_code, "reason_display": self.reason_display,
                "fingerprint": self.fingerprint, "title": self.title, "card_uuid": self.card_uuid.lower(),
                "finding_ids": json.dumps(list(self.finding_ids)), "created_at": self.created_at,
                "until_at": self.until_at, "lifted_at": self.lifted_at, "lifted_because": self.lifted_because}

    @classmethod
    def from_row(cls, row) -> "Suppression":
        return cls(key=row.key, card_key=row.card_key, patient_key=row.patient_key, service_id=row.service_id,
                   suggestion_key=row.suggestion_key, reason_code=row.reason_code,
                   reason_display=row.reason_display, fingerprint=row.fingerprint, title=row.title,
                   card_uuid=row.card_uuid, finding_ids=tuple(json.loads(row.finding_ids)),
                   created_at=float(row.created_at), until_at=None if row.until_at is None else float(row.until_at),
                   lifted_at=None if row.lifted_at is None else float(row.lifted_at),
                   lifted_because=row.lifted_because)


# Order-time alerts already shown (cds_hooks/alert_memory.py): sha256 of (server, patient, draft, rule), no patient data.
order_alert = Table(
    "order_alert", metadata,
    Column("key", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)


# -- the statements of the hook path, built once: the values come as bind parameters at execution ---------------------

_PURGE_JTIS = PrecompiledStatement(delete(jwt_replay).where(jwt_replay.c.expires_at < bindparam("now")))

_SHOWN_ALERTS = select(order_alert.c.key).where(order_alert.c.key.in_(bindparam("keys", expanding=True)),
                                                order_alert.c.expires_at >= bindparam("now"))
_DELETE_RUN_OUT_ALERTS = delete(order_alert).where(order_alert.c.key.in_(bindparam("keys", expanding=True)),
                                                   order_alert.c.expires_at < bindparam("now"))
_PURGE_ALERTS = delete(order_alert).where(order_alert.c.expires_at < bindparam("now"))

_INSERT_EXPLAINER = PrecompiledStatement(insert(explainer_call), column_keys=[c.key for c in explainer_call.c])
_PURGE_EXPLAINERS = PrecompiledStatement(
    delete(explainer_call).where(explainer_call.c.expires_at < bindparam("now")))

# sort_by_parameter_order: the ids come back in the order of the records, whatever the database returns them in.
_INSERT_AUDIT_EVENTS = insert(audit_event).returning(audit_event.c.id, sort_by_parameter_order=True)
_INSERT_AUDIT_CARDS = insert(audit_card)
_INSERT_ISSUED_CARDS = insert(issued_card)

_ACTIVE_SUPPRESSIONS = PrecompiledStatement(
    select(card_suppression)
    .where(card_suppression.c.patient_key == bindparam("patient_key"),
           card_suppression.c.service_id == bindparam("service_id"), card_suppression.c.lifted_at.is_(None),
           card_suppression.c.until_at.is_(None) | (card_suppression.c.until_at > bindparam("now")))
    .order_by(card_suppression.c.created_at))


def _issued_card_statement(*, issuer_is_null: bool, tenant_is_null: bool) -> PrecompiledStatement:
    """The issues of one card uuid to one client. A client without an issuer (dev mode) or tenant is matched with
    ``IS NULL``, as SQLAlchemy writes ``column == None``: a bound NULL would match nothing."""
    c = issued_card.c
    return PrecompiledStatement(
        select(issued_card)
        .where(c.card_uuid == bindparam("card_uuid"), c.service_id == bindparam("service_id"),
               c.issuer.is_(None) if issuer_is_null else c.issuer == bindparam("issuer"),
               c.tenant.is_(None) if tenant_is_null else c.tenant == bindparam("tenant"))
        .order_by(c.id))


_ISSUED_CARD = _issued_card_statement(issuer_is_null=False, tenant_is_null=False)
_ISSUED_CARD_NO_TENANT = _issued_card_statement(issuer_is_null=False, tenant_is_null=True)
_ISSUED_CARD_NO_ISSUER = _issued_card_statement(issuer_is_null=True, tenant_is_null=False)
_ISSUED_CARD_NO_ISSUER_NO_TENANT = _issued_card_statement(issuer_is_null=True, tenant_is_null=True)
_ISSUED_CARD_BY_NULLS = {(False, False): _ISSUED_CARD, (False, True): _ISSUED_CARD_NO_TENANT,
                         (True, False): _ISSUED_CARD_NO_ISSUER, (True, True): _ISSUED_CARD_NO_ISSUER_NO_TENANT}


@functools.cache
def _insert_if_new(table: Table, key_column: str, dialect: str):
    """``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING key`` on SQLite and PostgreSQL (None elsewhere); the row
    comes as parameters. Cached: a handful of tables, two dialects."""
    module = {"sqlite": sqlite_dialect, "postgresql": postgresql_dialect}.get(dialect)
    if module is None:
        return None
    return (module.insert(table).on_conflict_do_nothing(index_elements=[key_column])
            .returning(table.c[key_column]))


@functools.cache
def _precompiled_insert_if_new(table: Table, key_column: str, dialect: str) -> PrecompiledStatement | None:
    statement = _insert_if_new(table, key_column, dialect)
    return None if statement is None else PrecompiledStatement(statement)


class StoreUnavailable(SQLAlchemyError):
    """The database could not be opened for a reason outside SQLAlchemy: its folder cannot be created (a file in its
    place, no permission, a read-only or full disk). A SQLAlchemyError, so every caller that treats a database failure
    as one (503 for authentication and feedback, logged for audit and explainer) treats this one the same way."""


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
    issued: tuple[IssuedCard, ...] = ()  # written in the same transaction (one commit per hook call)


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
        """What the item says, not how it was sent: the card (uuid lower-cased), the outcome, the override reason's
        coding and comment, the accepted suggestions (lower-cased, in any order) - not ``outcomeTimestamp``, not a
        display text. The same answer posted again with another timestamp is the same row."""
        item = self.item
        reason = item.get("overrideReason") or {}
        coding = reason.get("reason") or {}
        meaning = [self.service_id, self.issuer, self.tenant, str(item.get("card", "")).lower(), item.get("outcome"),
                   coding.get("system"), coding.get("code"), reason.get("userComment"),
                   sorted({str(s.get("id", "")).lower() for s in item.get("acceptedSuggestions") or ()})]
        canonical = json.dumps(["feedback-meaning", 2, meaning], separators=(",", ":"), ensure_ascii=True)
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
            "received_at": utc(self.received_at),
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


def utc(moment: datetime) -> datetime:
    """Every datetime written to or compared in the database: aware, in UTC. A naive one is taken as UTC (SQLite hands
    stored ones back naive; the CLI's --since is UTC). An aware one in another zone is converted: SQLite stores the
    wall time it is given, and PostgreSQL would read a naive one in the server's time zone."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def sqlite_url(data_dir: str | os.PathLike) -> str:
    return f"sqlite:///{Path(data_dir).expanduser().resolve() / SQLITE_FILE_NAME}"


def database_url(config: Mapping[str, Any]) -> str:
    return config.get("DATABASE_URL") or sqlite_url(config.get("DATA_DIR") or "./var")


class Store:
    """All persistence behind one object. Thread-safe; fork-safe (new engines per process, made on first use)."""

    def __init__(self, url: str, *, auto_upgrade: bool = True, replay_fsync: bool = False) -> None:
        self.url = url
        self.auto_upgrade = auto_upgrade  # False: refuse a database behind the code instead of upgrading it
        self.replay_fsync = replay_fsync  # True: the JWT ids seen commit with an fsync too (SQLite's FULL engine)
        self._lock = threading.Lock()
        self._engines: tuple[Engine, Engine] | None = None  # (engine, relaxed_engine), of the process _pid
        self._pid: int | None = None
        self._next_purge = 0.0
        self._next_explainer_purge = 0.0
        self._next_issued_purge = 0.0
        self._next_alert_purge = 0.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Store":
        return cls(database_url(config), auto_upgrade=bool(config.get("DATABASE_AUTO_UPGRADE", True)),
                   replay_fsync=bool(config.get("JWT_REPLAY_FSYNC", False)))

    # -- connection ---------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The database, schema at head; on SQLite every connection commits with ``synchronous=FULL``."""
        return self._open()[0]

    @property
    def relaxed_engine(self) -> Engine:
        """For the writes that may lose their last seconds to a power cut: on a SQLite file, a second engine (a pool
        of its own) whose connections run ``synchronous=NORMAL``, so that a commit does not wait for fsync; on any
        other database (PostgreSQL, in-memory SQLite) the same engine as ``engine``."""
        return self._open()[1]

    def _open(self) -> tuple[Engine, Engine]:
        pid = os.getpid()
        engines = self._engines
        if engines is not None and self._pid == pid:
            return engines
        with self._lock:
            if self._engines is None or self._pid != pid:
                if self._engines is not None:
                    # Inherited over fork: leave the parent's connections to the parent.
                    for inherited in set(self._engines):
                        inherited.dispose(close=False)
                    self._engines = None
                try:
                    engine = self._make_engine()
                    try:
                        relaxed = self.bare_engine(synchronous="NORMAL") if self._separate_relaxed(engine) else engine
                    except BaseException:
                        engine.dispose()  # its connections closed now: the next use makes both engines anew
                        raise
                except OSError as exc:
                    raise StoreUnavailable(f"the database cannot be opened ({type(exc).__name__})") from exc
                self._engines = (engine, relaxed)
                self._pid = pid
            return self._engines

    @staticmethod
    def _separate_relaxed(engine: Engine) -> bool:
        url = engine.url
        return (url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
                and url.query.get("mode") != "memory")

    def bare_engine(self, *, synchronous: str = "FULL") -> Engine:
        """An engine on the database without the schema step (``precision-cds db`` does that itself).
        ``synchronous``: the SQLite setting of its connections (nothing elsewhere)."""
        is_sqlite = self.url.startswith("sqlite")
        if is_sqlite and self.url.startswith("sqlite:///") and ":memory:" not in self.url:
            folder = Path(self.url[len("sqlite:///"):]).parent
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = create_engine(self.url, pool_pre_ping=not is_sqlite, future=True)
        if is_sqlite:
            event.listen(engine, "connect", _sqlite_pragmas(synchronous))
        return engine

    def _make_engine(self) -> Engine:
        engine = self.bare_engine()
        try:
            if self.auto_upgrade:
                migrations.upgrade_to_head(engine)
            else:
                migrations.require_head(engine)
        except BaseException:
            engine.dispose()  # the next use tries again with a new engine
            raise
        return engine

    def dispose(self) -> None:
        with self._lock:
            for engine in set(self._engines or ()):
                engine.dispose()
            self._engines = None

    # -- JWT replay --------------------------------------------------------------------------------

    def remember_jti(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record a token id; False when it was already seen (a replay). Kept until the token has expired.

        On SQLite the commit does not wait for fsync unless ``replay_fsync`` (the relaxed engine,
        ``synchronous=NORMAL``): it is on every authenticated request's path, where the fsync blocked the worker for
        ~8 % of its time. A crash or kill of any process keeps every id; a power cut may forget those committed since
        the write-ahead log was last synced (by the next fsync'd commit on the file - an audit batch, feedback - or a
        checkpoint), tokens accepted for at most ``JWT_MAX_LIFETIME_S`` plus twice ``JWT_LEEWAY_S`` (docs/security.md)."""
        key = hashlib.sha256(f"{issuer}\x00{jti}".encode("utf-8")).hexdigest()
        now = time.time()
        row = {"key": key, "expires_at": float(expires_at)}
        engine = self.engine if self.replay_fsync else self.relaxed_engine
        # Insert first (takes SQLite's write lock at once, waiting under busy_timeout), then purge.
        # A key seen before is a replay, whatever its stored expiry: an expired token is refused anyway.
        insert_if_new = _precompiled_insert_if_new(jwt_replay, "key", engine.dialect.name)
        if insert_if_new is None:  # a database without ON CONFLICT: the savepoint way
            with engine.begin() as conn:
                new = _insert_ignoring_duplicate(conn, jwt_replay, row, "key")
                if self._purge_due(now):
                    conn.execute(_PURGE_JTIS.statement, {"now": now})
            return new
        with pooled_transaction(engine) as db:
            new = db.first(insert_if_new, row) is not None
            if self._purge_due(now):
                db.run(_PURGE_JTIS, {"now": now})
        return new

    def _purge_due(self, now: float) -> bool:
        """Whether expired token ids are deleted in this call (every few minutes)."""
        if now < self._next_purge:
            return False
        self._next_purge = now + JTI_PURGE_INTERVAL_S
        return True

    # -- order-time alerts ---------------------------------------------------------------------------

    def shown_alerts(self, keys: Sequence[str]) -> set[str]:
        """The alert keys among ``keys`` remembered and not yet run out (a read: nothing is recorded)."""
        if not keys:
            return set()
        with self.engine.connect() as conn:
            rows = conn.execute(_SHOWN_ALERTS, {"keys": list(dict.fromkeys(keys)), "now": time.time()})
            return {row.key for row in rows}

    def first_alerts(self, keys: Sequence[str], ttl_s: float) -> set[str]:
        """Remember each alert key for ``ttl_s`` and return those not already remembered (shown for the first time).

        One transaction in the shared database, so every worker and process sees the same answer; a key whose time
        has run out counts as new again. On SQLite the commit does not wait for fsync (``synchronous=NORMAL``: the
        relaxed engine, as for the explainer): it is on the order hooks' path, and losing the last seconds to a power
        cut repeats an alert."""
        if not keys:
            return set()
        now = time.time()
        new: set[str] = set()
        unique = list(dict.fromkeys(keys))
        with self.relaxed_engine.begin() as conn:
            # A write first (SQLite takes its write lock at once, waiting under busy_timeout), then the inserts.
            conn.execute(_DELETE_RUN_OUT_ALERTS, {"keys": unique, "now": now})
            for key in unique:
                if _insert_ignoring_duplicate(conn, order_alert, {"key": key, "expires_at": now + ttl_s}, "key"):
                    new.add(key)
            if now >= self._next_alert_purge:
                self._next_alert_purge = now + ORDER_ALERT_PURGE_INTERVAL_S
                conn.execute(_PURGE_ALERTS, {"now": now})
        return new

    # -- explainer evidence --------------------------------------------------------------------------

    def save_explainer(self, row: ExplainerRow) -> None:
        """Insert one hook call's evidence; every few minutes the same transaction also deletes expired rows.

        On SQLite this commit does not wait for fsync (``synchronous=NORMAL``: the relaxed engine, still atomic and
        consistent in WAL mode): it is on every hook call's path, and losing the last seconds of explainer pages to a
        power cut costs a clinician a "link expired" page, not a lost record. Feedback, audit and suppressions keep
        ``FULL``."""
        with pooled_transaction(self.relaxed_engine) as db:
            db.run(_INSERT_EXPLAINER, {
                "key": row.key, "created_at": row.created_at, "expires_at": row.expires_at,
                "service_id": row.service_id, "encoding": row.encoding, "payload": row.payload})
            now = time.time()
            if now >= self._next_explainer_purge:
                self._next_explainer_purge = now + EXPLAINER_PURGE_INTERVAL_S
                db.run(_PURGE_EXPLAINERS, {"now": now})

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

    def record_audit(self, record: AuditRecord, *, keep_issued_s: float | None = None) -> int:
        return self.record_audits([record], keep_issued_s=keep_issued_s)[0]

    def record_audits(self, records: Sequence[AuditRecord], *, keep_issued_s: float | None = None) -> list[int]:
        """Audit records and the cards each call issued, in one transaction (one commit for a batch:
        cds_hooks/audit_writer.py). Every few minutes the same transaction deletes issued cards older than
        ``keep_issued_s`` and suppressions over for as long."""
        with self.engine.begin() as conn:
            ids = _insert_audits(conn, records)
            now = time.time()
            if keep_issued_s is not None and now >= self._next_issued_purge:
                self._next_issued_purge = now + ISSUED_PURGE_INTERVAL_S
                self._purge_issued(conn, now - float(keep_issued_s))
        return ids

    @staticmethod
    def _purge_issued(conn, cutoff: float) -> None:
        conn.execute(delete(issued_card).where(issued_card.c.issued_at < cutoff))
        over = card_suppression.c
        conn.execute(delete(card_suppression).where(
            (over.lifted_at.is_not(None) & (over.lifted_at < cutoff))
            | (over.until_at.is_not(None) & (over.until_at < cutoff))))

    # -- issued cards and suppressions -----------------------------------------------------------------------------

    def issued_cards(self, card_uuids: Sequence[str], *, service_id: str, issuer: str | None, tenant: str | None,
                     since: float) -> dict[str, IssuedCard]:
        """The cards with these uuids that this service issued to this client (issuer and tenant) at or after
        ``since``, by lower-case uuid; the latest issue of a uuid wins (an EHR may resend a hook instance). A uuid
        this client was ever issued for more than one patient (any stored issue, in the window or not) comes back
        ``ambiguous``: nobody can tell whose card the feedback is about."""
        uuids = sorted({u.lower() for u in card_uuids})
        if not uuids:
            return {}
        if len(uuids) == 1:  # the usual feedback post: one card, a statement compiled once (an IN list is not)
            statement = _ISSUED_CARD_BY_NULLS[(issuer is None, tenant is None)]
            values = {"card_uuid": uuids[0], "service_id": service_id}
            values.update({name: value for name, value in (("issuer", issuer), ("tenant", tenant))
                           if value is not None})
            with pooled_read(self.engine) as db:
                rows = db.all(statement, values)
        else:
            c = issued_card.c
            query = (select(issued_card)
                     .where(c.card_uuid.in_(uuids), c.service_id == service_id, c.issuer == issuer,
                            c.tenant == tenant)
                     .order_by(c.id))
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
        found: dict[str, IssuedCard] = {}
        patients: dict[str, set] = {}
        for row in rows:
            patients.setdefault(row.card_uuid, set()).add(row.patient_key)
            if float(row.issued_at) >= since:
                found[row.card_uuid] = IssuedCard.from_row(row)
        return {uuid: replace(card, ambiguous=True) if len(patients[uuid]) > 1 else card
                for uuid, card in found.items()}

    def active_suppressions(self, patient_key: str, *, service_id: str, now: float) -> list[Suppression]:
        with pooled_read(self.engine) as db:
            rows = db.all(_ACTIVE_SUPPRESSIONS, {"patient_key": patient_key, "service_id": service_id, "now": now})
        return [Suppression.from_row(row) for row in rows]

    def suppressions_of_cards(self, card_keys: Sequence[str]) -> list[Suppression]:
        """Every suppression of these cards, active or not, oldest first (the explainer page says which hold)."""
        keys = sorted(set(k for k in card_keys if k))
        if not keys:
            return []
        c = card_suppression.c
        query = select(card_suppression).where(c.card_key.in_(keys)).order_by(c.created_at)
        with self.engine.connect() as conn:
            return [Suppression.from_row(row) for row in conn.execute(query)]

    def lift_suppressions(self, lifted: Mapping[str, str], *, now: float) -> int:
        """End the suppressions ``{key: because}`` still active; returns how many were ended here."""
        if not lifted:
            return 0
        ended = 0
        c = card_suppression.c
        with self.engine.begin() as conn:
            for key, because in lifted.items():
                result = conn.execute(update(card_suppression)
                                      .where(c.key == key, c.lifted_at.is_(None))
                                      .values(lifted_at=now, lifted_because=because))
                ended += int(result.rowcount or 0)
        return ended

    def suppression_rows(self, *, service_id: str | None = None, since: datetime | None = None) -> Iterator[dict]:
        """Suppressions, oldest first; ``since`` (a naive datetime is UTC) filters on when they were made."""
        query = select(card_suppression).order_by(card_suppression.c.created_at)
        if service_id:
            query = query.where(card_suppression.c.service_id == service_id)
        if since is not None:
            query = query.where(card_suppression.c.created_at >= utc(since).timestamp())
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                yield dict(row._mapping)

    def audit_events(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(select(audit_event).order_by(audit_event.c.id))]
        for row in rows:
            row["recorded_at"] = utc(row["recorded_at"])
        return rows

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

    def save_feedback(self, records: Sequence[FeedbackRecord], suppressions: Sequence[Suppression] = ()) -> int:
        """Store feedback items and the suppressions they create in one transaction; an item stored before is
        skipped, and so is a suppression whose card already has an active one for the same reason (and accepted
        suggestion) made from the same card contents: at most one holds per card, reason and suggestion. Returns
        how many feedback items were new."""
        rows = list({r.dedup_key: r.row() for r in records}.values())
        if not rows:
            return 0
        new = 0
        # A write first: SQLite takes its write lock at the first one (waiting under busy_timeout) instead of
        # upgrading a read lock later, which fails at once when another writer got there first; the look-ups of
        # active suppressions below then run under that lock, so two workers cannot both add one.
        with self.engine.begin() as conn:
            for row in rows:
                new += _insert_ignoring_duplicate(conn, feedback, row, "dedup_key")
            for suppression in {s.key: s for s in suppressions}.values():
                _add_suppression(conn, suppression)
        return new

    def feedback_rows(self, *, service_id: str | None = None, since: datetime | None = None) -> Iterator[dict]:
        """Stored feedback, oldest first; ``since`` filters in the database (a naive datetime is UTC).
        ``received_at`` comes back aware, in UTC, from every database."""
        query = select(feedback).order_by(feedback.c.id)
        if service_id:
            query = query.where(feedback.c.service_id == service_id)
        if since is not None:
            query = query.where(feedback.c.received_at >= utc(since))
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                out = dict(row._mapping)
                out["received_at"] = utc(out["received_at"])
                yield out


def _add_suppression(conn, suppression: Suppression) -> bool:
    """Insert a suppression unless one is active for the same card, patient, suggestion and reason. An active one
    made from other card contents (the card changed since, and no hook call has lifted it yet) is lifted here
    ("inputs-changed") and the new one takes its place. True when inserted."""
    c = card_suppression.c
    if conn.dialect.name == "postgresql":  # READ COMMITTED: serialise the look-up and insert per card and reason
        conn.execute(select(func.pg_advisory_xact_lock(_lock_id(suppression))))
    active = conn.execute(select(c.key, c.fingerprint).where(
        c.card_key == suppression.card_key, c.patient_key == suppression.patient_key,
        c.service_id == suppression.service_id, c.suggestion_key == suppression.suggestion_key,
        c.reason_code == suppression.reason_code, c.lifted_at.is_(None),
        c.until_at.is_(None) | (c.until_at > suppression.created_at))).all()
    if any(row.fingerprint == suppression.fingerprint for row in active):
        return False
    if active:
        conn.execute(update(card_suppression).where(c.key.in_([row.key for row in active]), c.lifted_at.is_(None))
                     .values(lifted_at=suppression.created_at, lifted_because=INPUTS_CHANGED))
    return _insert_ignoring_duplicate(conn, card_suppression, suppression.row(), "key")


def _lock_id(suppression: Suppression) -> int:
    identity = "\x00".join((suppression.card_key, suppression.patient_key, suppression.service_id,
                            suppression.suggestion_key or "", suppression.reason_code))
    return int.from_bytes(hashlib.sha256(identity.encode("utf-8")).digest()[:8], "big", signed=True)


def _insert_audits(conn, records: Sequence[AuditRecord]) -> list[int]:
    """The audit events, their cards and the cards issued, one statement per table for the whole batch (each
    table's rows in the order of the records, as one insert per record would number them); the events' ids."""
    if not records:
        return []
    ids = [int(row.id) for row in conn.execute(_INSERT_AUDIT_EVENTS, [
        {"recorded_at": record.recorded_at, "service_id": record.service_id, "hook_instance": record.hook_instance,
         "issuer": record.issuer, "tenant": record.tenant, "status": record.status,
         "latency_ms": round(record.latency_ms, 3), "card_count": len(record.cards)}
        for record in records])]
    cards = [{"audit_id": audit_id, "card_uuid": card.card_uuid.lower(), "service_id": record.service_id,
              "issuer": record.issuer, "finding_ids": json.dumps(list(card.finding_ids)),
              "engine_ids": json.dumps(list(card.engine_ids))}
             for audit_id, record in zip(ids, records) for card in record.cards]
    if cards:
        conn.execute(_INSERT_AUDIT_CARDS, cards)
    issued = [card.row() for record in records for card in record.issued]
    if issued:
        conn.execute(_INSERT_ISSUED_CARDS, issued)
    return ids


def _insert_ignoring_duplicate(conn, table: Table, row: dict, key_column: str) -> bool:
    """INSERT unless a row with the same unique key exists; True when inserted. Atomic, so safe across processes.

    Whether it inserted is read from ``RETURNING`` (SQLite >= 3.35, PostgreSQL), not from the row count: SQLAlchemy 2.1
    with psycopg 3 reports -1 for an INSERT, which read as "already there" would refuse every JWT as a replay and
    never show an order-time alert."""
    statement = _insert_if_new(table, key_column, conn.dialect.name)
    if statement is not None:
        return conn.execute(statement, row).first() is not None
    try:  # other databases: a savepoint keeps the rest of the transaction alive after the duplicate
        with conn.begin_nested():
            conn.execute(insert(table).values(**row))
        return True
    except IntegrityError:
        return False


def _sqlite_pragmas(synchronous: str):
    """The "connect" listener of a SQLite engine. ``FULL``: an acknowledged commit survives power loss, not only a
    crash; ``NORMAL`` (the relaxed engine): a commit does not wait for fsync, and a power cut may lose the last ones."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")

    def set_pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; processes share the file
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return set_pragmas


def init_app(app) -> Store:
    store = Store.from_config(app.config)
    app.extensions["cds_store"] = store
    return store


def store_of(app) -> Store:
    return app.extensions["cds_store"]
