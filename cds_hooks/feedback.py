"""POST /cds-services/{id}/feedback (CDS Hooks 2.0.1, "Feedback"): what the clinician did with our cards.

The body is checked against the feedback schema (card uuid; outcome accepted|overridden; acceptedSuggestions
required for accepted and only there; overrideReason with reason and/or userComment only for overridden;
outcomeTimestamp an RFC 3339 date-time) → 400 OperationOutcome naming each fault. Every item is then linked to
the findings and engines that produced the card (through the audit record of the hook call that rendered that
card uuid, for the same service and issuer) and stored in one transaction, committed before the 200. Posting the
same item again stores nothing new (idempotent), so a client may safely retry after a lost answer.
"""
from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from cds_hooks import audit
from cds_hooks.auth import current_client
from cds_hooks.declaration import SERVICES
from cds_hooks.errors import CdsError, issue
from cds_hooks.hooks import read_json_body
from cds_hooks.processing import fhirpath
from cds_hooks.store import FeedbackRecord, store_of
from cds_hooks.validation import validate_feedback

log = logging.getLogger(__name__)
bp = Blueprint("feedback", __name__)


@bp.post("/cds-services/<service_id>/feedback")
def receive_feedback(service_id: str):
    definition = SERVICES.get(service_id)
    if definition is None or not definition.enabled(current_app.config):
        raise CdsError(404, "No CDS service with this id; GET /cds-services lists the services.",
                       expressions=["service"])
    body = read_json_body()
    problems = [(p.pointer, p.message) for p in validate_feedback(body)]
    if not problems:
        problems = timestamp_problems(body["feedback"])
    if problems:
        raise CdsError(400, "The feedback is not valid CDS Hooks 2.0.1 feedback.",
                       issues=[issue(400, message, fhirpath(pointer)) for pointer, message in problems])

    store = store_of(current_app)
    identity = current_client()
    issuer = identity.issuer if identity else None
    tenant = identity.tenant if identity else None
    keep_comments = bool(current_app.config.get("FEEDBACK_KEEP_COMMENTS"))
    try:
        audit.flush(current_app)  # this process's queued audit records first, so a card just rendered is found
        # One look-up per distinct card: a client may send many items about the same card.
        origins = {card: store.card_origin(card, service_id=definition.id, issuer=issuer)
                   for card in {item["card"].lower() for item in body["feedback"]}}
        records = [FeedbackRecord(service_id=definition.id, issuer=issuer, tenant=tenant, item=item,
                                  origin=origins[item["card"].lower()], keep_comment=keep_comments)
                   for item in body["feedback"]]
        new = store.save_feedback(records)
    except SQLAlchemyError as exc:
        log.error("feedback for %s not stored (%s)", definition.id, type(exc).__name__)
        raise CdsError(503, "The feedback could not be stored; nothing was recorded, please retry.") from None
    linked = sum(1 for r in records if r.origin is not None)
    log.info("feedback %s: %d items, %d new, %d linked to a rendered card", definition.id, len(records), new, linked)
    return jsonify({})


def timestamp_problems(items: list[dict]) -> list[tuple[str, str]]:
    """The schema checks the RFC 3339 shape; this catches dates that do not exist (2026-02-30)."""
    problems = []
    for index, item in enumerate(items):
        if not parses_as_rfc3339(item["outcomeTimestamp"]):
            problems.append((f"/feedback/{index}/outcomeTimestamp", "must be a date-time that exists"))
    return problems


def parses_as_rfc3339(text: str) -> bool:
    normalised = text.upper().replace("Z", "+00:00")
    # RFC 3339 allows a leap second (':60'); Python does not, and the day is what must exist.
    if normalised[17:19] == "60":
        normalised = normalised[:17] + "59" + normalised[19:]
    try:
        datetime.fromisoformat(normalised)
    except ValueError:
        return False
    return True
