"""What an explainer page shows, captured at hook time: every finding of the call with its whole evidence, and the
series of each input feature over time (from the call's FeatureSet history; the finding itself keeps only the value
it used).

The capture is plain JSON (one row per hook call, cds_hooks.store.explainer_call), so that a page can be rendered
after the call without the record, and so that it survives a change of the engine's dataclasses. Only the fields a
page shows are kept: no FHIR resources of suggested actions, no engine-internal extras.
"""
from __future__ import annotations

import json
import zlib
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import orjson

from engine.finding import Evidence, Finding, Recommendation
from engine.inputs import FeatureSet

if TYPE_CHECKING:
    from cds_hooks.suppression import HiddenCard

PAYLOAD_VERSION = 1
MAX_HISTORY_POINTS = 200  # per feature, newest first: years of results, bounded for a pathological record
COMPRESS_ABOVE_BYTES = 2048  # smaller rows are stored as they are; zlib costs more than it saves on them
ENCODING_JSON = "json"
ENCODING_ZLIB = "json+zlib"


def capture(*, service: Any, as_of: date, answered_at: float, findings: Sequence[Finding],
            slots: Sequence[Sequence[str]], features: FeatureSet | None, hidden: Sequence["HiddenCard"] = (),
            card_keys: Mapping[tuple[str, ...], str] | None = None, answered_s: float | None = None) -> dict:
    """The JSON document of one hook call: findings, the card slots (finding indices per card), input series, the
    cards hidden by feedback and each slot's card key (cds_hooks.suppression). ``answered_at``: the whole seconds the
    links are signed with; ``answered_s``: the same moment to the fraction (default ``answered_at``), which tells a
    suppression made after the call, in the same second, from one made before it."""
    findings = list(findings)
    index = {f.id: i for i, f in enumerate(findings)}
    card_slots = [[index[i] for i in ids if i in index] for ids in slots]
    covered = {i for slot in card_slots for i in slot}
    # A finding that is on no card (over the card cap, or kept off the cards) still gets a page of its own.
    card_slots += [[i] for i in range(len(findings)) if i not in covered]
    keys = card_keys or {}
    # The findings share their inputs (a rule carries the scores it read with their inputs): each evidence record is
    # made once, by id() - every evidence is held by its finding until the document is encoded.
    shared: dict[int, dict] = {}
    slot_of = {tuple(ids): n for n, ids in enumerate(slots)}
    return {
        "v": PAYLOAD_VERSION,
        "service": {"id": getattr(service, "id", None), "title": getattr(service, "title", None),
                    "hook": getattr(service, "hook", None)},
        "as_of": as_of.isoformat(),
        "answered_at": answered_at,
        "answered_s": float(answered_at if answered_s is None else answered_s),
        "findings": [finding_record(f, shared) for f in findings],
        "slots": card_slots,
        "history": input_history(findings, features),
        "slot_keys": [keys.get(tuple(ids)) for ids in slots],
        "hidden": [hidden_record(h, slot_of.get(tuple(h.finding_ids))) for h in hidden],
    }


def hidden_record(card: "HiddenCard", slot: int | None) -> dict:
    """A card (or suggestions) feedback kept off this call: what, why, since and until when (no patient data)."""
    suppression = card.suppression
    return {
        "title": card.title,
        "slot": slot,
        "suggestions": list(card.suggestions),
        "reason_code": suppression.reason_code,
        "reason": suppression.reason_display or suppression.reason_code,
        "since": suppression.created_at,
        "until": suppression.until_at,
    }


def finding_record(finding: Finding, shared: dict[int, dict] | None = None) -> dict:
    # The finding's collections are mostly empty: a comprehension is run only over one that is not (in Python 3.11
    # each comprehension is a call of its own, and a record has eight of them). "Empty" is the empty tuple, their
    # default, and not any falsy value: a None still goes through its comprehension and raises TypeError, as it did.
    citation = finding.citation
    mentions = getattr(finding, "mentions", ())
    return {
        "id": finding.id,
        "engine_id": finding.engine_id,
        "engine_version": finding.engine_version,
        "kind": _enum(finding.kind),
        "status": _enum(finding.status),
        "severity": _enum(finding.severity),
        "title": finding.title,
        "value": _plain(finding.value),
        "unit": finding.unit,
        "decimals": finding.decimals,
        "cut_points": list(finding.cut_points),
        "category": finding.category,
        "message": finding.message,
        "method": finding.method,
        "thresholds": list(finding.thresholds),
        "assumptions": list(finding.assumptions),
        "citation": {"short": citation.short, "full": citation.full, "url": citation.url, "doi": citation.doi},
        "inputs": [evidence_record(e, shared) for e in finding.inputs] if finding.inputs != () else [],
        "missing": [{"name": m.name, "label": m.label, "reason": m.reason} for m in finding.missing]
        if finding.missing != () else [],
        "input_problems": [{"source": p.source, "name": p.name, "reason": p.reason} for p in finding.input_problems]
        if finding.input_problems != () else [],
        "explanation": [{"label": t.label, "value": _plain(t.value), "contribution": t.contribution}
                        for t in finding.explanation] if finding.explanation != () else [],
        "measures": [{"label": m.label, "value": _plain(m.value), "unit": m.unit, "category": m.category}
                     for m in finding.measures] if finding.measures != () else [],
        "actions": suggested_actions(finding),
        "recommendation": recommendation_record(finding.recommendation),
        "quote": getattr(finding, "quote", None),
        "mentions": [{"source": getattr(m, "source", None), "date": _iso(getattr(m, "date", None)),
                      "sentence": getattr(m, "sentence", None), "assertion": getattr(m, "assertion", None)}
                     for m in mentions] if mentions != () else [],
    }


def recommendation_record(recommendation: Recommendation | None) -> dict | None:
    if recommendation is None:
        return None
    citation = recommendation.citation
    return {"text": recommendation.text, "guideline": recommendation.guideline, "strength": recommendation.strength,
            "citation": None if citation is None else {"short": citation.short, "full": citation.full,
                                                       "url": citation.url, "doi": citation.doi}}


def suggested_actions(finding: Finding) -> list[dict]:
    """What the card offers, in words (label and what each action does); the FHIR resources stay on the card."""
    out = []
    for suggestion in getattr(finding, "suggestions", ()) or getattr(finding, "actions", ()):
        proposals = getattr(suggestion, "proposals", None) or (suggestion,)
        described = [getattr(p, "description", None) or getattr(p, "reason", None) for p in proposals]
        out.append({"label": str(getattr(suggestion, "label", "") or ""),
                    "description": "; ".join(str(d) for d in described if d)})
    return out


def evidence_record(evidence: Evidence, shared: dict[int, dict] | None = None) -> dict:
    """The evidence as the page shows it; with ``shared`` (records by id() of their evidence), an evidence already
    recorded gives the same record (objects alive while ``shared`` is used: no id is reused)."""
    if shared is not None and (known := shared.get(id(evidence))) is not None:
        return known
    value = evidence.value
    effective = evidence.effective
    derived = evidence.derived_from
    record = {
        "name": evidence.name,
        "label": evidence.label,
        "value": value if type(value) in _AS_THEY_ARE else _plain(value),  # most inputs: a number, kept as it is
        "unit": evidence.unit,
        "effective": None if effective is None else _iso(effective),
        "source": evidence.source,
        "note": evidence.note,
        "derived_from": [evidence_record(d, shared) for d in derived] if derived != () else [],  # as in finding_record
    }
    if shared is not None:
        shared[id(evidence)] = record
    return record


def input_history(findings: Iterable[Finding], features: FeatureSet | None) -> dict[str, list[list]]:
    """Per input feature of any finding: ``[value, unit, effective, source]`` points, newest first."""
    if features is None:
        return {}
    out: dict[str, list[list]] = {}
    for finding in findings:
        for evidence in finding.inputs:
            if evidence.name in out:
                continue
            series = features.series(evidence.name)[:MAX_HISTORY_POINTS]
            out[evidence.name] = [_history_point(p) for p in series]
    return out


def _history_point(point: Evidence) -> list:
    """``[_plain(value), unit, _iso(effective), source]``, with the usual value (a float or an int) and date (a
    datetime or a date) taken as they are: hundreds of points per call."""
    value, effective = point.value, point.effective
    value_type, effective_type = type(value), type(effective)
    return [value if value_type is float or value_type is int else _plain(value), point.unit,
            effective.isoformat() if effective_type is datetime or effective_type is date else _iso(effective),
            point.source]


def encode(document: dict) -> tuple[str, bytes]:
    try:  # orjson: several times faster on the hook path; dates and other objects as str() as before
        raw = orjson.dumps(document, default=str, option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits
        raw = json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")
    if len(raw) > COMPRESS_ABOVE_BYTES:
        return ENCODING_ZLIB, zlib.compress(raw, 1)  # level 1: most of the saving for a fraction of the time
    return ENCODING_JSON, raw


def decode(encoding: str, payload: bytes) -> dict:
    """The stored document; ValueError when the row cannot be read (an unknown encoding, corrupt bytes)."""
    try:
        if encoding == ENCODING_ZLIB:
            payload = zlib.decompress(payload)
        elif encoding != ENCODING_JSON:
            raise ValueError(f"unknown explainer payload encoding {encoding!r}")
        document = json.loads(payload.decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("unreadable explainer payload") from exc
    if not isinstance(document, dict) or document.get("v") != PAYLOAD_VERSION:
        raise ValueError("unsupported explainer payload")
    return document


def _enum(value: Any) -> Any:
    return getattr(value, "value", value)


def _iso(value: Any) -> str | None:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return None if value is None else str(value)


_AS_THEY_ARE = frozenset({type(None), bool, int, float, str})  # what _plain gives back unchanged, by exact type


def _plain(value: Any) -> Any:
    """A JSON value: numbers, text, booleans as they are; anything else as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)
