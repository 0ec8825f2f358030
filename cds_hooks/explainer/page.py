"""``GET /explain/<token>``: the evidence behind one card, rendered on the server.

Authorised by the token alone (a clinician's browser follows the card link; it holds no client JWT). What a token
reaches is one stored hook call: the card's findings in full, links to the other cards of the same call and the
call's not-applicable results. Answers: 200 the page; 404 a token that is forged, unknown or not ours; 410 a genuine
token past its lifetime; 503 when the database cannot be read. Refusals are a few words of HTML and nothing about
the patient. Every answer is ``no-store``, sends no referrer (the token is in the URL) and runs no script.

The page also says what feedback hides for this patient: the cards (and suggestions) left out of this call, and -
read when the page is opened - whether the card itself has been hidden since (cds_hooks.suppression).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, current_app, render_template, url_for
from sqlalchemy.exc import SQLAlchemyError

from cards.render import format_value
from cds_hooks.explainer.evidence import decode
from cds_hooks.explainer.plots import points_from_history, series_svg
from cds_hooks.explainer.tokens import ExpiredToken, ExplainerClaims, ExplainerTokens, InvalidToken

log = logging.getLogger(__name__)
bp = Blueprint("explainer", __name__)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    # Nothing but inline styles and inline SVG: no script, no request to any origin, no framing, no form posts.
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

REFUSALS = {
    404: ("Explanation not found",
          "This link is not valid. Open the patient's chart again in the EHR to get a new link."),
    410: ("Explanation expired",
          "This explanation is no longer kept. Open the patient's chart again in the EHR to get a new link."),
    503: ("Explanation unavailable", "The explanation cannot be read right now. Try again in a moment."),
}

# What a finding's thresholds and its explanation are, by kind: a treatment finding's thresholds are the rows of its
# recommendation table (a pharmacogenomic finding marks the row that applies ▶), its explanation the steps that led
# to the result.
_THRESHOLDS_LABELS = {"diagnosis": "Thresholds", "treatment": "Recommendation table"}
_EXPLANATION_LABELS = {"treatment": "How the result was reached"}

STATUS_LABELS = {
    "computed": "Result",
    "insufficient-data": "Not computed: data needed",
    "not-applicable": "Not applicable",
    "error": "Not available",
}


@bp.after_request
def _security_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


@bp.get("/explain/<token>")
def explain(token: str):
    explainer = current_app.extensions.get("cds_explainer")
    if explainer is None:
        return refusal(404)
    tokens: ExplainerTokens = explainer.tokens
    try:
        claims = tokens.verify(token)
    except ExpiredToken:
        log.info("explainer link refused: expired")
        return refusal(410)
    except InvalidToken:
        log.info("explainer link refused: not a valid token")
        return refusal(404)
    try:
        row = explainer.store.explainer(claims.call_key)
    except SQLAlchemyError as exc:
        log.error("explainer store unavailable (%s)", type(exc).__name__)
        return refusal(503)
    if row is None:
        log.info("explainer link refused: no stored call (purged or another database)")
        return refusal(404)
    if row.expires_at < tokens.now():
        return refusal(410)
    try:
        document = decode(row.encoding, row.payload)
        view = page_view(document, claims, tokens)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        log.error("explainer row unreadable (%s)", type(exc).__name__)
        return refusal(404)
    if view is None:
        return refusal(404)
    view["hidden_now"] = hidden_now(explainer.store, document, claims.slot, view["findings"], tokens.now())
    return Response(render_template("explainer/page.html", **view), status=200, mimetype="text/html")


def refusal(status: int) -> Response:
    title, message = REFUSALS[status]
    html = render_template("explainer/refusal.html", title=title, message=message, status=status)
    return Response(html, status=status, mimetype="text/html")


# -- the view: everything the template shows, formatted --------------------------------------------------------------

def page_view(document: dict, claims: ExplainerClaims, tokens: ExplainerTokens) -> dict | None:
    findings: list[dict] = document["findings"]
    slots: list[list[int]] = document["slots"]
    if claims.slot >= len(slots):
        return None
    focus = [findings[i] for i in slots[claims.slot]]
    history: dict = document.get("history") or {}
    focus_ids = {f["id"] for f in focus}
    not_applicable = [f for f in findings if f["status"] == "not-applicable" and f["id"] not in focus_ids]
    others = []
    for number, slot in enumerate(slots):
        members = [findings[i] for i in slot]
        if number == claims.slot or not members or all(m["status"] == "not-applicable" for m in members):
            continue  # not-applicable results are listed in full in their own section
        token = tokens.sign(ExplainerClaims(claims.call_key, number, claims.issued_at))
        others.append({"url": url_for("explainer.explain", token=token),
                       "title": "; ".join(result_line(m) for m in members)})
    service = document.get("service") or {}
    return {
        "service_title": service.get("title") or service.get("id") or "Precision CDS",
        "as_of": document.get("as_of"),
        "answered_at": _utc(document.get("answered_at")),
        "expires_at": _utc((document.get("answered_at") or 0) + tokens.ttl_s),
        "findings": [finding_view(f, history, position) for position, f in enumerate(focus)],
        "others": others,
        "not_applicable": [finding_view(f, {}, 1000 + n) for n, f in enumerate(not_applicable)],
        "hidden": [hidden_view(h, claims, tokens, len(slots)) for h in document.get("hidden") or []],
    }


def hidden_view(hidden: dict, claims: ExplainerClaims, tokens: ExplainerTokens, slot_count: int) -> dict:
    slot = hidden.get("slot")
    url = None
    if isinstance(slot, int) and 0 <= slot < slot_count and slot != claims.slot:
        url = url_for("explainer.explain", token=tokens.sign(ExplainerClaims(claims.call_key, slot, claims.issued_at)))
    return {"title": hidden.get("title") or "", "url": url, "suggestions": hidden.get("suggestions") or [],
            "produced": slot is not None,
            **suppression_words(hidden.get("reason_code"), hidden.get("reason"), hidden.get("since"),
                                hidden.get("until"))}


def suppression_words(code: Any, reason: Any, since: Any, until: Any) -> dict:
    """Why and until when, in the words the page uses."""
    accepted = code == "accepted"
    return {
        "why": (f"Suggestion accepted on {_day(since)}" if accepted
                else f"Overridden on {_day(since)}: {reason or code}"),
        "until": (f"until {_day(until)}" if until is not None else "until its inputs change (no time limit)")
                 + (", or until the record shows it done" if accepted else ""),
    }


def hidden_now(store, document: dict, slot: int, findings: list[dict], now: float) -> list[dict]:
    """The suppressions of this page's card that hold now (made after the call, when the clinician answered it)."""
    from cds_hooks.suppression.identity import suggestion_key

    keys = document.get("slot_keys") or []
    key = keys[slot] if slot < len(keys) else None
    if not key:
        return []
    try:
        suppressions = store.suppressions_of_cards([key])
    except SQLAlchemyError as exc:
        log.error("suppressions not read for the explainer page (%s)", type(exc).__name__)
        return []
    labels = {suggestion_key(a["label"]): a["label"] for f in findings for a in f["actions"]}
    answered_at = document.get("answered_s", document.get("answered_at")) or 0  # both written by evidence.capture
    out = []
    for s in suppressions:
        if s.lifted_at is not None or (s.until_at is not None and s.until_at <= now) or s.created_at < answered_at:
            continue  # over, or made before the call (then the call's own "Hidden for this patient" lists it)
        suggestion = labels.get(s.suggestion_key) if s.suggestion_key else None
        if s.suggestion_key and suggestion is None:
            continue  # a suggestion this page does not show
        out.append({"suggestion": suggestion, **suppression_words(s.reason_code, s.reason_display, s.created_at,
                                                                  s.until_at)})
    return out


def finding_view(finding: dict, history: dict, position: int) -> dict:
    citation = finding.get("citation") or {}
    doi = citation.get("doi")
    inputs = finding.get("inputs") or []
    return {
        "anchor": f"finding-{position}",
        "title": finding.get("title") or finding.get("id"),
        "status": finding.get("status"),
        "status_label": STATUS_LABELS.get(finding.get("status"), finding.get("status")),
        "severity": finding.get("severity") or "info",
        "result": result_text(finding),
        "category": finding.get("category"),
        "message": finding.get("message"),
        "measures": [{"label": m["label"], "value": format_value(m.get("value"), m.get("unit")),
                      "category": m.get("category")} for m in finding.get("measures") or []],
        "thresholds": finding.get("thresholds") or [],
        "thresholds_label": _THRESHOLDS_LABELS.get(finding.get("kind"), "Categories"),
        "explanation_label": _EXPLANATION_LABELS.get(finding.get("kind"), "Criteria and the results that meet them"),
        "inputs": [input_row(e) for e in inputs],
        "plots": input_plots(inputs, history, position),
        "missing": finding.get("missing") or [],
        "input_problems": finding.get("input_problems") or [],
        "assumptions": finding.get("assumptions") or [],
        "method": finding.get("method"),
        "explanation": [{"label": t["label"], "value": plain_number(t.get("value")),
                         "contribution": contribution_text(t.get("contribution"))}
                        for t in finding.get("explanation") or []],
        "has_contributions": any(t.get("contribution") is not None for t in finding.get("explanation") or []),
        "actions": [a for a in finding.get("actions") or [] if a.get("label")],
        "recommendation": recommendation_view(finding.get("recommendation")),
        "quote": finding.get("quote"),
        "mentions": finding.get("mentions") or [],
        "citation": {"short": citation.get("short"), "full": citation.get("full"), "url": _http(citation.get("url")),
                     "doi": doi, "doi_url": f"https://doi.org/{doi}" if doi else None},
        "engine": f"{finding.get('engine_id')} v{finding.get('engine_version')}",
    }


def recommendation_view(recommendation: Any) -> dict | None:
    """The guideline's recommendation with its grading and, when it has its own, its full citation."""
    if not isinstance(recommendation, dict) or not recommendation.get("text"):
        return None
    citation = recommendation.get("citation") or {}
    doi = citation.get("doi")
    return {"text": recommendation["text"], "guideline": recommendation.get("guideline"),
            "strength": recommendation.get("strength"), "citation_full": citation.get("full") or citation.get("short"),
            "citation_url": _http(citation.get("url")), "doi": doi,
            "doi_url": f"https://doi.org/{doi}" if doi else None}


def contribution_text(value: Any) -> str | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return "0.000" if abs(value) < 0.0005 else f"{value:+.3f}"  # never "-0.000"


def result_text(finding: dict) -> str | None:
    if finding.get("status") != "computed" or finding.get("value") is None:
        return None
    return format_value(finding["value"], finding.get("unit"), finding.get("decimals"), finding.get("cut_points"))


def result_line(finding: dict) -> str:
    text = finding.get("title") or finding.get("id") or ""
    result = result_text(finding)
    if result:
        text += f": {result}" + (f" ({finding['category']})" if finding.get("category") else "")
    elif finding.get("status") in STATUS_LABELS and finding.get("status") != "computed":
        text += f": {STATUS_LABELS[finding['status']].lower()}"
    return text


def input_row(evidence: dict) -> dict:
    derived = evidence.get("derived_from") or []
    return {
        "label": evidence.get("label") or evidence.get("name"),
        "value": plain_number(evidence.get("value")),
        "unit": evidence.get("unit") or "",
        "date": (evidence.get("effective") or "")[:10],
        "source": evidence.get("source") or "",
        "note": evidence.get("note") or "",
        "derived_from": ", ".join(
            f"{d.get('label')} {plain_number(d.get('value'))}{' ' + d['unit'] if d.get('unit') else ''}"
            for d in derived),
    }


def input_plots(inputs: list[dict], history: dict, position: int) -> list[dict]:
    plots = []
    seen: set[str] = set()
    for number, evidence in enumerate(inputs):
        name = evidence.get("name")
        if not name or name in seen:
            continue
        seen.add(name)
        rows = history.get(name) or []
        # Demographics (age from the Patient resource) are not measurements over time: a plot would say nothing.
        if all(not isinstance(r[3], str) or r[3].startswith("Patient/") for r in rows if len(r) >= 4):
            continue
        points = points_from_history(rows, evidence.get("effective"), evidence.get("source"))
        if not points:
            continue
        label = evidence.get("label") or name
        unit = evidence.get("unit")
        plots.append({
            "label": label,
            "unit": unit or "",
            "svg": series_svg(points, unit=unit, label=f"{label} over time", salt=f"plot-{position}-{number}"),
            "points": [{"date": p.when.date().isoformat(), "value": plain_number(p.value), "used": p.used}
                       for p in reversed(points)],
        })
    return plots


def plain_number(value: Any) -> str:
    """Values as a table shows them: no '-0', no float noise, booleans in words."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:
            return "—"
        value = value + 0.0
        if abs(value) >= 1000 or value.is_integer():
            return f"{value:.0f}"
        shown = f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"
        shown = shown.rstrip("0").rstrip(".")
        return "0" if shown in ("-0", "") else shown
    return "" if value is None else str(value)


def _day(epoch: Any) -> str:
    if not isinstance(epoch, (int, float)) or isinstance(epoch, bool):
        return "?"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d")


def _utc(epoch: Any) -> str | None:
    if not isinstance(epoch, (int, float)) or isinstance(epoch, bool):
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _http(url: Any) -> str | None:
    """Only http(s) links go on the page (a stored javascript: URL would be a script by another name)."""
    return url if isinstance(url, str) and url.lower().startswith(("https://", "http://")) else None
