"""Findings → CDS Hooks 2.0.1 cards.

Cards are rendered only from findings: everything a card says is in the finding it came from. Every optional field
is omitted when it would be empty; summaries are kept under 140 characters; suggestions always come with
``selectionBehavior``; card and suggestion uuids are derived (uuid5) from the hook instance and finding id, so the
same call renders the same uuids and feedback can be traced back to the finding.

Hygiene across engines: computed findings about the same condition (``extra["concept"]``: same concept id, a related
id, or the same first SNOMED CT coding) become one card - the most severe finding leads, the others are listed in its
detail and their extra suggestions are kept; diagnosis cards offer ``overrideReasons``; cards are ordered by severity
and capped at ``max_cards``; all not-computable findings share one "data needed" card, and two or more
not-applicable findings share one "not applicable here" card.
"""
from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Iterable

from cards.markdown import detail_markdown, insufficient_markdown
from engine.finding import Action, Finding, Kind, Severity, Status

SUMMARY_MAX = 139  # CDS Hooks 2.0.1: "<140 characters"
TOPIC_SYSTEM = "urn:precision-cds:topic"
OVERRIDE_REASON_SYSTEM = "urn:precision-cds:override-reason"
# Offered on every diagnosis card (CDS Hooks 2.0.1 Card.overrideReasons); the feedback endpoint stores the chosen one.
DIAGNOSIS_OVERRIDE_REASONS: tuple[dict, ...] = (
    {"system": OVERRIDE_REASON_SYSTEM, "code": "already-addressed",
     "display": "Already addressed (diagnosed or documented elsewhere)"},
    {"system": OVERRIDE_REASON_SYSTEM, "code": "not-applicable", "display": "Not applicable to this patient"},
    {"system": OVERRIDE_REASON_SYSTEM, "code": "patient-declined", "display": "Patient declined"},
    {"system": OVERRIDE_REASON_SYSTEM, "code": "data-error", "display": "Result is wrong or mislabelled"},
)
_SNOMED = "http://snomed.info/sct"
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
    """Render findings into cards: computed ones first by severity, then one combined 'data needed' card.

    Several not-applicable findings share one card too (one "not applicable here" card instead of a card per score).
    """
    findings = list(findings)
    rendered: list[RenderedCard] = []
    insufficient = [f for f in findings if f.status is Status.INSUFFICIENT_DATA]
    not_applicable = [f for f in findings if f.status is Status.NOT_APPLICABLE] if options.show_not_applicable else []
    groups = {id(group[0]): group for group in same_condition_groups(
        [f for f in findings if f.status is Status.COMPUTED])}
    for finding in findings:
        if finding.status is Status.COMPUTED:
            if id(finding) in groups:
                rendered.append(_computed_card(groups[id(finding)], options))
        elif finding.status is Status.NOT_APPLICABLE and len(not_applicable) == 1:
            rendered.append(_message_card(finding, options, "not applicable"))
        elif finding.status is Status.ERROR:
            rendered.append(_message_card(finding, options, "not available"))
    if len(not_applicable) > 1:
        rendered.append(_not_applicable_card(not_applicable, options))
    if insufficient:
        rendered.append(_data_needed_card(insufficient, options))
    rendered.sort(key=lambda rc: -_INDICATOR_RANK[rc.card["indicator"]])  # stable: keeps engine order within a rank
    return rendered[: max(options.max_cards, 0)]


_INDICATOR_RANK = {"info": 0, "warning": 1, "critical": 2}


# -- de-duplication across engines ------------------------------------------------------------------------------------
def condition_keys(finding: Finding) -> frozenset[tuple[str, str]]:
    """What condition a finding is about, from ``extra["concept"]``; empty when it names none (never merged)."""
    concept = finding.extra.get("concept") if isinstance(finding.extra, dict) else None
    if not isinstance(concept, dict):
        return frozenset()
    keys: set[tuple[str, str]] = set()
    for key in [concept.get("id"), *(concept.get("related_ids") or [])]:
        if isinstance(key, str) and key:
            keys.add(("id", key))
    codings = concept.get("codings") or []
    first_snomed = next((c.get("code") for c in codings
                         if isinstance(c, dict) and c.get("system") == _SNOMED and c.get("code")), None)
    if isinstance(first_snomed, str):
        keys.add(("snomed", first_snomed))
    return frozenset(keys)


def same_condition_groups(findings: list[Finding]) -> list[list[Finding]]:
    """Computed findings grouped by condition, each group led by its most severe finding (first one on a tie)."""
    groups: list[tuple[set, list[Finding]]] = []
    for finding in findings:
        keys = condition_keys(finding)
        home = next((g for g in groups if keys and g[0] & keys), None)
        if home is None:
            groups.append((set(keys), [finding]))
        else:
            home[0].update(keys)
            home[1].append(finding)
    out = []
    for _, members in groups:
        lead = max(members, key=lambda f: f.severity.rank)  # max keeps the first of equals
        out.append([lead] + [f for f in members if f is not lead])
    return out


# -- one card per computed finding (or per group of findings about one condition) --------------------------------------
def _computed_card(group: list[Finding], options: RenderOptions) -> RenderedCard:
    finding, others = group[0], group[1:]
    card_uuid = _uuid(options.hook_instance, finding.id)
    detail = detail_markdown(finding)
    if others:
        detail += "\n\n**Also found by**\n\n" + "\n".join(
            f"- {summary_for(o)} — {o.citation.short} ({o.engine_id} v{o.engine_version})" for o in others)
    card = {
        "uuid": card_uuid,
        "summary": summary_for(finding),
        "detail": detail,
        "indicator": finding.severity.value,
        "source": source_for(finding),
    }
    # A diagnosis the clinician may dismiss: a warning, or a suggestion to act on. An informational result with
    # nothing to act on (e.g. a normal eGFR) has nothing to override.
    if any(f.kind is Kind.DIAGNOSIS and (f.severity is not Severity.INFO or f.actions) for f in group):
        card["overrideReasons"] = [dict(reason) for reason in DIAGNOSIS_OVERRIDE_REASONS]
    _add_suggestions(card, card_uuid, _merged_actions(group), options)
    return RenderedCard(_prune(card), tuple(f.id for f in group), tuple(dict.fromkeys(f.engine_id for f in group)))


def _merged_actions(group: list[Finding]) -> tuple[Action, ...]:
    """The lead finding's actions, then the others' - minus repeats and minus a second problem-list Condition."""
    actions: list[Action] = []
    for finding in group:
        for action in finding.actions:
            kind = action.resource.get("resourceType")
            if any(a.label == action.label for a in actions):
                continue
            if kind == "Condition" and any(a.resource.get("resourceType") == "Condition" for a in actions):
                continue
            actions.append(action)
    return tuple(actions)


def _message_card(finding: Finding, options: RenderOptions, what: str) -> RenderedCard:
    card = {
        "uuid": _uuid(options.hook_instance, finding.id),
        "summary": clip(f"{finding.title}: {what}" + (f" — {finding.message}" if finding.message else "")),
        "detail": detail_markdown(finding),
        "indicator": Severity.INFO.value,
        "source": source_for(finding),
    }
    return RenderedCard(_prune(card), (finding.id,), (finding.engine_id,))


def _not_applicable_card(findings: list[Finding], options: RenderOptions) -> RenderedCard:
    ids = tuple(f.id for f in findings)
    detail = "\n\n".join(
        f"**{f.title}** — {f.message or 'not applicable to this patient.'}\n\n"
        f"_Source: {f.citation.short}; engine {f.engine_id} v{f.engine_version}._" for f in findings)
    card = {
        "uuid": _uuid(options.hook_instance, "not-applicable:" + ",".join(ids)),
        "summary": _listing_summary("Not applicable here", [f.title for f in findings]),
        "detail": detail,
        "indicator": Severity.INFO.value,
        "source": {"label": "Precision CDS — applicability"},
    }
    return RenderedCard(_prune(card), ids, tuple(dict.fromkeys(f.engine_id for f in findings)))


def _data_needed_card(findings: list[Finding], options: RenderOptions) -> RenderedCard:
    ids = tuple(f.id for f in findings)
    card_uuid = _uuid(options.hook_instance, "data-needed:" + ",".join(ids))
    missing_labels: list[str] = []
    for f in findings:
        for m in f.missing:
            if m.label not in missing_labels:
                missing_labels.append(m.label)
    subject = findings[0].title if len(findings) == 1 else f"{len(findings)} assessments"
    summary = _listing_summary(f"Data needed for {subject}", missing_labels)
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
def _listing_summary(head: str, items: list[str]) -> str:
    """'head: a, b, c' when it fits; otherwise as many items as fit and '+N more', never cut mid-word."""
    if not items:
        return clip(head)
    full = f"{head}: " + ", ".join(items)
    if len(full) <= SUMMARY_MAX:
        return full
    for shown in range(len(items) - 1, 0, -1):
        text = f"{head}: " + ", ".join(items[:shown]) + f" +{len(items) - shown} more"
        if len(text) <= SUMMARY_MAX:
            return text
    return clip(full)


def summary_for(finding: Finding) -> str:
    value = format_value(finding.value, finding.unit, finding.decimals)
    text = f"{finding.title}: {value}"
    if finding.category:
        text += f" ({finding.category})"
    if finding.measures:
        extras = "; ".join(f"{m.label} {format_value(m.value, m.unit)}" for m in finding.measures)
        candidate = f"{text}; {extras}"
        if len(candidate) <= SUMMARY_MAX:
            text = candidate
    return clip(text)


def format_value(value, unit: str | None, decimals: int | None = None) -> str:
    if isinstance(value, bool) or value is None:
        return "yes" if value else "—" if value is None else "no"
    if isinstance(value, (int, float)):
        if unit == "%" and decimals is None:
            return f"{value:.1f} %"  # as the ACC/AHA risk estimator shows risks: one decimal
        if decimals is not None:
            shown = f"{value:.{decimals}f}"
        else:
            shown = f"{value:.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:.1f}"
        if unit == "points" and value == 1:
            unit = "point"
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
