"""Findings → CDS Hooks 2.0.1 cards.

Cards are rendered only from findings: everything a card says is in the finding it came from. Every optional field
is omitted when it would be empty; summaries are kept under 140 characters; suggestions always come with
``selectionBehavior``; card and suggestion uuids are derived (uuid5) from the hook instance and finding id, so the
same call renders the same uuids and feedback can be traced back to the finding.
"""
from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Iterable

from cards.markdown import detail_markdown, insufficient_markdown
from engine.finding import Action, Finding, Severity, Status

SUMMARY_MAX = 139  # CDS Hooks 2.0.1: "<140 characters"
TOPIC_SYSTEM = "urn:precision-cds:topic"
_NAMESPACE = uuid.UUID("8f0e5b1a-3c6d-4e2f-9a7b-1d2c3e4f5a6b")


@dataclass(frozen=True)
class RenderOptions:
    patient_id: str | None = None
    hook_instance: str = ""
    max_cards: int = 10
    show_not_applicable: bool = True


@dataclass(frozen=True)
class RenderedCard:
    card: dict
    finding_ids: tuple[str, ...]
    engine_ids: tuple[str, ...]


def render_cards(findings: Iterable[Finding], options: RenderOptions = RenderOptions()) -> list[RenderedCard]:
    """Render findings into cards: computed ones first by severity, then one combined 'data needed' card."""
    findings = list(findings)
    rendered: list[RenderedCard] = []
    insufficient = [f for f in findings if f.status is Status.INSUFFICIENT_DATA]
    for finding in findings:
        if finding.status is Status.COMPUTED:
            rendered.append(_computed_card(finding, options))
        elif finding.status is Status.NOT_APPLICABLE and options.show_not_applicable:
            rendered.append(_message_card(finding, options, "not applicable"))
        elif finding.status is Status.ERROR:
            rendered.append(_message_card(finding, options, "not available"))
    if insufficient:
        rendered.append(_data_needed_card(insufficient, options))
    rendered.sort(key=lambda rc: -_INDICATOR_RANK[rc.card["indicator"]])  # stable: keeps engine order within a rank
    return rendered[: max(options.max_cards, 0)]


_INDICATOR_RANK = {"info": 0, "warning": 1, "critical": 2}


# -- one card per computed finding ------------------------------------------------------------------------------------
def _computed_card(finding: Finding, options: RenderOptions) -> RenderedCard:
    card_uuid = _uuid(options.hook_instance, finding.id)
    card = {
        "uuid": card_uuid,
        "summary": summary_for(finding),
        "detail": detail_markdown(finding),
        "indicator": finding.severity.value,
        "source": source_for(finding),
    }
    _add_suggestions(card, card_uuid, finding.actions, options)
    return RenderedCard(_prune(card), (finding.id,), (finding.engine_id,))


def _message_card(finding: Finding, options: RenderOptions, what: str) -> RenderedCard:
    card = {
        "uuid": _uuid(options.hook_instance, finding.id),
        "summary": clip(f"{finding.title}: {what}" + (f" — {finding.message}" if finding.message else "")),
        "detail": detail_markdown(finding),
        "indicator": Severity.INFO.value,
        "source": source_for(finding),
    }
    return RenderedCard(_prune(card), (finding.id,), (finding.engine_id,))


def _data_needed_card(findings: list[Finding], options: RenderOptions) -> RenderedCard:
    ids = tuple(f.id for f in findings)
    card_uuid = _uuid(options.hook_instance, "data-needed:" + ",".join(ids))
    missing_labels: list[str] = []
    for f in findings:
        for m in f.missing:
            if m.label not in missing_labels:
                missing_labels.append(m.label)
    subject = findings[0].title if len(findings) == 1 else f"{len(findings)} assessments"
    summary = clip(f"Data needed for {subject}: " + ", ".join(missing_labels)) if missing_labels else clip(
        f"Data needed for {subject}")
    if len(findings) == 1:
        source = source_for(findings[0])
    else:
        source = {"label": "Precision CDS — data completeness"}
    actions: list[Action] = []
    for f in findings:
        for action in f.actions:
            if all(a.label != action.label for a in actions):
                actions.append(action)
    card = {
        "uuid": card_uuid,
        "summary": summary,
        "detail": insufficient_markdown(findings),
        "indicator": Severity.INFO.value,
        "source": source,
    }
    _add_suggestions(card, card_uuid, tuple(actions), options)
    return RenderedCard(_prune(card), ids, tuple(dict.fromkeys(f.engine_id for f in findings)))


# -- pieces ----------------------------------------------------------------------------------------------------------
def summary_for(finding: Finding) -> str:
    value = format_value(finding.value, finding.unit)
    text = f"{finding.title}: {value}"
    if finding.category:
        text += f" ({finding.category})"
    if finding.measures:
        extras = "; ".join(f"{m.label} {format_value(m.value, m.unit)}" for m in finding.measures)
        candidate = f"{text}; {extras}"
        if len(candidate) <= SUMMARY_MAX:
            text = candidate
    return clip(text)


def format_value(value, unit: str | None) -> str:
    if isinstance(value, bool) or value is None:
        return "yes" if value else "—" if value is None else "no"
    if isinstance(value, (int, float)):
        if unit == "%":
            return f"{value:.1f} %"  # as the ACC/AHA risk estimator shows risks: one decimal
        shown = f"{value:.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:.1f}"
        return f"{shown} {unit}" if unit else shown
    return f"{value} {unit}" if unit else str(value)


def source_for(finding: Finding) -> dict:
    citation = finding.citation
    source: dict = {"label": clip(f"{citation.short} — {finding.engine_id} v{finding.engine_version}", 200)}
    if citation.url:
        source["url"] = citation.url
    if citation.topic:
        source["topic"] = {"system": TOPIC_SYSTEM, "code": _slug(citation.topic), "display": citation.topic}
    return source


def _add_suggestions(card: dict, card_uuid: str, actions: tuple[Action, ...], options: RenderOptions) -> None:
    suggestions = []
    for action in actions:
        resource = copy.deepcopy(action.resource)
        if options.patient_id and "subject" not in resource and resource.get("resourceType") in _SUBJECT_RESOURCES:
            resource["subject"] = {"reference": f"Patient/{options.patient_id}"}
        suggestions.append({
            "label": clip(action.label, 200),
            "uuid": _uuid(card_uuid, action.label),
            "actions": [{"type": action.type, "description": action.description, "resource": resource}],
        })
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "any"


_SUBJECT_RESOURCES = {"ServiceRequest", "Condition", "Observation", "MedicationRequest", "CarePlan", "Task"}


def clip(text: str, limit: int = SUMMARY_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _uuid(namespace: str, name: str) -> str:
    base = uuid.uuid5(_NAMESPACE, namespace) if namespace else _NAMESPACE
    return str(uuid.uuid5(base, name))


def _slug(text: str) -> str:
    return "-".join("".join(ch.lower() if ch.isalnum() else " " for ch in text).split())


def _prune(value):
    """Drop None, '', [] and {} recursively: the spec says omit, not send empty."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        pruned = [_prune(v) for v in value]
        return [v for v in pruned if v not in (None, "", [], {})]
    return value
