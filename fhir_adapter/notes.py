"""Narrative text of a record: clinical notes and short factual passages.

Sources read (FHIR R4):

* DocumentReference.content[].attachment - inline ``data`` (base64) of a text type
  (text/plain, text/markdown; text/html is reduced to its text). Attachments that only carry a
  ``url`` are not fetched here (the adapter does no I/O); they are listed by
  :func:`note_attachment_urls` so the service layer can fetch Binary content and pass it back.
* DiagnosticReport.presentedForm[] (same attachment rules) and DiagnosticReport.conclusion.
* Condition.note[] and Observation.note[] (Annotation.text).

Every record keeps the resource reference ("DocumentReference/123"), the clinically relevant date
and the decoded text. Unusable content becomes an InputProblem naming the resource and the reason -
never the text itself.
"""
from __future__ import annotations

import base64
import binascii
import html
import re
from dataclasses import dataclass
from datetime import date, datetime
from html.parser import HTMLParser
from typing import Mapping

from engine.finding import InputProblem
from fhir_adapter.parse import iter_entries, parse_fhir_datetime, resource_ref

# Long enough for any discharge summary; bounds the CPU one hostile attachment can cost.
MAX_NOTE_CHARS = 200_000
TEXT_TYPES = ("text/plain", "text/markdown", "text/x-markdown")
HTML_TYPES = ("text/html", "application/xhtml+xml")
SKIP_STATUS = {"entered-in-error"}


@dataclass(frozen=True)
class NoteRecord:
    source: str  # "DocumentReference/123"
    date: date | datetime | None
    text: str
    kind: str  # resource type the text came from
    title: str | None = None


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


class _TextOnly(HTMLParser):
    BLOCK = {"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _TextOnly()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # noqa: BLE001 - malformed markup: fall back to stripping tags
        return html.unescape(re.sub(r"<[^>]+>", " ", markup))
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip()


def _charset(content_type: str) -> str:
    m = re.search(r"charset\s*=\s*\"?([A-Za-z0-9_.:-]+)", content_type)
    return m.group(1) if m else "utf-8"


def attachment_text(attachment: Mapping) -> tuple[str | None, str | None]:
    """(text, None) for a readable inline attachment, else (None, reason)."""
    content_type = str(attachment.get("contentType") or "text/plain").lower()
    mime = content_type.split(";", 1)[0].strip()
    data = attachment.get("data")
    if not isinstance(data, str) or not data.strip():
        if attachment.get("url"):
            return None, "attachment has only a url (content not inline)"
        return None, "attachment has no data"
    if mime not in TEXT_TYPES and mime not in HTML_TYPES:
        return None, f"attachment content type {mime} is not text"
    if len(data) > MAX_NOTE_CHARS * 4 // 3 + 8:
        return None, "attachment larger than the note size limit"
    try:
        # MIME-style line breaks are legal in practice; anything else outside the alphabet is not.
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None, "attachment data is not valid base64"
    try:
        text = raw.decode(_charset(content_type), errors="replace")
    except LookupError:
        text = raw.decode("utf-8", errors="replace")
    if mime in HTML_TYPES:
        text = html_to_text(text)
    return text, None


def _date_of(resource: Mapping) -> date | datetime | None:
    rtype = resource.get("resourceType")
    candidates: list[object] = []
    if rtype == "DocumentReference":
        context = _dict(resource.get("context"))
        candidates = [_dict(context.get("period")).get("start"), resource.get("date")]
    elif rtype == "DiagnosticReport":
        candidates = [resource.get("effectiveDateTime"), _dict(resource.get("effectivePeriod")).get("start"),
                      resource.get("issued")]
    elif rtype == "Condition":
        candidates = [resource.get("recordedDate"), resource.get("onsetDateTime")]
    elif rtype == "Observation":
        candidates = [resource.get("effectiveDateTime"), _dict(resource.get("effectivePeriod")).get("start"),
                      resource.get("issued")]
    for value in candidates:
        parsed = parse_fhir_datetime(value)
        if parsed is not None:
            return parsed
    return None


def _title(resource: Mapping) -> str | None:
    for key in ("description",):
        if isinstance(resource.get(key), str):
            return resource[key]
    code = _dict(resource.get("type") or resource.get("code"))
    if isinstance(code.get("text"), str):
        return code["text"]
    for coding in _list(code.get("coding")):
        if isinstance(_dict(coding).get("display"), str):
            return coding["display"]
    return None


def _status_skipped(resource: Mapping) -> bool:
    if resource.get("status") in SKIP_STATUS or resource.get("docStatus") in SKIP_STATUS:
        return True
    verification = _dict(resource.get("verificationStatus"))
    return any(_dict(c).get("code") == "entered-in-error" for c in _list(verification.get("coding")))


def _clip(text: str) -> str:
    return text[:MAX_NOTE_CHARS]


def _notes_of(resource: Mapping, full_url: str | None, problems: list[InputProblem]) -> list[NoteRecord]:
    rtype = resource.get("resourceType")
    if rtype not in ("DocumentReference", "DiagnosticReport", "Condition", "Observation") or _status_skipped(resource):
        return []
    ref = resource_ref(resource, full_url)
    when = _date_of(resource)
    title = _title(resource)
    out: list[NoteRecord] = []
    attachments: list[object] = []
    if rtype == "DocumentReference":
        attachments = [_dict(c).get("attachment") for c in _list(resource.get("content"))]
    elif rtype == "DiagnosticReport":
        attachments = list(_list(resource.get("presentedForm")))
        if isinstance(resource.get("conclusion"), str) and resource["conclusion"].strip():
            out.append(NoteRecord(ref, when, _clip(resource["conclusion"]), rtype, title))
    for attachment in attachments:
        if not isinstance(attachment, dict):
            problems.append(InputProblem(ref, None, "attachment is not a JSON object"))
            continue
        text, reason = attachment_text(attachment)
        if text is None:
            problems.append(InputProblem(ref, None, f"note text not read: {reason}"))
        elif text.strip():
            out.append(NoteRecord(ref, when, _clip(text), rtype, attachment.get("title") or title))
    for annotation in _list(resource.get("note")):
        annotation = _dict(annotation)
        text = annotation.get("text")
        if isinstance(text, str) and text.strip():
            out.append(NoteRecord(ref, parse_fhir_datetime(annotation.get("time")) or when, _clip(text), rtype, title))
    return out


def extract_notes_with_problems(data: object) -> tuple[list[NoteRecord], list[InputProblem]]:
    """Notes of a resource / Bundle / prefetch mapping / iterable, and why any text was not read."""
    problems: list[InputProblem] = []
    if isinstance(data, Mapping) and "resourceType" not in data:
        data = list(data.values())  # a CDS Hooks prefetch object: key -> resource or Bundle
    notes: list[NoteRecord] = []
    for resource, full_url in iter_entries(data, problems):
        try:
            notes.extend(_notes_of(resource, full_url, problems))
        except Exception:  # noqa: BLE001 - one odd resource must not lose the others
            problems.append(InputProblem(resource_ref(resource, full_url), None, "note could not be read"))
    return notes, problems


def extract_notes(data: object) -> list[NoteRecord]:
    """Notes with source reference, date and text (see module docstring for the sources read)."""
    return extract_notes_with_problems(data)[0]


def note_attachment_urls(data: object) -> list[tuple[str, str]]:
    """(resource reference, url) of text attachments that are not inline, for the service to fetch."""
    if isinstance(data, Mapping) and "resourceType" not in data:
        data = list(data.values())
    out = []
    for resource, full_url in iter_entries(data):
        if resource.get("resourceType") == "DocumentReference" and not _status_skipped(resource):
            items = [_dict(c).get("attachment") for c in _list(resource.get("content"))]
        elif resource.get("resourceType") == "DiagnosticReport":
            items = _list(resource.get("presentedForm"))
        else:
            continue
        for att in items:
            att = _dict(att)
            mime = str(att.get("contentType") or "text/plain").split(";", 1)[0].strip().lower()
            if not att.get("data") and isinstance(att.get("url"), str) and (mime in TEXT_TYPES or mime in HTML_TYPES):
                out.append((resource_ref(resource, full_url), att["url"]))
    return out


ACTIVE_CLINICAL = {"active", "recurrence", "relapse"}
EXCLUDED_VERIFICATION = {"refuted", "entered-in-error"}


def active_condition_codes(data: object) -> set[tuple[str, str]]:
    """(system, code) of every coding of the patient's active Conditions (problem list or diagnoses).

    A Condition without clinicalStatus counts as active unless it has an abatement; refuted and
    entered-in-error Conditions never count.
    """
    if isinstance(data, Mapping) and "resourceType" not in data:
        data = list(data.values())
    codes: set[tuple[str, str]] = set()
    for resource, _ in iter_entries(data):
        if resource.get("resourceType") != "Condition":
            continue
        verification = {_dict(c).get("code") for c in _list(_dict(resource.get("verificationStatus")).get("coding"))}
        if verification & EXCLUDED_VERIFICATION:
            continue
        clinical = {_dict(c).get("code") for c in _list(_dict(resource.get("clinicalStatus")).get("coding"))}
        if clinical and not clinical & ACTIVE_CLINICAL:
            continue
        if not clinical and any(k.startswith("abatement") for k in resource):
            continue
        for coding in _list(_dict(resource.get("code")).get("coding")):
            coding = _dict(coding)
            if isinstance(coding.get("system"), str) and isinstance(coding.get("code"), str):
                codes.add((coding["system"], coding["code"]))
    return codes


def record_passages(data: object) -> list[NoteRecord]:
    """Short factual sentences from structured data (for question answering over the record).

    Active Conditions, recent Observations with a quantity and MedicationRequests become one
    sentence each, sourced to their resource, next to the notes themselves.
    """
    if isinstance(data, Mapping) and "resourceType" not in data:
        data = list(data.values())
    out: list[NoteRecord] = []
    latest_observation: dict[str, NoteRecord] = {}  # one sentence per observation kind: the newest
    for resource, full_url in iter_entries(data):
        rtype = resource.get("resourceType")
        ref = resource_ref(resource, full_url)
        label = _title(resource)
        if rtype in ("Condition", "Observation") and not label:
            continue
        if rtype == "Condition":
            clinical = {_dict(c).get("code") for c in _list(_dict(resource.get("clinicalStatus")).get("coding"))}
            status = "active" if (not clinical or clinical & ACTIVE_CLINICAL) else "resolved or inactive"
            when = parse_fhir_datetime(resource.get("onsetDateTime")) or parse_fhir_datetime(resource.get("recordedDate"))
            since = f" since {when.isoformat()[:10]}" if when else ""
            out.append(NoteRecord(ref, when, f"Condition ({status}): {label}{since}.", rtype, label))
        elif rtype == "Observation":
            q = _dict(resource.get("valueQuantity"))
            if "value" not in q:
                continue
            when = _date_of(resource)
            on = f" on {when.isoformat()[:10]}" if when else ""
            value = q.get("value")
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            record = NoteRecord(ref, when, f"{label}: {shown} {q.get('unit') or ''}".rstrip() + f"{on}.", rtype, label)
            previous = latest_observation.get(label)
            if previous is None or str(when or "") > str(previous.date or ""):
                latest_observation[label] = record
        elif rtype in ("MedicationRequest", "MedicationStatement"):
            med = _dict(resource.get("medicationCodeableConcept"))
            name = med.get("text") or next((c.get("display") for c in _list(med.get("coding")) if _dict(c).get("display")), None)
            if not name:
                continue
            when = parse_fhir_datetime(resource.get("authoredOn")) or parse_fhir_datetime(resource.get("effectiveDateTime"))
            out.append(NoteRecord(ref, when, f"Medication ({resource.get('status') or 'unknown status'}): {name}.", rtype, name))
    return out + list(latest_observation.values())
