"""The audit trail written off the request path: a hook call queues its audit record, a background thread commits
the queue in batches (one transaction, one fsync, for many calls).

Durability (docs/performance.md, "Audit writes"):

* A record is committed at most ``AUDIT_FLUSH_INTERVAL_S`` after its call answered (sooner when
  ``AUDIT_BATCH_MAX`` records are waiting). SQLite runs in WAL mode with ``synchronous=FULL``
  (cds_hooks/store.py), so a committed batch survives a crash of the process and of the machine.
* A graceful stop loses nothing: gunicorn's ``worker_exit`` hook (cds_hooks/gunicorn_conf.py) and ``atexit`` commit
  what is queued, and so does the feedback endpoint before it looks a card up in the audit trail.
* A hard kill (SIGKILL, the OOM killer, power loss) loses the records of the calls answered in the last flush
  interval, never a committed one; the clinician had the cards already.
* When the database refuses (locked, down, disk full), the records stay queued and the write is retried with a
  growing pause; past ``AUDIT_QUEUE_MAX`` queued records the oldest are dropped, and the count is logged as an error.

One writer per application; fork-safe (a forked worker starts with an empty queue of its own: the records queued
before the fork belong to the parent, which writes them). The thread stops after a few idle seconds and starts again
with the next record, so idle applications (tests, the CLI) keep no thread.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections import deque
from typing import Any, Sequence

from sqlalchemy.exc import SQLAlchemyError

from cds_hooks.store import AuditRecord, Store

log = logging.getLogger(__name__)

RETRY_PAUSE_MAX_S = 5.0
IDLE_STOP_S = 5.0

_WRITERS: "weakref.WeakSet[AuditWriter]" = weakref.WeakSet()


class AuditWriter:
    def __init__(self, store: Store, *, flush_interval_s: float = 0.05, batch_max: int = 256,
                 queue_max: int = 10_000, background: bool = True, keep_issued_s: float | None = None) -> None:
        """``background``: False leaves all writing to ``flush`` (no thread; tools and tests that want to decide)."""
        self.store = store
        self.background = background
        self.keep_issued_s = keep_issued_s  # issued cards kept this long for feedback (purged with the writes)
        self.flush_interval_s = max(0.001, float(flush_interval_s))
        self.batch_max = max(1, int(batch_max))
        self.queue_max = max(self.batch_max, int(queue_max))
        self._fresh_state()
        _WRITERS.add(self)

    def _fresh_state(self) -> None:
        self._pending: deque[AuditRecord] = deque()
        self._lock = threading.Lock()  # guards the queue and the thread handle
        self._write_lock = threading.Lock()  # one batch in flight at a time, thread or flush
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.dropped = 0

    # -- the request side ------------------------------------------------------------------------------------------

    def submit(self, record: AuditRecord) -> None:
        """Queue one record; returns at once (no I/O)."""
        if self._pid != os.getpid():
            self._fresh_state()
        with self._lock:
            self._pending.append(record)
            self._drop_overflow()
            full = len(self._pending) >= self.batch_max
            starting = self._thread is None and self.background
            if starting:
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        if starting:
            self._thread.start()  # type: ignore[union-attr]
        elif full:
            self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> bool:
        """Commit every record queued so far, in the calling thread. False when the database refused (the records
        stay queued for the next attempt)."""
        with self._write_lock:
            while True:
                with self._lock:
                    if not self._pending:
                        return True
                    batch = [self._pending.popleft() for _ in range(min(len(self._pending), self.batch_max))]
                if not self._write(batch):
                    return False

    # -- the writing side ------------------------------------------------------------------------------------------

    def _write(self, batch: Sequence[AuditRecord]) -> bool:
        try:
            self.store.record_audits(batch, keep_issued_s=self.keep_issued_s)
            return True
        except (SQLAlchemyError, OSError) as exc:
            with self._lock:
                self._pending.extendleft(reversed(batch))  # back at the front, in order
                self._drop_overflow()
                queued = len(self._pending)
            log.error("audit records not written yet (%s); %d queued, will retry", type(exc).__name__, queued)
            return False

    def _drop_overflow(self) -> None:
        """Under ``_lock``: the oldest records go when the queue is full (the database has been refusing a while)."""
        overflow = len(self._pending) - self.queue_max
        if overflow > 0:
            for _ in range(overflow):
                self._pending.popleft()
            self.dropped += overflow
            log.error("audit queue full: %d audit records lost (%d in all)", overflow, self.dropped)

    def _run(self) -> None:
        pause = self.flush_interval_s
        idle = 0.0
        while True:
            self._wake.wait(pause)
            self._wake.clear()
            with self._lock:
                if not self._pending:
                    idle += pause
                    if idle >= IDLE_STOP_S:
                        self._thread = None  # the next submit starts a new one
                        return
                    continue
            idle = 0.0
            pause = self.flush_interval_s if self.flush() else min(max(pause, 0.1) * 2, RETRY_PAUSE_MAX_S)


def writer_for(app: Any) -> AuditWriter:
    """The application's writer (made by ``cds_hooks.audit.init_app``)."""
    return app.extensions["cds_audit_writer"]


def flush_all() -> None:
    """Commit what every writer of this process has queued (gunicorn's worker_exit hook, interpreter exit)."""
    for writer in list(_WRITERS):
        if writer._pid == os.getpid() and not writer.flush():
            # Nothing retries after this: say what is lost, once per writer.
            log.error("audit records lost at exit: %d (the database refused them)", len(writer._pending))


def _after_fork_in_child() -> None:
    for writer in list(_WRITERS):
        writer._fresh_state()


atexit.register(flush_all)
os.register_at_fork(after_in_child=_after_fork_in_child)
