"""The CDS services. Each module declares its services with ``@service``; ``load_all`` imports them once."""
from __future__ import annotations

import importlib

SERVICE_MODULES = ("cds_hooks.services.cardiovascular",)


def load_all() -> None:
    import engine.calculators  # noqa: F401 - registers the calculators the services name

    for name in SERVICE_MODULES:
        importlib.import_module(name)
