"""Where the service's log lines go when the process running it has not said.

Under plain ``gunicorn 'cds_hooks.wsgi:app'`` (or ``precision-cds serve``) nothing configures Python logging:
gunicorn gives handlers to its own loggers only, so the service's records reached Python's last-resort handler,
which prints WARNING and above, and the INFO lines docs/security.md describes (one per hook call, per feedback post)
never appeared. ``configure_logging`` sets ``LOG_LEVEL`` on the ``cds_hooks`` loggers and, only when the root logger
has no handler at all, gives it one (stderr, gunicorn's format plus the logger name) and sets the same level on the
other packages of the service. A process that configured logging itself (``gunicorn --log-config`` or
``--log-config-dict``, an embedding application, pytest) keeps its handlers and its levels for everything else.

What is logged is decided where it is logged, not here: no token, JWT or patient data (tests/security/test_logs.py).
"""
from __future__ import annotations

import logging

OWN_LOGGER = "cds_hooks"
OTHER_SERVICE_LOGGERS = ("fhir_adapter", "engine", "cards")
LOG_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"


def configure_logging(level: str | int) -> logging.Handler | None:
    """Returns the handler added to the root logger, or None when logging was configured already."""
    level = level.upper() if isinstance(level, str) else level
    logging.getLogger(OWN_LOGGER).setLevel(level)
    root = logging.getLogger()
    if root.handlers:
        return None
    for name in OTHER_SERVICE_LOGGERS:
        logging.getLogger(name).setLevel(level)
    handler = logging.StreamHandler()  # stderr, where gunicorn writes its own error log
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)  # the root logger's own level (WARNING) still holds for other libraries' records
    return handler
