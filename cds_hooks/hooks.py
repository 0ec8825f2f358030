"""POST /cds-services/{id}: validate, resolve prefetch, run the service, render cards."""
from __future__ import annotations

import logging
import time

from flask import Blueprint, current_app, g, jsonify, request

from cds_hooks.alert_memory import alert_memory_for
from cds_hooks.cors import HOOK_CALL_RULE, add_hook_call_headers
from cds_hooks.declaration import SERVICES
from cds_hooks.errors import CdsError
from cds_hooks.explainer import recorder_for_request
from cds_hooks.fhir_server_policy import explain_refusal, guard_fhir_server
from cds_hooks.json_codec import BodyTooDeep, decode_body
from cds_hooks.processing import process_hook
from cds_hooks.suppression import screen_for_call

log = logging.getLogger(__name__)
bp = Blueprint("hooks", __name__)

JSON_TYPES = ("application/json", "application/fhir+json")


@bp.post(HOOK_CALL_RULE)  # the CORS shortcut (cds_hooks/cors.py) matches this rule
def call_service(service_id: str):
    started = time.perf_counter()
    definition = SERVICES.get(service_id)
    if definition is None or not definition.enabled(current_app.config):
        raise CdsError(404, "No CDS service with this id; GET /cds-services lists the services.",
                       expressions=["service"])
    body = read_json_body()
    g.cds_hook_instance = body.get("hookInstance")  # for the audit record, even when the call fails
    body, refusal = guard_fhir_server(body)  # no SSRF: a fhirServer not allowed for this client is never contacted
    try:
        outcome = process_hook(definition, body, current_app.config, explainer=recorder_for_request(),
                               alerts=alert_memory_for(current_app),
                               screen_for=lambda call, findings: screen_for_call(definition.id, call, findings))
    except CdsError as err:
        raise explain_refusal(err, refusal) from None
    g.cds_outcome = outcome  # for audit/feedback linkage
    log.info("hook %s: %d cards in %.1f ms", definition.id, len(outcome.rendered), (time.perf_counter() - started) * 1000)
    return add_hook_call_headers(jsonify(outcome.response))  # flask-cors then has nothing left to do


def read_json_body():
    if request.mimetype not in JSON_TYPES:
        raise CdsError(415, "Content-Type must be application/json.")
    raw = read_body(current_app.config.get("MAX_CONTENT_LENGTH"))
    try:
        body = decode_body(raw)
    except BodyTooDeep:
        raise CdsError(400, "The request body is nested too deeply.") from None
    except ValueError:
        raise CdsError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise CdsError(400, "The request body must be a JSON object.")
    return body


READ_CHUNK_BYTES = 64 * 1024


def read_body(limit: int | None) -> bytes:
    """The request body; 413 above ``limit`` bytes, a body of exactly ``limit`` bytes passes whatever its framing.

    With a Content-Length, Flask refuses a body over the limit before reading it. A chunked body has none, and
    werkzeug's max-limited stream raises 413 on any read after the limit, so a body that ends exactly there was
    refused; here the stream (terminated by the WSGI server, as gunicorn and werkzeug do for chunked bodies) is
    read up to one byte past the limit, which tells "ends at the limit" from "goes on"."""
    environ = request.environ
    if not limit or request.content_length is not None or "wsgi.input_terminated" not in environ:
        return request.get_data(cache=False)  # no server-terminated stream: werkzeug reads nothing (safe fallback)
    stream = environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= limit:
            chunk = stream.read(min(READ_CHUNK_BYTES, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (OSError, ValueError):
        raise CdsError(400, "The request body could not be read (the client disconnected or its chunks were "
                            "malformed).") from None
    if size > limit:
        raise CdsError(413, f"The request body is larger than {limit} bytes.")
    return b"".join(chunks)
