"""Every error the service answers is a FHIR OperationOutcome with the right status; never a stack trace."""
from __future__ import annotations

import logging
from typing import Iterable

from flask import Flask, Response, json
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# HTTP status → OperationOutcome.issue.code (http://hl7.org/fhir/issue-type)
_ISSUE_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    412: "incomplete",
    413: "too-long",
    415: "not-supported",
    429: "throttled",
    500: "exception",
    503: "transient",
    504: "timeout",
}


class CdsError(Exception):
    """An error with an HTTP status and OperationOutcome issues. Diagnostics must never hold tokens or patient data."""

    def __init__(self, status: int, diagnostics: str, *, expressions: Iterable[str] = (), issues: list[dict] | None = None):
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
        self.expressions = tuple(expressions)
        self.issues = issues


def issue(status: int, diagnostics: str, expression: str | None = None, severity: str = "error") -> dict:
    entry = {"severity": severity, "code": _ISSUE_CODE.get(status, "processing"), "diagnostics": diagnostics}
    if expression:
        entry["expression"] = [expression]
    return entry


def operation_outcome(status: int, diagnostics: str, expressions: Iterable[str] = (), issues: list[dict] | None = None) -> dict:
    if not issues:
        exprs = list(expressions)
        issues = [issue(status, diagnostics, e) for e in exprs] if exprs else [issue(status, diagnostics)]
    return {"resourceType": "OperationOutcome", "issue": issues}


def outcome_response(status: int, diagnostics: str, expressions: Iterable[str] = (), issues: list[dict] | None = None) -> Response:
    body = json.dumps(operation_outcome(status, diagnostics, expressions, issues))
    return Response(body, status=status, mimetype="application/fhir+json")


def init_app(app: Flask) -> None:
    @app.errorhandler(CdsError)
    def _cds_error(err: CdsError):
        return outcome_response(err.status, err.diagnostics, err.expressions, err.issues)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        resp = outcome_response(err.code or 500, err.description or err.name)
        if err.code == 401:
            # A bare 401: no detail about why authentication failed (RFC 6750 still asks for the challenge).
            resp = Response(status=401, headers={"WWW-Authenticate": "Bearer"})
        elif err.code == 405 and getattr(err, "valid_methods", None):
            resp.headers["Allow"] = ", ".join(err.valid_methods)
        return resp

    @app.errorhandler(SQLAlchemyError)
    def _store_unavailable(err: SQLAlchemyError):
        # A database failure that no endpoint handled itself (cds_hooks.store.StoreUnavailable included): the request
        # may well succeed later, so 503 (retry), not a 500.
        log.error("store unavailable (%s)", type(err).__name__)
        return outcome_response(503, "The service's database is unavailable; retry later.")

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        # Type only: exception messages can quote request content.
        log.error("unhandled %s", type(err).__name__, exc_info=app.config.get("LOG_TRACEBACKS", False))
        return outcome_response(500, "Internal error while processing the request.")
