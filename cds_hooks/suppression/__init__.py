"""Cards that learn from feedback: no card a clinician has already answered comes back at the next chart opening.

* Hook time (``screen.CallScreen``, through ``cds_hooks.processing``): the patient's active suppressions are read in
  one query; answered cards are left out or trimmed before the card cap; the cards sent are recorded with their
  identity across calls (``identity``) in the audit transaction, so feedback can name them from any worker.
* Feedback time (``cds_hooks.feedback``): an item is accepted only for a card this service issued to this client
  within ``FEEDBACK_CARD_WINDOW_S``; the patient is the issued card's; ``policy.SuppressionPolicy`` decides what the
  item hides and for how long.
* Page time (``cds_hooks.explainer``): the page says what is hidden for this patient, why and until when.

Everything lives in the database (``issued_card``, ``card_suppression``), so it holds across gunicorn workers,
replicas and restarts. Settings and defaults: docs/feedback.md.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from flask import Flask, current_app

from cds_hooks.store import Store, store_of
from cds_hooks.suppression.policy import SuppressionPolicy
from cds_hooks.suppression.screen import CallScreen, HiddenCard
from engine.finding import Finding

EXTENSION = "cds_card_memory"
__all__ = ["CallScreen", "CardMemory", "HiddenCard", "SuppressionPolicy", "init_app", "memory_of", "screen_for_call"]


@dataclass
class CardMemory:
    store: Store
    policy: SuppressionPolicy
    window_s: float  # feedback names cards issued at most this long ago; issued cards are kept as long
    max_items: int = 100  # feedback items one POST may carry (FEEDBACK_MAX_ITEMS)
    clock: Callable[[], float] = field(default=time.time)  # epoch seconds (tests move it)

    def screen(self, *, service_id: str, issuer: str | None, tenant: str | None, patient_id: str | None,
               hook_instance: str | None, findings: Sequence[Finding]) -> CallScreen:
        return CallScreen(store=self.store, policy=self.policy, now=self.clock(), service_id=service_id,
                          issuer=issuer, tenant=tenant, patient_id=patient_id, hook_instance=hook_instance,
                          findings=findings)


def init_app(app: Flask) -> CardMemory:
    """A bad ``SUPPRESSION_*`` or ``FEEDBACK_MAX_ITEMS`` setting stops the start-up (ValueError), like any
    misconfiguration."""
    max_items = app.config.get("FEEDBACK_MAX_ITEMS", 100)
    if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
        raise ValueError("FEEDBACK_MAX_ITEMS must be a whole number of feedback items >= 1")
    memory = CardMemory(store=store_of(app), policy=SuppressionPolicy.from_config(app.config),
                        window_s=float(app.config["FEEDBACK_CARD_WINDOW_S"]), max_items=max_items)
    app.extensions[EXTENSION] = memory
    return memory


def memory_of(app: Flask) -> CardMemory:
    return app.extensions[EXTENSION]


def screen_for_call(service_id: str, call, findings: Sequence[Finding]) -> CallScreen:
    """The screen for the hook call being served (called by cds_hooks.processing through the HTTP layer)."""
    from cds_hooks.auth import current_client

    identity = current_client()
    return memory_of(current_app).screen(
        service_id=service_id, issuer=identity.issuer if identity else None,
        tenant=identity.tenant if identity else None, patient_id=call.patient_id,
        hook_instance=call.hook_instance, findings=findings)
