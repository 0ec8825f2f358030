"""One audit record per authenticated hook call: when, which service, hookInstance, issuer/tenant, HTTP status,
latency, and the cards answered with the findings and engines behind each (the link feedback is reported by). The
same transaction records the cards issued (``issued_card``: what feedback may name, cds_hooks/suppression).

Never patient data: no patient id (the issued cards name the patient by a pseudonymous key only), no resource, no
value, no card text. Built when the response leaves (Flask ``after_request``) and queued for the batched writer
(cds_hooks/audit_writer.py), which commits the record and the issued cards in one transaction off the request path
within ``AUDIT_FLUSH_INTERVAL_S``; what it keeps on a crash is said there. A failing audit write is retried and the
clinician still gets the cards: decision support must not go down with the audit database (feedback, by contrast, is
refused when it cannot be stored - and feedback on cards not recorded is refused).
"""
from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timezone

from flask import Flask, Response, current_app, g, request

from cds_hooks.audit_writer import AuditWriter, writer_for
from cds_hooks.declaration import SERVICES
from cds_hooks.store import AuditCard, AuditRecord, store_of

log = logging.getLogger(__name__)

HOOK_ENDPOINT = "hooks.call_service"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def init_app(app: Flask) -> None:
    """Register before the authentication hook so that latency covers authentication too."""
    app.extensions["cds_audit_writer"] = AuditWriter(
        store_of(app), flush_interval_s=float(app.config["AUDIT_FLUSH_INTERVAL_S"]),
        batch_max=int(app.config["AUDIT_BATCH_MAX"]), queue_max=int(app.config["AUDIT_QUEUE_MAX"]),
        keep_issued_s=float(app.config["FEEDBACK_CARD_WINDOW_S"]))

    @app.before_request
    def _start_clock():
        g.cds_started = time.perf_counter()

    @app.after_request
    def _audit(response: Response) -> Response:
        if request.endpoint != HOOK_ENDPOINT or request.method != "POST" or g.get("cds_client") is None:
            return response  # refused before authentication: the reason is in the log, nothing to audit
        writer_for(current_app).submit(audit_record(response.status_code))
        return response


def flush(app: Flask) -> bool:
    """Commit the audit records this process has queued (before reading the trail: feedback linkage, reports)."""
    return writer_for(app).flush()


def audit_record(status: int) -> AuditRecord:
    identity = g.get("cds_client")
    started = g.get("cds_started")
    latency_ms = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    service_id = (request.view_args or {}).get("service_id")
    outcome = g.get("cds_outcome")
    cards = tuple(AuditCard(card_uuid=str(rc.card.get("uuid")), finding_ids=tuple(rc.finding_ids),
                            engine_ids=tuple(rc.engine_ids))
                  for rc in (outcome.rendered if outcome is not None else ()) if rc.card.get("uuid"))
    hook_instance = g.get("cds_hook_instance")
    return AuditRecord(
        recorded_at=datetime.now(timezone.utc),
        service_id=service_id if SERVICES.get(service_id) is not None else None,  # never an arbitrary path string
        hook_instance=hook_instance if isinstance(hook_instance, str) and _UUID.match(hook_instance) else None,
        issuer=identity.issuer if identity else None,
        tenant=identity.tenant if identity else None,
        status=int(status),
        latency_ms=latency_ms,
        cards=cards,
        # Only a call that answered gets its cards recorded as issued (feedback may name them from then on).
        issued=tuple(outcome.issued) if outcome is not None and 200 <= int(status) < 300 else (),
    )
