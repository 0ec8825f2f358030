"""An order-time alert is shown once: the same problem (patient, drafted order, rule) is not alerted again between
order-select and order-sign, or on a repeated call, for ``ORDER_ALERT_TTL_S``.

CDS Hooks gives order-select and order-sign calls nothing in common but the drafts' ids, so the alerts shown are
remembered in the service's database (cds_hooks/store.py, table ``order_alert``), where every gunicorn worker and
every process sees them. A key is the SHA-256 of the FHIR server, the patient id, the draft's ``Type/id``, the engine
and the rule: no patient data is stored. When the database cannot be written the alert is shown (a repeated alert is
a nuisance, a missing one a hazard).
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
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

    def first_time(self, keys: Sequence[str]) -> set[str]:
        return self.store.first_alerts(keys, self.ttl_s)


def alert_memory_for(app) -> AlertMemory:
    from cds_hooks.store import store_of

    return AlertMemory(store_of(app), float(app.config["ORDER_ALERT_TTL_S"]))


def alert_key(call: HookCall, finding: Finding, details: OrderCheckDetails) -> str:
    parts = (call.request.get("fhirServer") or "", call.patient_id or "", details.draft, finding.engine_id,
             details.rule)
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def first_alerts(call: HookCall, findings: list[Finding]) -> list[Finding]:
    """``findings`` without the order-time alerts already shown for the same draft (all of them without memory)."""
    memory = call.alerts
    keyed = {id(f): alert_key(call, f, f.details) for f in findings if isinstance(f.details, OrderCheckDetails)}
    if memory is None or not keyed:
        return findings
    try:
        new = memory.first_time(list(keyed.values()))
    except Exception as exc:  # noqa: BLE001 - without the memory every alert is shown
        log.error("order alerts not remembered (%s); all shown", type(exc).__name__)
        return findings
    shown = [f for f in findings if id(f) not in keyed or keyed[id(f)] in new]
    if len(shown) < len(findings):
        log.info("service %s: %d alert(s) already shown for these drafts", call.service.id, len(findings) - len(shown))
    return shown
