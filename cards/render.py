"""Findings → CDS Hooks 2.0.1 cards.

Cards are rendered only from findings: everything a card says is in the finding it came from. Every optional field
is omitted when it would be empty; summaries are kept under 140 characters; suggestions always come with
``selectionBehavior``; card and suggestion uuids are derived (uuid5) from the hook instance, the patient and the finding
id, so the same call renders the same uuids and feedback can be traced back to the finding, and two patients' cards
never share a uuid even when an EHR reuses a hook instance. Each rendered card also carries an
``identity`` that does not depend on the call (the card's form, the lead finding's kind and id, its concept): the same
card for the same patient at the next chart opening has the same identity, which is what feedback is remembered by.

Suggestions come from the findings' typed proposals, built into FHIR R4 resources and CDS Hooks actions by
``cards/fhir.py``; every card with suggestions, and every diagnosis warning, offers ``overrideReasons``.

Hygiene across engines: computed findings about the same condition (``Finding.condition``: same concept id, a related
id, or the same first SNOMED CT coding), and a treatment with the findings it follows from (``Finding.follows_from``),
become one card - the most severe finding leads (a treatment never leads the score or diagnosis it acts on: the
finding it names first leads, the treatment gives the card its action, "PCE 12.0 % (intermediate) → start a
moderate-intensity statin"), the others are listed in its detail and their extra suggestions are kept; the card's
indicator is the most severe of its findings; cards are ordered by severity
and capped at ``max_cards``; all not-computable findings share one "data needed" card (each missing input once, order
suggestions de-duplicated), and not-applicable findings are left off the cards unless ``show_not_applicable`` (they
stay in the findings, for the explainer page); two or more share one "not applicable here" card. A computed result
with nothing to act on (``Finding.explainer_only``: a normal eGFR) is left off the cards too; the explainer page of
the call lists it with the other results.

Each card's detail keeps to the budget of ``cards.markdown`` (about 8 short lines); the source label is the short
citation ("Khan 2024 (AHA PREVENT)"), without engine ids or versions.
"""
from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Mapping

from cards.fhir import DIAGNOSIS_OVERRIDE_REASONS, OVERRIDE_REASON_SYSTEM, BuildContext, build_suggestions
from cards.markdown import (
    action_lines,
    also_found_lines,
    detail_markdown,
    first_sentences,
    insufficient_markdown,
    not_applicable_markdown,
    number_text,
    within_budget,
)
from engine.finding import Finding, Kind, Severity, Status
from engine.proposals import SelectionBehavior, Suggestion

SUMMARY_MAX = 139  # CDS Hooks 2.0.1: "<140 characters"
ALSO_LINE_MAX = 220  # an "Also:" line with its note, within one card line
TOPIC_SYSTEM = "urn:precision-cds:topic"
__all__ = ["DIAGNOSIS_OVERRIDE_REASONS", "OVERRIDE_REASON_SYSTEM", "RenderOptions", "RenderedCard", "render_cards"]
_NAMESPACE = uuid.UUID("8f0e5b1a-3c6d-4e2f-9a7b-1d2c3e4f5a6b")
_NAMESPACE_BYTES = _NAMESPACE.bytes


@dataclass(frozen=True)
class RenderOptions:
    patient_id: str | None = None
    hook_instance: str = ""
    max_cards: int = 10
    show_not_applicable: bool = False  # not-applicable results are explained on the explainer page, not on cards
    # The URL of the explainer page ("How this was calculated") for a card's findings, by finding ids; None: no link.
    explain_url: Callable[[tuple[str, ...]], str] | None = None
    # order-select / order-sign: the clinician's drafted orders by "Type/id", so that a change is sent whole.
    draft_orders: Mapping[str, dict] | None = None
    # Drops or trims cards the clinician has already answered (cds_hooks.suppression): applied to every card, in
    # order, before the cap and before the explainer links, so a hidden card leaves its place to the next one.
    screen: Callable[[list["RenderedCard"]], list["RenderedCard"]] | None = None


@dataclass(frozen=True)
class RenderedCard:
    card: dict
    finding_ids: tuple[str, ...]
    engine_ids: tuple[str, ...]
    # The same from call to call: "risk:pce-2013:ascvd-10y", "diagnosis:diabetes-gap:diabetes|diabetes-mellitus",
    # "data-needed:ckd-epi-2021-cr:egfr,pce-2013:ascvd-10y" (the per-call uuid is not).
    identity: str = ""


def render_cards(findings: Iterable[Finding], options: RenderOptions = RenderOptions()) -> list[RenderedCard]:
    """Render findings into cards: computed ones first by severity, then one combined 'data needed' card.

    Several not-applicable findings share one card too (one "not applicable here" card instead of a card per score).
    """
    findings = list(findings)
    rendered: list[RenderedCard] = []
    insufficient = [f for f in findings if f.status is Status.INSUFFICIENT_DATA]
    # A treatment rule that proposes nothing (no drug indicated, an exclusion, out of its scope) says why on the
    # explainer page only, even when not-applicable results are shown: it is not a result about the patient.
    not_applicable = [f for f in findings if f.status is Status.NOT_APPLICABLE and f.kind is not Kind.TREATMENT] \
        if options.show_not_applicable else []
    # A result with nothing to act on (Finding.explainer_only, e.g. a normal eGFR) is on the explainer page only.
    groups = {id(group[0]): group for group in same_condition_groups(
        [f for f in findings if f.status is Status.COMPUTED and not f.explainer_only])}
    for finding in findings:
        if finding.status is Status.COMPUTED:
            if id(finding) in groups:
                rendered.append(_computed_card(groups[id(finding)], options))
        elif finding.status is Status.NOT_APPLICABLE and len(not_applicable) == 1 \
                and finding is not_applicable[0]:
            rendered.append(_message_card(finding, options, "not applicable"))
        elif finding.status is Status.ERROR:
            rendered.append(_message_card(finding, options, "not available"))
    if len(not_applicable) > 1:
        rendered.append(_not_applicable_card(not_applicable, options))
    if insufficient:
        rendered.append(_data_needed_card(insufficient, options))
    rendered.sort(key=lambda rc: -_INDICATOR_RANK[rc.card["indicator"]])  # stable: keeps engine order within a rank
    if options.screen is not None:
        rendered = options.screen(rendered)
    return [_with_explainer_link(rc, options) for rc in rendered[: max(options.max_cards, 0)]]


_INDICATOR_RANK = {"info": 0, "warning": 1, "critical": 2}
EXPLAINER_LINK_LABEL = "How this was calculated"


def _with_explainer_link(rendered: RenderedCard, options: RenderOptions) -> RenderedCard:
    """The card with a link to the page that shows its findings' whole evidence (only cards that are sent get one)."""
    if options.explain_url is None:
        return rendered
    link = {"label": EXPLAINER_LINK_LABEL, "url": options.explain_url(rendered.finding_ids), "type": "absolute"}
    card = {**rendered.card, "links": [*rendered.card.get("links", []), link]}
    return replace(rendered, card=card)


# -- de-duplication across engines ------------------------------------------------------------------------------------
def condition_keys(finding: Finding, followed: frozenset[str] = frozenset()) -> frozenset[tuple[str, str]]:
    """What a finding is about: its ``Finding.condition``, the findings it follows from, and itself when another
    finding of the call follows from it (``followed``: those ids); empty when it names none (never merged)."""
    keys = {("finding", finding_id) for finding_id in finding.follows_from}
    if finding.id in followed:
        keys.add(("finding", finding.id))
    condition = finding.condition
    if condition is not None:
        keys.update(("id", key) for key in (condition.id, *condition.related_ids) if key)
        if condition.first_snomed:
            keys.add(("snomed", condition.first_snomed))
    return frozenset(keys)


def same_condition_groups(findings: list[Finding]) -> list[list[Finding]]:
    """Computed findings grouped by condition and by what treatments follow from, each group led by ``card_lead``."""
    followed = frozenset(finding_id for f in findings for finding_id in f.follows_from)
    groups: list[tuple[set, list[Finding]]] = []
    for finding in findings:
        keys = condition_keys(finding, followed)
        homes = [g for g in groups if keys and g[0] & keys]
        if not homes:
            groups.append((set(keys), [finding]))
            continue
        # A finding that links two groups (a treatment following from two scores) joins them: one card.
        home = homes[0]
        for other in homes[1:]:
            home[0].update(other[0])
            home[1].extend(other[1])
            groups.remove(other)
        home[0].update(keys)
        home[1].append(finding)
    out = []
    for _, members in groups:
        lead = card_lead(members)
        out.append([lead] + [f for f in members if f is not lead])
    return out


def card_lead(members: list[Finding]) -> Finding:
    """The finding a card is about: the most severe (the first of equals); but a treatment never leads the score or
    diagnosis it acts on - the first finding it names in ``follows_from`` leads, else the most severe of the others,
    and the treatment gives the card its action."""
    by_severity = lambda f: f.severity.rank  # noqa: E731 - max keeps the first of equals
    others = [f for f in members if f.kind is not Kind.TREATMENT]
    if not others or len(others) == len(members):
        return max(members, key=by_severity)
    named = [f for t in members if t.kind is Kind.TREATMENT for finding_id in t.follows_from
             for f in others if f.id == finding_id]
    return named[0] if named else max(others, key=by_severity)


# -- one card per computed finding (or per group of findings about one condition) --------------------------------------
def _computed_card(group: list[Finding], options: RenderOptions) -> RenderedCard:
    finding, others = group[0], group[1:]
    card_uuid = _uuid(_call_namespace(options), finding.id)
    # Treatments on a score's or diagnosis's card are its action: in the summary, and right under the result.
    actions = [o for o in others if o.kind is Kind.TREATMENT] if finding.kind is not Kind.TREATMENT else []
    also = [o for o in others if o not in actions]
    detail = detail_markdown(finding)
    if actions:
        # Result, then what to do, then the other results of the topic (each with its own note, e.g. why PREVENT's
        # total CVD is in another band than the PCE), then the lead's own notes and inputs.
        result, *rest = detail.split("\n\n")
        detail = within_budget([result, *action_lines(actions),
                                *also_found_lines([_with_note(o, finding) for o in also]), *rest])
    elif others:
        detail = within_budget([detail, *also_found_lines([summary_for(o) for o in others])])
    card = {
        "uuid": card_uuid,
        "summary": _summary_with_action(finding, actions[0] if actions else None),
        "detail": detail,
        "indicator": max((f.severity for f in group), key=lambda s: s.rank).value,
        "source": source_for(finding),
    }
    links = [link for action in actions if (link := guideline_link(action)) is not None]
    if links:
        card["links"] = list({link["url"]: link for link in links}.values())
    # A diagnosis the clinician may dismiss: a warning, or a suggestion to act on; and any card with a suggestion. An
    # informational result with nothing to act on (e.g. a normal eGFR) has nothing to override.
    diagnosis = any(f.kind is Kind.DIAGNOSIS and (f.severity is not Severity.INFO or f.suggestions) for f in group)
    _add_suggestions(card, card_uuid, _merged_suggestions(group), options, diagnosis=diagnosis,
                     at_most_one=any(f.selection is SelectionBehavior.AT_MOST_ONE for f in group))
    return RenderedCard(_prune(card), tuple(f.id for f in group), tuple(dict.fromkeys(f.engine_id for f in group)),
                        identity=_computed_identity(finding))


def _computed_identity(lead: Finding) -> str:
    concept = lead.condition.id if lead.condition is not None and lead.condition.id else ""
    return f"{lead.kind.value}:{lead.id}" + (f"|{concept}" if concept else "")


def _merged_suggestions(group: list[Finding]) -> tuple[Suggestion, ...]:
    """The lead finding's suggestions, then the others' - minus repeats and minus a second problem-list entry."""
    merged: list[Suggestion] = []
    for finding in group:
        for suggestion in finding.suggestions:
            if any(s.label == suggestion.label for s in merged):
                continue
            if suggestion.adds_problem and any(s.adds_problem for s in merged):
                continue
            merged.append(suggestion)
    return tuple(merged)


def _message_card(finding: Finding, options: RenderOptions, what: str) -> RenderedCard:
    card = {
        "uuid": _uuid(_call_namespace(options), finding.id),
        "summary": clip(f"{finding.title}: {what}" + (f" — {finding.message}" if finding.message else "")),
        "detail": detail_markdown(finding),
        "indicator": Severity.INFO.value,
        "source": source_for(finding),
    }
    return RenderedCard(_prune(card), (finding.id,), (finding.engine_id,), identity=f"{what}:{finding.id}")


def _not_applicable_card(findings: list[Finding], options: RenderOptions) -> RenderedCard:
    ids = tuple(f.id for f in findings)
    detail = not_applicable_markdown(findings)
    card = {
        "uuid": _uuid(_call_namespace(options), "not-applicable:" + ",".join(ids)),
        "summary": _listing_summary("Not applicable here", [f.title for f in findings]),
        "detail": detail,
        "indicator": Severity.INFO.value,
        "source": {"label": "Precision CDS — applicability"},
    }
    return RenderedCard(_prune(card), ids, tuple(dict.fromkeys(f.engine_id for f in findings)),
                        identity="not-applicable:" + ",".join(sorted(ids)))


def _data_needed_card(findings: list[Finding], options: RenderOptions) -> RenderedCard:
    ids = tuple(f.id for f in findings)
    card_uuid = _uuid(_call_namespace(options), "data-needed:" + ",".join(ids))
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
    suggestions: list[Suggestion] = []
    for f in findings:
        for suggestion in f.suggestions:
            if all(s.label != suggestion.label for s in suggestions):
                suggestions.append(suggestion)
    card = {
        "uuid": card_uuid,
        "summary": summary,
        "detail": insufficient_markdown(findings),
        "indicator": Severity.INFO.value,
        "source": source,
    }
    _add_suggestions(card, card_uuid, tuple(suggestions), options,
                     at_most_one=any(f.selection is SelectionBehavior.AT_MOST_ONE for f in findings))
    return RenderedCard(_prune(card), ids, tuple(dict.fromkeys(f.engine_id for f in findings)),
                        identity="data-needed:" + ",".join(sorted(ids)))


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
    value = format_value(finding.value, finding.unit, finding.decimals, finding.cut_points)
    text = f"{finding.title}: {value}"
    if finding.category:
        text += f" ({finding.category})"
    extras = [f"{m.label} {format_value(m.value, m.unit)}" for m in finding.measures if m.sentence is None]
    if extras and len(candidate := f"{text}; {'; '.join(extras)}") <= SUMMARY_MAX:
        text = candidate
    return clip(text)


def _with_note(other: Finding, lead: Finding) -> str:
    """Another result on a treatment's card: its summary and the first sentence of its note, unless the lead already
    says it (the PCE and PREVENT cards carry the same like-for-like line)."""
    sentences = [m.sentence for m in other.measures if m.sentence]  # e.g. HAS-BLED's bleeding rate in words
    note = first_sentences(other.message, 1) if other.message else (sentences[0] if sentences else "")
    if not note or note in (lead.message or ""):
        return summary_for(other)
    full = summary_for(other)
    for summary in (full, None):  # the note matters more than the extra measures
        if summary is None:  # without them: built only when needed (copying a finding costs)
            summary = summary_for(replace(other, measures=()))
        text = f"{summary}. {note}"
        if len(text) <= ALSO_LINE_MAX:
            return text
    return full  # whole sentences only: no room for the note, it is on the explainer page


def _summary_with_action(finding: Finding, action: Finding | None) -> str:
    """The lead's summary and, when a treatment follows from it, its action: "... 12.0 % (intermediate) → start a
    moderate-intensity statin (Class I, LOE A)"; shortened (strength, then the lead's extra measures) to fit."""
    if action is None or action.recommendation is None:
        return summary_for(finding)
    recommendation = action.recommendation
    text = recommendation.text[:1].lower() + recommendation.text[1:]
    full = summary_for(finding)
    for summary, tail in ((full, f" ({recommendation.strength})"), (full, ""), (None, "")):
        if summary is None:  # the lead without its extra measures, built only when needed (copying a finding costs)
            summary = summary_for(replace(finding, measures=()))
        candidate = f"{summary} → {text}{tail}"
        if len(candidate) <= SUMMARY_MAX:
            return candidate
    return full  # never a clipped action: the detail's recommendation line says it whole


def guideline_link(finding: Finding) -> dict | None:
    """A link to the guideline a treatment's recommendation comes from (absolute URL), or None without one."""
    recommendation = finding.recommendation
    citation = (recommendation.citation if recommendation and recommendation.citation else finding.citation)
    if not citation.url:
        return None
    label = recommendation.guideline if recommendation else citation.short
    return {"label": clip(label, 80), "url": citation.url, "type": "absolute"}


def format_value(value, unit: str | None, decimals: int | None = None, cut_points=()) -> str:
    """A result at clinical precision: ``decimals`` when the engine sets it, else the unit's display precision
    (risks in % with one decimal, as the ACC/AHA risk estimator shows them; eGFR and mmHg whole numbers), never
    rounded across one of the finding's ``cut_points`` (or its unit's feature's)."""
    if isinstance(value, bool) or value is None:
        return "yes" if value else "—" if value is None else "no"
    if isinstance(value, (int, float)):
        shown = number_text(value, unit=unit, decimals=decimals, cut_points=tuple(cut_points or ()))
        if unit == "points" and value == 1:
            unit = "point"
        return f"{shown} {unit}" if unit else shown
    return f"{value} {unit}" if unit else str(value)


def source_for(finding: Finding) -> dict:
    """The short citation only ("Goff 2014 (ACC/AHA Pooled Cohort Equations)"): engine ids and versions are for the
    explainer page and the audit log, not for the clinician."""
    citation = finding.citation
    source: dict = {"label": clip(citation.short, 200)}
    if citation.url:
        source["url"] = citation.url
    if citation.topic:
        source["topic"] = {"system": TOPIC_SYSTEM, "code": _slug(citation.topic), "display": citation.topic}
    return source


def _add_suggestions(card: dict, card_uuid: str, suggestions: tuple[Suggestion, ...], options: RenderOptions, *,
                     diagnosis: bool = False, at_most_one: bool = False) -> None:
    """Suggestions (uuid5 of the card uuid and the label, as before the action model), the selectionBehavior they
    need, and the override reasons: those of a diagnosis warning even without a suggestion, and those every
    suggestion's proposals call for."""
    built = build_suggestions(suggestions, BuildContext(options.patient_id, options.draft_orders),
                              uuid_of=lambda label: _uuid(card_uuid, label), at_most_one=at_most_one)
    if built.suggestions:
        card["suggestions"] = built.suggestions
        card["selectionBehavior"] = built.selection_behavior
    reasons = built.override_reasons
    if diagnosis:
        reasons = [dict(r) for r in DIAGNOSIS_OVERRIDE_REASONS] + [
            r for r in reasons if r["code"] not in {d["code"] for d in DIAGNOSIS_OVERRIDE_REASONS}]
    if reasons:
        card["overrideReasons"] = reasons


def clip(text: str, limit: int = SUMMARY_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _call_namespace(options: RenderOptions) -> str:
    """What card uuids are derived from besides the finding: the hook instance and the patient. Feedback names a card
    by its uuid alone, and some EHRs reuse a hook instance for another patient's chart; with the patient in the
    derivation, a uuid names one patient's card (the same call still renders the same uuids)."""
    if not options.patient_id:
        return options.hook_instance
    return f"{options.hook_instance}\x00patient\x00{options.patient_id}"


def _uuid(namespace: str, name: str) -> str:
    """``str(uuid5(uuid5(_NAMESPACE, namespace), name))``, or of ``uuid5(_NAMESPACE, name)`` without a namespace."""
    base = _uuid5_bytes(_NAMESPACE_BYTES, namespace) if namespace else _NAMESPACE_BYTES
    text = _uuid5_bytes(base, name).hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _uuid5_bytes(namespace: bytes, name: str) -> bytes:
    """RFC 4122 version 5, as ``uuid.uuid5(...).bytes``, without building UUID objects (a few per card)."""
    digest = bytearray(hashlib.sha1(namespace + name.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return bytes(digest)


@functools.lru_cache(maxsize=256)  # citation topics: a few constants of the engines
def _slug(text: str) -> str:
    return "-".join("".join(ch.lower() if ch.isalnum() else " " for ch in text).split())


def _prune(value):
    """Drop None, '', [] and {} recursively: the spec says omit, not send empty."""
    if isinstance(value, dict):
        return _pruned_dict(value)
    if isinstance(value, list):
        return _pruned_list(value)
    return value


# One pass per container, children first (a container emptied by pruning goes too); a card's suggestions carry whole
# FHIR resources, so this walk visits about a hundred values per card.
_DROPPED = object()


def _pruned_value(item):
    """The item pruned, or ``_DROPPED`` when it is (or became) empty."""
    if type(item) is str:  # most values: a string is kept unless empty
        return item if item else _DROPPED
    if isinstance(item, dict):
        item = _pruned_dict(item)
        return item if item else _DROPPED
    if isinstance(item, list):
        item = _pruned_list(item)
        return item if item else _DROPPED
    if item is None or item == "" or item == [] or item == {}:
        return _DROPPED
    return item


def _pruned_dict(value: dict) -> dict:
    out = {}
    for key, item in value.items():
        item = _pruned_value(item)
        if item is not _DROPPED:
            out[key] = item
    return out


def _pruned_list(value: list) -> list:
    out = []
    for item in value:
        item = _pruned_value(item)
        if item is not _DROPPED:
            out.append(item)
    return out
