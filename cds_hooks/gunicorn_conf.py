"""gunicorn settings for precision-cds (``precision-cds serve`` uses the same):

    gunicorn -c python:cds_hooks.gunicorn_conf 'cds_hooks.wsgi:app'

* ``preload_app``: the application - terminology, schemas, FHIR validators and, with ``CDS_WARM_MODELS``, the
  sentence encoder and torch - is built once in the master and shared copy-on-write by the workers, instead of once
  per worker (docs/performance.md has the memory figures). The heap is frozen for the garbage collector before the
  workers fork (cds_hooks/gc_tuning.py), so that collections neither walk it nor unshare its pages.
* ``worker_exit``: the audit records still queued are committed before a worker goes (cds_hooks/audit_writer.py).
* Bind address, workers, timeout and access log come from the ``CDS_*`` settings; command-line options win.
  ``CDS_PRELOAD_APP=false`` turns preloading off.
"""
from __future__ import annotations

from cds_hooks.config import load_config

_config = load_config()

bind = f"{_config.get('HOST') or '127.0.0.1'}:{_config.get('PORT') or 8080}"
workers = int(_config.get("WORKERS") or 2)
timeout = int(_config.get("WORKER_TIMEOUT_S") or 30)
# CDS_PRELOAD_APP=false: each worker builds its own application (memory x workers; for debugging start-up).
preload_app = _config.get("PRELOAD_APP", True) is not False
# gunicorn's access log would print query strings; hook URLs carry none, but it stays off unless asked for.
accesslog = _config.get("ACCESS_LOG") or None


def when_ready(server) -> None:
    """Master, after the application was preloaded and before any worker forks."""
    from cds_hooks.gc_tuning import tune_for_serving

    tune_for_serving()


def post_worker_init(worker) -> None:
    """Worker, once its application is loaded: without ``preload_app`` each worker builds and freezes its own."""
    if not worker.cfg.preload_app:
        from cds_hooks.gc_tuning import tune_for_serving

        tune_for_serving()


def worker_exit(server, worker) -> None:
    from cds_hooks.audit_writer import flush_all

    flush_all()
