"""The CDS services. Each module declares its services with ``@service``; ``load_all`` imports them once."""
from __future__ import annotations

import functools
import importlib

SERVICE_MODULES = (
    "cds_hooks.services.cardiovascular",
    "cds_hooks.services.risk_scores",
    "cds_hooks.services.diagnosis_gaps",
    "cds_hooks.services.acute_scores",
    "cds_hooks.services.clinical_notes",
    "cds_hooks.services.model_demo",
)


@functools.cache
def load_all() -> None:
    import engine.calculators  # noqa: F401 - registers the calculators the services name
    from fhir_adapter.parse import warm_up

    for name in SERVICE_MODULES:
        importlib.import_module(name)
    # Build the FHIR validators now, so the first hook call does not pay ~100 ms for it.
    warm_up()


def warm_models() -> None:
    """Load the note matcher's encoder and embed the knowledge base, if the models extra is installed."""
    import logging

    from cds_hooks.services.clinical_notes import note_matcher

    try:
        note_matcher()
        from engine.models.qa import warm_up

        warm_up()
    except Exception as exc:  # noqa: BLE001 - a missing model must not stop the other services
        logging.getLogger(__name__).warning("models not warmed (%s); notes fall back to lexical rules", type(exc).__name__)
