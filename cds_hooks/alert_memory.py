"""An order-time alert is shown once: the same problem (patient, drafted order, rule) is not alerted again between
order-select and order-sign, or on a repeated call, for ``ORDER_ALERT_TTL_S``.

CDS Hooks gives order-select and order-sign calls nothing in common but the drafts' ids, so the alerts shown are
remembered in the service's database (cds_hooks/store.py, table ``order_alert``), where every gunicorn worker and
every process sees them. An alert is remembered once its card is in a valid response, not when it is found: one
left out by the card limit (``MAX_CARDS``) or lost with a failed call is shown on the next call. A key is the
SHA-256 of the FHIR server, the patient id, the drafts' ``Type/id`` (the draft, and for a problem between drafts the
other drafts too, sorted), the engine and the rule: no patient data is stored. When the database cannot be written
the alert is shown (a repeated alert is a nuisance, a missing one a hazard).
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.finding import Finding
from engine.order_checks.common import OrderCheckDetails

if TYPE_CHECKING:
    from cds_hooks.declaration import HookCall
    from cds_hooks.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertMemory:
    store: Store
    ttl_s: float

    def already_shown(self, keys: Sequence[str]) -> set[str]:
        return self.store.shown_alerts(keys)

    def remember(self, keys: Sequence[str]) -> None:
        self.store.first_alerts(keys, self.ttl_s)


def alert_memory_for(app) -> AlertMemory:
    from cds_hooks.store import store_of

    return AlertMemory(store_of(app), float(app.config["ORDER_ALERT_TTL_S"]))


def alert_key(call: HookCall, finding: Finding, details: OrderCheckDetails) -> str:
    # A problem between drafts (an interaction, a duplicate) is keyed by all its drafts, sorted: order-select may
    # report it from one draft and order-sign from the other.
    parts = (call.request.get("fhirServer") or "", call.patient_id or "", "\x01".join(details.drafts),
             finding.engine_id, details.rule)
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def first_alerts(call: HookCall, findings: list[Finding]) -> list[Finding]:
    """``findings`` without the order-time alerts already shown for the same draft (all of them without memory).

    Nothing is recorded here: the keys of the alerts kept wait on the call until the response is made, and only the
    alerts that reach a card sent are remembered (remember_sent_alerts), so an alert left out by the card limit or
    lost with a failed response is shown on the next call."""
    memory = call.alerts
    keyed = {id(f): alert_key(call, f, f.details) for f in findings if isinstance(f.details, OrderCheckDetails)}
    if memory is None or not keyed:
        return findings
    try:
        seen = memory.already_shown(list(keyed.values()))
    except Exception as exc:  # noqa: BLE001 - without the memory every alert is shown
        log.error("order alerts not remembered (%s); all shown", type(exc).__name__)
        return findings
    shown = [f for f in findings if id(f) not in keyed or keyed[id(f)] not in seen]
    for finding in shown:
        if id(finding) in keyed:
            call.alert_keys.setdefault(finding.id, []).append(keyed[id(finding)])
    if len(shown) < len(findings):
        log.info("service %s: %d alert(s) already shown for these drafts", call.service.id, len(findings) - len(shown))
    return shown


def remember_sent_alerts(call: HookCall, finding_ids_sent: Iterable[str]) -> None:
    """Remember the order-time alerts of the cards sent (a failure is logged: the alerts will be shown again)."""
    if call.alerts is None or not call.alert_keys:
        return
    keys = [key for finding_id in dict.fromkeys(finding_ids_sent) for key in call.alert_keys.get(finding_id, ())]
    if not keys:
        return
    try:
        call.alerts.remember(keys)
    except Exception as exc:  # noqa: BLE001 - a repeated alert is a nuisance, a failed response a hazard
        log.error("order alerts not remembered (%s); they will be shown again", type(exc).__name__)
