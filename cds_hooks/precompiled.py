"""The few statements on every hook call's path, run on the DBAPI connection of the engine's pool.

SQLAlchemy's own work around one execution (parameters, execution context, result object, transaction object) costs
some 40-60 us of CPU; the driver running the same statement, a few. ``PrecompiledStatement`` keeps the statement a
SQLAlchemy Core one - one definition, the tables the source of truth - and compiles it once per dialect into its SQL
text and parameter order. ``pooled_transaction`` and ``pooled_read`` run such statements on a cursor of a connection
from the engine's own pool (so pre-ping, connect-time settings such as SQLite's ``synchronous`` and the store's
per-process engines still apply), commit or roll back as ``engine.begin()`` would, and raise a DBAPI error as
SQLAlchemy raises it (a ``DBAPIError`` subclass): callers that treat a ``SQLAlchemyError`` as "the store is
unavailable" keep doing so. One difference: when the database went away, only the connection that saw it is
invalidated, where SQLAlchemy would invalidate the whole pool; the pool's other connections are found out when next
checked out (pre-ping, which the store's engines use on PostgreSQL; a SQLite file has no server to lose).

Only what SQLAlchemy would hand the driver unchanged but for a type's own conversion may take this path: parameters
and columns of the types below (their bind and result processors are applied as SQLAlchemy applies them), no Python
column default, no expanding ``IN``, no value inside the statement. Anything else (a ``DateTime``, an expanding
``IN``...) is refused with an error when first compiled, which is at its first execution, not handed to SQLAlchemy:
the caller must keep such a statement on SQLAlchemy. tests/store/test_precompiled.py compiles each of the store's
statements for both drivers, so that a refused one fails the tests rather than a request.

SQLAlchemy runs the same statements instead on a driver this was not tested with (only pysqlite and psycopg 3 are),
and on an engine with connection or dialect event listeners (instrumentation, a test watching the statements), which a
cursor of the driver would bypass.
"""
from __future__ import annotations

import weakref
from collections import namedtuple
from typing import Any, Mapping, Sequence

from sqlalchemy import Engine, Float, Integer, LargeBinary, String
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

DIRECT_TYPES = (Float, Integer, LargeBinary, String)  # plain values: any processor of theirs works value by value
DIRECT_DRIVERS = frozenset({("sqlite", "pysqlite"), ("postgresql", "psycopg")})
_UNSET = object()


class PrecompiledStatement:
    """A Core statement, compiled once per dialect. ``column_keys``: for an INSERT, the columns given values (the
    others are left to the database)."""

    def __init__(self, statement: ClauseElement, *, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = None if column_keys is None else list(column_keys)
        self._compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # per dialect object (per engine)

    def compiled(self, dialect: Dialect) -> "CompiledSql":
        found = self._compiled.get(dialect)
        if found is None:  # two threads may both compile: the same result, harmless
            found = self._compiled[dialect] = CompiledSql(self.statement, dialect, self.column_keys)
        return found


class CompiledSql:
    """What the driver is given: ``sql`` in the dialect's paramstyle, and the parameters made from named values."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, column_keys: list[str] | None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("expanding or literal-execute parameters are compiled at each execution")
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            raise ValueError("a column default evaluated in Python needs SQLAlchemy's execution")
        processors = {}
        for name, bind in compiled.binds.items():
            if not bind.required:
                raise ValueError(f"parameter {name!r} has a value in the statement; give values at execution")
            processors[name] = _direct_type(bind.type, name).dialect_impl(dialect).bind_processor(dialect)
        self.sql: str = compiled.string
        self.positional: bool = compiled.positional
        names = compiled.positiontup if self.positional else compiled.binds
        self.binds: tuple = tuple((name, processors[name]) for name in names)  # in the order of the placeholders
        columns = list(getattr(statement, "exported_columns", ()))
        self.column_types = tuple(_direct_type(column.type, column.key).dialect_impl(dialect) for column in columns)
        self.row_type = namedtuple("Row", [column.key for column in columns], rename=True) if columns else None
        self._dialect = dialect
        # Result processors may depend on the type the database reports (psycopg: which numeric), so they are made at
        # the first result: the same SQL always reports the same types.
        self._result_processors: Any = _UNSET

    def parameters(self, values: Mapping[str, Any]):
        made = [(values[name] if processor is None else processor(values[name])) for name, processor in self.binds]
        if self.positional:
            return tuple(made)
        return {name: value for (name, _), value in zip(self.binds, made)}

    def rows(self, cursor, fetched: list) -> list:
        processors = self._result_processors
        if processors is _UNSET:
            made = [impl.result_processor(self._dialect, described[1])
                    for impl, described in zip(self.column_types, cursor.description)]
            processors = self._result_processors = tuple(made) if any(made) else None
        row_type = self.row_type
        if processors is None:
            return [row_type(*row) for row in fetched]
        return [row_type(*[value if p is None else p(value) for p, value in zip(processors, row)]) for row in fetched]


def _direct_type(type_, name: str):
    if not isinstance(type_, DIRECT_TYPES):
        raise TypeError(f"{name!r} is a {type(type_).__name__}: keep this statement with SQLAlchemy")
    return type_


def runs_direct(engine: Engine) -> bool:
    """Whether statements on this engine go to the driver's cursor: a tested driver and no execution listener."""
    dialect = engine.dialect
    if (dialect.name, dialect.driver) not in DIRECT_DRIVERS:
        return False
    # SQLAlchemy's own flags: set by a listener of any connection event (execute, begin, commit...) and of any dialect
    # event (handle_error...). Read with a default of "listened": if they were ever gone, SQLAlchemy runs everything.
    return not (getattr(engine, "_has_events", True) or getattr(dialect, "_has_events", True))


class _Pooled:
    """One connection of the engine's pool for a ``with`` block. ``commit``: commit when the block ends without an
    error (as ``engine.begin()``); else only give the connection back (as ``engine.connect()`` for a read: the pool's
    reset rolls back). An error in the block rolls back; a DBAPI error comes out as SQLAlchemy's."""

    __slots__ = ("_engine", "_commit", "_raw", "_manager", "_sqlalchemy", "_dialect")

    def __init__(self, engine: Engine, *, commit: bool) -> None:
        self._engine = engine
        self._commit = commit
        self._dialect = engine.dialect
        self._raw = None
        self._manager = None  # SQLAlchemy's context manager and connection, when not direct
        self._sqlalchemy = None

    def __enter__(self) -> "_Pooled":
        engine = self._engine
        if not runs_direct(engine):
            self._manager = engine.begin() if self._commit else engine.connect()
            self._sqlalchemy = self._manager.__enter__()
            return self
        try:
            self._raw = engine.raw_connection()
        except Exception as exc:
            self._raise(exc, None, None)
        return self

    def __exit__(self, kind, error, trace) -> bool:
        if self._manager is not None:
            manager, self._manager, self._sqlalchemy = self._manager, None, None
            return bool(manager.__exit__(kind, error, trace))
        raw, self._raw = self._raw, None
        try:
            if kind is not None:
                self._roll_back(raw)
            elif self._commit:
                try:
                    raw.commit()
                except Exception as exc:
                    self._roll_back(raw)
                    self._raise(exc, None, None, raw)
        finally:
            raw.close()  # back to the pool; an invalidated connection is discarded
        return False

    def _roll_back(self, raw) -> None:
        if not raw.is_valid:
            return
        try:
            raw.rollback()
        except Exception as exc:  # noqa: BLE001 - the block's own error is the one raised; a dead connection is dropped
            self._translated(exc, None, None, raw)

    # -- running statements -------------------------------------------------------------------------------------------
    def all(self, statement: PrecompiledStatement, values: Mapping[str, Any]) -> list:
        if self._sqlalchemy is not None:
            return self._sqlalchemy.execute(statement.statement, dict(values)).all()
        compiled, cursor = self._execute(statement, values)
        try:
            return compiled.rows(cursor, cursor.fetchall())
        except Exception as exc:
            self._raise(exc, compiled.sql, values, self._raw, cursor)
        finally:
            cursor.close()

    def first(self, statement: PrecompiledStatement, values: Mapping[str, Any]):
        """The first row returned, or None (the others are discarded)."""
        if self._sqlalchemy is not None:
            return self._sqlalchemy.execute(statement.statement, dict(values)).first()
        compiled, cursor = self._execute(statement, values)
        try:
            row = cursor.fetchone()
            return None if row is None else compiled.rows(cursor, [row])[0]
        except Exception as exc:
            self._raise(exc, compiled.sql, values, self._raw, cursor)
        finally:
            cursor.close()

    def run(self, statement: PrecompiledStatement, values: Mapping[str, Any]) -> None:
        if self._sqlalchemy is not None:
            self._sqlalchemy.execute(statement.statement, dict(values))
            return
        _, cursor = self._execute(statement, values)
        cursor.close()

    def _execute(self, statement: PrecompiledStatement, values: Mapping[str, Any]):
        compiled = statement.compiled(self._dialect)
        raw = self._raw
        cursor = None
        try:
            cursor = raw.cursor()
            cursor.execute(compiled.sql, compiled.parameters(values))
        except Exception as exc:
            if cursor is not None:
                cursor.close()
            self._raise(exc, compiled.sql, values, raw, cursor)
        return compiled, cursor

    # -- errors -------------------------------------------------------------------------------------------------------
    def _raise(self, exc: Exception, sql: str | None, values, raw=None, cursor=None):
        translated = self._translated(exc, sql, values, raw, cursor)
        if translated is None:
            raise exc
        raise translated from exc

    def _translated(self, exc: Exception, sql: str | None, values, raw=None, cursor=None) -> DBAPIError | None:
        """A DBAPI error as SQLAlchemy raises it; None for any other exception. When the database went away, this
        connection is invalidated (closed; the pool opens a new one in its place), and only this one: SQLAlchemy would
        invalidate the whole pool; here the others are found out at their next checkout (pre-ping, on PostgreSQL)."""
        dialect = self._dialect
        dbapi_error = dialect.loaded_dbapi.Error
        if not isinstance(exc, dbapi_error):
            return None
        disconnect = bool(dialect.is_disconnect(exc, raw, cursor))
        if disconnect and raw is not None and raw.is_valid:
            raw.invalidate(exc)
        return DBAPIError.instance(sql, None if values is None else dict(values), exc, dbapi_error,
                                   hide_parameters=self._engine.hide_parameters, connection_invalidated=disconnect,
                                   dialect=dialect)


def pooled_transaction(engine: Engine) -> _Pooled:
    """``with pooled_transaction(engine) as db:`` - the block's statements in one transaction, committed at its end."""
    return _Pooled(engine, commit=True)


def pooled_read(engine: Engine) -> _Pooled:
    """``with pooled_read(engine) as db:`` - reads; nothing is committed."""
    return _Pooled(engine, commit=False)
