"""POST /cds-services/{id}/feedback (CDS Hooks 2.0.1, "Feedback"): what the clinician did with our cards.

The body is checked against the feedback schema (card uuid; outcome accepted|overridden; acceptedSuggestions
required for accepted and only there; overrideReason with reason and/or userComment only for overridden;
outcomeTimestamp an RFC 3339 date-time) → 400 OperationOutcome naming each fault.

Feedback is bound to what was shown: every card uuid must be a card this service issued to the same client (issuer
and tenant) within ``FEEDBACK_CARD_WINDOW_S`` - else 404 naming each unknown card - and every accepted suggestion
must be one of that card's - else 400. Either way nothing of the request is stored. The patient is the issued
card's (its pseudonymous key), never anything in the body.

At most ``FEEDBACK_MAX_ITEMS`` (100) items per POST - 413 above it, before anything else is read.

Each item is linked to the findings and engines behind its card and stored, with what it hides for that patient
(cds_hooks.suppression.policy), in one transaction committed before the 200. An item is known by what it says - the
card (uuid in any case), the outcome, the override reason and comment, the accepted suggestions - not by its
``outcomeTimestamp``: posting it again, in the same request or later, with another timestamp or an upper-case uuid,
stores nothing new (idempotent), so a client may safely retry after a lost answer. A card keeps at most one active
suppression per reason (and accepted suggestion). A uuid this client was issued for more than one patient (only
cards issued before card uuids named the patient) is stored and reported, and hides nothing.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime

from flask import Blueprint, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from cds_hooks import audit
from cds_hooks.auth import current_client
from cds_hooks.declaration import SERVICES
from cds_hooks.errors import CdsError, issue
from cds_hooks.hooks import read_json_body
from cds_hooks.processing import fhirpath
from cds_hooks.store import FeedbackRecord, IssuedCard, store_of
from cds_hooks.suppression import memory_of
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
    memory = memory_of(current_app)
    refuse_too_many(body, memory.max_items)
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
    items = body["feedback"]
    now = memory.clock()
    def issued_now() -> dict[str, IssuedCard]:
        return store.issued_cards([item["card"] for item in items], service_id=definition.id, issuer=issuer,
                                  tenant=tenant, since=now - memory.window_s)

    try:
        audit.flush(current_app)  # this process's queued audit records first, so a card just rendered is found
        issued = issued_now()
        if any(item["card"].lower() not in issued for item in items):
            # Another worker's writer commits the cards it issued within AUDIT_FLUSH_INTERVAL_S: look once more
            # after that, so feedback sent at once on a card rendered elsewhere is not refused.
            time.sleep(min(1.0, 2 * float(current_app.config["AUDIT_FLUSH_INTERVAL_S"]) + 0.02))
            issued = issued_now()
    except SQLAlchemyError as exc:
        log.error("issued cards not read for feedback on %s (%s)", definition.id, type(exc).__name__)
        raise CdsError(503, "The feedback could not be checked; nothing was recorded, please retry.") from None
    refuse_unbound(items, issued)

    records: dict[str, FeedbackRecord] = {}
    suppressions = []
    for item in items:
        card = issued[item["card"].lower()]
        record = FeedbackRecord(service_id=definition.id, issuer=issuer, tenant=tenant, item=item,
                                origin=card.origin, keep_comment=keep_comments)
        if record.dedup_key in records:
            continue  # the same answer twice in one request: once is enough
        records[record.dedup_key] = record
        if card.ambiguous:
            log.warning("feedback %s: a card uuid issued for more than one patient hides nothing", definition.id)
        suppressions += memory.policy.suppressions_for(item, card, dedup_key=record.dedup_key, now=now)
    try:
        new = store.save_feedback(list(records.values()), suppressions)
    except SQLAlchemyError as exc:
        log.error("feedback for %s not stored (%s)", definition.id, type(exc).__name__)
        raise CdsError(503, "The feedback could not be stored; nothing was recorded, please retry.") from None
    log.info("feedback %s: %d items, %d new, %d suppressions", definition.id, len(items), new, len(suppressions))
    return jsonify({})


def refuse_too_many(body: dict, limit: int) -> None:
    """413 for a request with more than ``limit`` feedback items: checked before the schema, so that a flood of
    items costs one count, not their validation and look-up."""
    items = body.get("feedback")
    if isinstance(items, list) and len(items) > limit:
        raise CdsError(413, f"A feedback request may carry at most {limit} items; this one has {len(items)}. Nothing "
                            "was recorded: send them in smaller requests.", expressions=["feedback"])


def refuse_unbound(items: list[dict], issued: dict[str, IssuedCard]) -> None:
    """404 when an item names a card not issued to this client (recently), 400 when it accepts a suggestion the
    card did not offer: a client can only give feedback on what it was shown."""
    unknown = [issue(404, "No card with this uuid was issued by this service to this client within the feedback "
                          "window.", f"feedback[{index}].card")
               for index, item in enumerate(items) if item["card"].lower() not in issued]
    if unknown:
        raise CdsError(404, "Feedback names cards this service did not issue to this client; nothing was recorded.",
                       issues=unknown)
    foreign = []
    for index, item in enumerate(items):
        offered = issued[item["card"].lower()].suggestions
        for number, accepted in enumerate(item.get("acceptedSuggestions") or ()):
            if str(accepted["id"]).lower() not in offered:
                foreign.append(issue(400, "This suggestion is not one the card offered.",
                                     f"feedback[{index}].acceptedSuggestions[{number}].id"))
    if foreign:
        raise CdsError(400, "Feedback accepts suggestions the card did not offer; nothing was recorded.",
                       issues=foreign)


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
