"""The CDS services. Each module declares its services with ``@service``; ``load_all`` imports them once."""
from __future__ import annotations

import functools
import importlib

SERVICE_MODULES = ("cds_hooks.services.cardiovascular",)


@functools.cache
def load_all() -> None:
    import engine.calculators  # noqa: F401 - registers the calculators the services name
    from fhir_adapter.parse import warm_up

    for name in SERVICE_MODULES:
        importlib.import_module(name)
    # Build the FHIR validators now, so the first hook call does not pay ~100 ms for it.
    warm_up()
