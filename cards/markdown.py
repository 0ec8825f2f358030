"""Card detail in GitHub-flavoured markdown, within a budget a clinician reads in seconds.

A card's detail says, in at most ``DETAIL_MAX_LINES`` short lines and about ``DETAIL_MAX_CHARS`` characters: the result
with its category, a note (why two scores disagree, what to do next), the few inputs that drive it (value and date),
the criteria a suggested diagnosis meets, the recommendation with its guideline and strength
(``Finding.recommendation``) and one line of caveats. Nothing is cut mid-sentence: a line holds whole sentences or whole list items ("+3 more");
when the budget is short, whole lines go (caveats first). Only the record's own words (a quoted note sentence) may be
shortened, and the line says so. Everything else a finding carries - every input
with its source resource, missing inputs and why, term contributions, the method and the full citation - belongs to
the explainer page each card links to ("How this was calculated"), not to the card: resource ids, engine ids,
coefficient tables and journal citations never appear here.

Numbers are shown at the precision of their feature (``engine.feature_catalog`` ``display_decimals``): "eGFR 153",
"SBP 119 mmHg", "HbA1c 7.1 %", never "153.194" or "-0.000" - and never rounded across a threshold the engine used
(the feature's ``cut_points``, a finding's ``cut_points``): BMI 29.996, not obese, is "29.9", not "30.0".

``inputs_table`` and ``method_and_citation`` render the full evidence for pages that have room for it.
"""
from __future__ import annotations

import re
from datetime import date, datetime

from cards.escape import escape_markdown
from engine.feature_catalog import BOOLEAN, CATEGORY, FEATURES, feature_for_unit, feature_spec, threshold_safe_text
from engine.finding import Evidence, Finding, Kind, Recommendation, Status

DETAIL_MAX_LINES = 8
DETAIL_MAX_CHARS = 700
_LINE_MAX = 230  # one line of a card: about two lines of a 400-px wide card column
_INPUTS_MAX = _LINE_MAX + 60  # the "Based on" line may run a little longer
_BASED_ON = "**Based on:** "
_TEXT_VALUE_MAX = 60  # a longer text input is a passage of the record (a note sentence): counted, not shown
ACTION_LINE_MAX = 290  # a recommendation line with its reason: about three lines of the card column
_MAX_QUANTITIES = 6  # the inputs shown on a card; the explainer page lists all of them
_DEMOGRAPHICS = ("age_years", "sex", "race")


def _unit_decimals() -> dict[str, int]:
    """Display precision by unit, for numbers that name a unit but not a feature (measures, means): only the units
    whose features all agree (mmHg 0, mL/min/1.73m2 0, kg/m2 1); '%' is 1, as risks and HbA1c are shown."""
    seen: dict[str, set[int]] = {}
    for spec in FEATURES:
        if spec.unit and spec.display_decimals is not None:
            seen.setdefault(spec.unit, set()).add(spec.display_decimals)
    out = {unit: next(iter(d)) for unit, d in seen.items() if len(d) == 1}
    out["%"] = 1
    return out


UNIT_DECIMALS = _unit_decimals()


# -- numbers -----------------------------------------------------------------------------------------------------------
def number_text(value: float, *, name: str | None = None, unit: str | None = None,
                decimals: int | None = None, cut_points: tuple[float, ...] = ()) -> str:
    """A number at clinical precision: the feature's display precision, else the unit's, else at most one decimal
    (none from 100 up). Never '-0', and never rounded across a threshold the engine compared it with: the feature's
    (``name``, or the one feature measured in ``unit``: an eGFR result is compared at the eGFR cut points) and the
    finding's own ``cut_points`` (engine.feature_catalog.threshold_safe_text)."""
    spec = feature_spec(name) if name else feature_for_unit(unit)
    if decimals is None and spec is not None and spec.display_decimals is not None:
        decimals = spec.display_decimals
    if decimals is None and unit in UNIT_DECIMALS:
        decimals = UNIT_DECIMALS[unit]
    value = float(value)
    if decimals is None:
        decimals = 0 if value.is_integer() or abs(value) >= 100 else 1
    cuts = (*spec.cut_points, *cut_points) if spec is not None else tuple(cut_points)
    text = threshold_safe_text(value, decimals, cuts, spec.strict_cut_points if spec is not None else ())
    if float(text) == 0:
        text = text.lstrip("-")  # no "-0.0" on a card
    return text


# Compiled once: these run for every card (re's own cache would look each one up by its text at every call).
_MISSING_WORD = re.compile(r"\bmissing\b", re.IGNORECASE)
_FIRST_CLAUSE_END = re.compile(r"[:;] ")
_TRAILING_PARENTHESIS = re.compile(r"\(([^()]+)\)\s*$")
_SENTENCE_BREAK = re.compile(r"(?<!e\.g\.)(?<!i\.e\.)(?<=[.!?])\s+(?=[A-Z])")
_RESOURCE_REFERENCE = re.compile(r"\s*\(?\b[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}\)?:?\s*")

# -- computed findings -------------------------------------------------------------------------------------------------
def detail_markdown(finding: Finding) -> str:
    """The card detail of one finding: result, note, the record's words, the inputs that drive it, criteria met, the
    recommendation and caveats. When the budget is short, caveats go first, then criteria, then the inputs; the
    result, the note and the recommendation stay."""
    lines: list[tuple[str, int]] = []  # (line, priority: the lowest goes first when over budget)
    if finding.status is Status.COMPUTED:
        lines.append((_result_line(finding), 9))
    if finding.message:
        lines.append((whole_sentences(finding.message, _LINE_MAX, most=2), 8))
    lines += [(sentence, 7) for sentence in _measure_sentences(finding)]
    if finding.quote:  # the record's own words (a note sentence): shown literally, never as markdown or HTML
        lines.append((quote_line(finding.quote), 8))
    inputs = inputs_line(finding.inputs, limit=_INPUTS_MAX - len(_BASED_ON), quoted=finding.quote)
    if inputs:
        lines.append((_BASED_ON + inputs, 4))
    criteria = _criteria_line(finding)
    if criteria:
        lines.append((criteria, 3))
    if finding.recommendation is not None:
        lines.append((recommendation_line(finding.recommendation), 6))
    caveats = caveats_line(finding)
    if caveats:
        lines.append((caveats, 2))
    return within_budget_by_priority(lines)


def recommendation_line(recommendation: Recommendation) -> str:
    """'**Recommendation:** start a moderate-intensity statin — 2018 AHA/ACC cholesterol guideline, Class I'.

    One line: what to do, the guideline and its own grading; the recommendation's full citation is on the explainer
    page."""
    text = " ".join(recommendation.text.split()).rstrip(".")
    text = text[0].lower() + text[1:] if len(text) > 1 and text[1].islower() else text
    source = ", ".join(part for part in (recommendation.guideline, recommendation.strength) if part)
    return f"**Recommendation:** {escape_markdown(text)}" + (f" — {escape_markdown(source)}" if source else "")


def action_lines(treatments) -> list[str]:
    """What the guideline says to do, one line per treatment finding on a score's or diagnosis's card: "**Recommendation:**
    start a moderate-intensity statin — 2018 AHA/ACC cholesterol guideline, Class I, LOE A." and why, in its first
    sentence when the line has room (whole sentences only, never cut). At most two; the rest are on the explainer page."""
    lines = []
    for finding in treatments[:2]:
        if finding.recommendation is not None:
            head = recommendation_line(finding.recommendation)
        else:
            head = f"**{finding.title}:** {_value_text(finding.value, finding.unit, finding.decimals)}"
        why = _first_sentences(finding.message, 1) if finding.message else ""
        line = f"{head}. {why}".strip()
        lines.append(line if len(line) <= ACTION_LINE_MAX else f"{head}.")
    if len(treatments) > 2:
        lines.append(f"**Recommendation:** {len(treatments) - 2} more (see how this was calculated)")
    return lines


def also_found_lines(summaries: list[str]) -> list[str]:
    """Other findings about the same condition, merged into this card (one line each, at most two)."""
    shown = [f"**Also:** {s}" for s in summaries[:2]]
    if len(summaries) > 2:
        shown.append(f"**Also:** {len(summaries) - 2} more")
    return shown


def _result_line(finding: Finding) -> str:
    value = _value_text(finding.value, finding.unit, finding.decimals, finding.cut_points)
    text = f"**{value}**" + (f", {finding.category}" if finding.category else "")
    extras = [f"{m.label} {_value_text(m.value, m.unit)}" + (f" ({m.category})" if m.category else "")
              for m in finding.measures if m.sentence is None]
    # Secondary results while they fit the line, whole; all of them are on the explainer page.
    for extra in extras:
        if len(f"{text} · {extra}") > _LINE_MAX:
            break
        text += f" · {extra}"
    return text


def _measure_sentences(finding: Finding) -> list[str]:
    """Secondary results an engine words as a sentence ("About 1.0 major bleeds per 100 patient-years ...")."""
    # Escaped: a sentence may name star alleles ("*2/*17") or other characters markdown gives a meaning to.
    return [escape_markdown(m.sentence) for m in finding.measures if m.sentence] \
        if finding.status is Status.COMPUTED else []


def _value_text(value, unit: str | None, decimals: int | None = None, cut_points: tuple[float, ...] = ()) -> str:
    if isinstance(value, bool) or value is None:
        return "yes" if value else "—" if value is None else "no"
    if isinstance(value, (int, float)):
        if unit == "points" and value == 1:
            unit = "point"
        shown = number_text(value, unit=unit, decimals=decimals, cut_points=cut_points)
        return f"{shown} {unit}" if unit else shown
    return f"{value} {unit}" if unit else str(value)


def inputs_line(inputs, *, limit: int | None = None, quoted: str | None = None) -> str:
    """'Age 55, male · TC 213 mg/dL, HDL 50 mg/dL (2026-01-10) · on BP treatment · no: diabetes, current smoker'.

    Demographics first, then quantities (at most six, grouped by date), then the yes/no items that are present, then
    those recorded as absent. Evidence without a feature specification is shown by its label and value. Text the card
    already quotes (``quoted``) is not repeated, and longer passages of the record's text are counted, not shown
    (they are on the explainer page). Within ``limit`` characters, items are left out whole from the end of each
    list - absent items first, then present ones, then quantities - and counted ("+3 more"), never cut."""
    demographics, quantities, present, absent = [], [], [], []
    passages = 0
    for ev in _distinct(inputs):
        spec = feature_spec(ev.name)
        kind = spec.kind if spec is not None else None
        if ev.name in _DEMOGRAPHICS:
            demographics.append(f"age {number_text(ev.value, name=ev.name)}" if ev.name == "age_years"
                                else escape_markdown(str(ev.value)))
        elif isinstance(ev.value, bool) or kind == BOOLEAN:
            if ev.value is True:
                present.append(ev.label)
            elif ev.value is False:
                absent.append(_absent_label(ev.label))
        elif isinstance(ev.value, str) and kind != CATEGORY and (
                ev.value == quoted or len(ev.value) > _TEXT_VALUE_MAX):
            passages += ev.value != quoted  # the quoted sentence is on the card already
        elif kind == CATEGORY or isinstance(ev.value, str):
            quantities.append((f"{_short(ev)} {escape_markdown(str(ev.value))}", _day(ev.effective)))
        elif isinstance(ev.value, (int, float)):
            quantities.append((f"{_short(ev)} {_value_text_for(ev)}", _day(ev.effective)))
    shown = [min(len(quantities), _MAX_QUANTITIES), len(present), len(absent)]

    def line() -> str:
        parts = []
        if demographics:
            text = ", ".join(demographics)
            parts.append(text[0].upper() + text[1:])
        if quantities:
            parts.append(_grouped_by_date(quantities[:shown[0]]) + _more(len(quantities) - shown[0]))
        parts += present[:shown[1]]
        if len(present) > shown[1]:
            parts.append(f"+{len(present) - shown[1]} more")
        if absent and shown[2]:
            parts.append("no: " + ", ".join(absent[:shown[2]]) + _more(len(absent) - shown[2]))
        elif absent:
            parts.append(f"{len(absent)} more recorded as absent")
        if passages:
            parts.append(f"{passages} more passage{'s' if passages > 1 else ''} of the record")
        return " · ".join(parts)

    text = line()
    for position in (2, 1, 0):  # absent items go first, then present ones, then quantities
        while limit is not None and len(text) > limit and shown[position] > (1 if position == 0 else 0):
            shown[position] -= 1
            text = line()
    return text


def _distinct(inputs) -> list[Evidence]:
    """The inputs, leaving out each one whose text ``f"{name}|{value}|{effective}"`` was met before. The text is made
    only for a name met twice (a date's text costs more than the rest of the card line): when no name holds a '|',
    equal texts have equal names."""
    inputs = list(inputs)
    plain_names = all(isinstance(ev.name, str) and "|" not in ev.name for ev in inputs)
    out = []
    # By name (else all in one group): the group's first input, or the texts of all its inputs once it has two.
    groups: dict[str, Evidence | set[str]] = {}
    for ev in inputs:
        group = ev.name if plain_names else ""
        known = groups.get(group)
        if known is None:
            groups[group] = ev
            out.append(ev)
            continue
        if not isinstance(known, set):
            known = groups[group] = {_text_key(known)}
        key = _text_key(ev)
        if key not in known:
            known.add(key)
            out.append(ev)
    return out


def _text_key(ev: Evidence) -> str:
    return f"{ev.name}|{ev.value}|{ev.effective}"


def _more(count: int) -> str:
    return f" (+{count} more)" if count > 0 else ""


def _absent_label(label: str) -> str:
    """'On statin' -> 'statin', 'Current smoker' -> 'current smoker', 'Clinical ASCVD' -> 'clinical ASCVD'."""
    label = label.removeprefix("On ")
    return label[0].lower() + label[1:] if len(label) > 1 and label[1].islower() else label


def _short(ev: Evidence) -> str:
    spec = feature_spec(ev.name)
    return spec.short if spec is not None else ev.label


def _value_text_for(ev: Evidence) -> str:
    shown = number_text(ev.value, name=ev.name, unit=ev.unit)
    return f"{shown} {ev.unit}" if ev.unit else shown


def _grouped_by_date(items: list[tuple[str, str]]) -> str:
    """Consecutive results of one day share one date: 'TC 213 mg/dL, HDL 50 mg/dL (2026-01-10), SBP 120 mmHg'."""
    out: list[str] = []
    for i, (text, day) in enumerate(items):
        last_of_day = i + 1 == len(items) or items[i + 1][1] != day
        out.append(f"{text} ({day})" if day and last_of_day else text)
    return ", ".join(out)


def _criteria_line(finding: Finding) -> str:
    """The criteria a suggested diagnosis meets, by name; which results meet them is on the explainer page. A finding
    that quotes the record has none here: the quoted sentence is its criterion (the note engine's terms - matched
    text, method, counts - are audit detail for the explainer page)."""
    if finding.kind is not Kind.DIAGNOSIS or not finding.explanation or finding.quote:
        return ""
    if any(t.contribution is not None for t in finding.explanation):
        return ""
    return listed("**Criteria met:** ", [t.label for t in finding.explanation if t.label.strip()], _LINE_MAX, "; ")


_CALL_NOTICES = (
    ("belongs to a different patient", "1 record entry about another patient was skipped",
     "{n} record entries about another patient were skipped"),
    ("was not read", "1 note was not read in the hook's time", "{n} notes were not read in the hook's time"),
)


def caveats_line(finding: Finding) -> str:
    """One line: the first sentence of each assumption, and how many recorded values were not used."""
    items = [_first_sentences(a, 1).rstrip(".") for a in finding.assumptions]
    # A coded entry the terminology does not know, but whose text names a concept an engine reads (e.g. a local
    # code for "type 2 diabetes"), may mean the result is wrong: it is named on the card, without its resource id.
    unrecognised = [p for p in finding.input_problems if "unrecognised code" in p.reason]
    items = [_without_references(_first_sentences(p.reason, 1)).rstrip(".") for p in unrecognised[:1]] + items
    # What the pipeline left out of the whole call (a resource about another patient, a note not read in time) is
    # said on every card, counted, without the resource ids (they are on the explainer page).
    shown = list(unrecognised[:1])
    for phrase, singular, plural in _CALL_NOTICES:
        matching = [p for p in finding.input_problems if phrase in p.reason]
        if matching:
            items.insert(0, singular if len(matching) == 1 else plural.format(n=len(matching)))
            shown += matching
    problems = len(finding.input_problems) - len(shown)
    if problems:
        items.append(f"{problems} recorded value{'s' if problems > 1 else ''} not used (see how this was calculated)")
    if not items:
        return ""
    return listed("**Caveats:** ", items, _LINE_MAX, "; ")


# -- several findings on one card ---------------------------------------------------------------------------------------
def insufficient_markdown(findings: list[Finding]) -> str:
    """The 'data needed' card: what was not computed, then each missing input once, with why and for what."""
    names = [short_title(f) for f in findings]
    lines = [listed("**Not computed:** ", names, _LINE_MAX + 60, ", ")]
    needed: dict[str, tuple[str, list[str]]] = {}
    for f, name in zip(findings, names):
        for m in f.missing:
            reason, users = needed.setdefault(m.label, (m.reason, []))
            if name not in users:
                users.append(name)
    notes = []
    for f, name in zip(findings, names):
        # The engine's message beyond what the rows say (e.g. "LDL-C >= 190 mg/dL: statin without risk estimation")
        # stays visible; a sentence that only names the missing inputs again ("Cannot compute: missing UACR.",
        # "Cannot place on the KDIGO heat map: missing UACR.") does not.
        extra = [s for s in _sentences(f.message or "") if not _names_missing(s, f)]
        if extra:
            notes.append(f"- {name}: {extra[0]}")
    rows = [_missing_row(label, reason, users if len(findings) > 1 else [])
            for label, (reason, users) in needed.items()]
    room = DETAIL_MAX_LINES - 1 - min(len(notes), 2)
    if len(rows) > room:
        rows = rows[: room - 1] + [f"- and {len(rows) - room + 1} more (see how this was calculated)"]
    return within_budget(lines + rows + notes[:2])


def _names_missing(sentence: str, finding: Finding) -> bool:
    return bool(finding.missing) and _MISSING_WORD.search(sentence) is not None and all(
        m.label in sentence for m in finding.missing)


def _missing_row(label: str, reason: str, users: list[str]) -> str:
    """'- **eGFR** — no eGFR result in the last year (for AHA PREVENT)': the reason's clauses while they fit,
    whole."""
    head = f"- **{label}** — "
    tail = f" (for {', '.join(users)})" if users else ""
    clauses = [c for c in reason.split("; ") if c]
    text = clauses[0] if clauses else ""
    for clause in clauses[1:]:
        if len(head + text + "; " + clause + tail) > _LINE_MAX:
            break
        text += "; " + clause
    return head + text + tail


def not_applicable_markdown(findings: list[Finding]) -> str:
    """One row per score with why it does not apply: its reason's first sentence, whole; when the rows do not all
    fit, each reason's first clause ("Atrial fibrillation or flutter is not recorded"), then the names alone (every
    reason is on the explainer page)."""
    shown = findings[:DETAIL_MAX_LINES - 1] if len(findings) > DETAIL_MAX_LINES else findings
    more = [f"- and {len(findings) - len(shown)} more"] if len(shown) < len(findings) else []

    def rows(level: int) -> list[str]:
        out = []
        for f in shown:
            reason = _first_sentences(f.message or "Not applicable to this patient.", 1)
            if level == 1:
                reason = _FIRST_CLAUSE_END.split(reason, maxsplit=1)[0].rstrip(".") + "."
            out.append(f"- **{short_title(f)}**" + (f" — {reason}" if level < 2 else ""))
        return out + more

    for level in (0, 1):
        candidate = rows(level)
        if len("\n\n".join(candidate)) <= DETAIL_MAX_CHARS:
            return "\n\n".join(candidate)
    return within_budget(rows(2))


def short_title(finding: Finding) -> str:
    """'10-year ASCVD risk (Pooled Cohort Equations)' -> 'Pooled Cohort Equations': the name a clinician knows."""
    match = _TRAILING_PARENTHESIS.search(finding.title)
    return match.group(1) if match else finding.title


# -- the budget --------------------------------------------------------------------------------------------------------
def within_budget(lines: list[str]) -> str:
    """Join card lines, keeping at most DETAIL_MAX_LINES and DETAIL_MAX_CHARS (the last lines go first). Lines are
    left out whole: a clinical sentence is never cut."""
    lines = [line for line in lines if line][:DETAIL_MAX_LINES]
    while len(lines) > 1 and len("\n\n".join(lines)) > DETAIL_MAX_CHARS:
        lines.pop()
    return "\n\n".join(lines)


def within_budget_by_priority(lines: list[tuple[str, int]]) -> str:
    """Like ``within_budget``, but the line of lowest priority goes first (the last of equals), order kept."""
    kept = [(line, priority) for line, priority in lines if line]

    def over() -> bool:
        return len(kept) > DETAIL_MAX_LINES or len("\n\n".join(line for line, _ in kept)) > DETAIL_MAX_CHARS

    while len(kept) > 1 and over():
        lowest = min(priority for _, priority in kept)
        del kept[max(i for i, (_, priority) in enumerate(kept) if priority == lowest)]
    return "\n\n".join(line for line, _ in kept)


def listed(head: str, items: list[str], limit: int, separator: str) -> str:
    """``head`` and the items, as many whole ones as fit in ``limit`` (at least one), then '+N more'."""
    if not items:
        return ""
    text = head + items[0]
    for i, item in enumerate(items[1:], start=1):
        rest = len(items) - i - 1
        more = f"{separator}+{rest} more" if rest else ""
        if len(text + separator + item + more) > limit:
            return text + f"{separator}+{len(items) - i} more"
        text += separator + item
    return text


def whole_sentences(text: str, limit: int, most: int = 2) -> str:
    """The first ``most`` sentences of ``text`` while they fit in ``limit``; the first is kept whole even when longer
    (a clinical sentence is never cut: an engine writes short ones)."""
    sentences = _sentences(text)
    out = sentences[:1]
    for sentence in sentences[1:most]:
        if len(" ".join(out + [sentence])) > limit:
            break
        out.append(sentence)
    return " ".join(out)


QUOTE_SHORTENED = "(quote shortened; in full on the explainer page)"


def quote_line(quote: str, limit: int = _LINE_MAX) -> str:
    """The record's words as a block quote, escaped. A long sentence is cut at a word and says so: the only text a
    card shortens, as it is the record's, not a clinical statement of the service."""
    text = " ".join(quote.split())
    if len(text) <= limit:
        return "> " + escape_markdown(text)
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return "> " + escape_markdown(cut) + "… " + QUOTE_SHORTENED


def _sentences(text: str) -> list[str]:
    """Sentences (a period followed by a space and a capital letter ends one; not after e.g. or i.e.)."""
    text = " ".join(text.split())
    return [part for part in _SENTENCE_BREAK.split(text) if part] if text else []


def first_sentences(text: str, count: int) -> str:
    """The first ``count`` sentences of a finding's text, as a card shows them."""
    return _first_sentences(text, count)


def _first_sentences(text: str, count: int) -> str:
    """The first ``count`` sentences."""
    return " ".join(_sentences(text)[:count])


def _without_references(text: str) -> str:
    """'Condition/c1: unrecognised code ...' -> 'unrecognised code ...': no resource ids on a card."""
    return _RESOURCE_REFERENCE.sub(" ", text).strip()


def _day(value) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return ""


# -- the full evidence, for pages with room for it (the explainer page) ------------------------------------------------
def inputs_table(inputs) -> str:
    rows = ["| Input | Value | Unit | Date | Source |", "|---|---|---|---|---|"]
    for ev in inputs:
        rows.append(f"| {ev.label} | {_fmt(ev)} | {ev.unit or ''} | {_day(ev.effective)} | {_source(ev)} |")
    return "\n".join(rows)


def method_and_citation(finding: Finding) -> str:
    c = finding.citation
    lines = []
    if finding.method:
        lines.append(f"**Method:** {finding.method}")
    ref = c.full
    if c.doi:
        ref += f" doi:{c.doi}"
    if c.url:
        ref += f" <{c.url}>"
    lines.append(f"**Source:** {ref}")
    lines.append(f"_Engine {finding.engine_id} v{finding.engine_version}._")
    return "\n\n".join(lines)


def _source(ev: Evidence) -> str:
    if ev.source:
        text = ev.source
    elif ev.derived_from:
        text = "derived from " + ", ".join(d.label for d in ev.derived_from)
    else:
        text = ""
    if ev.note:
        text = f"{text} ({ev.note})" if text else ev.note
    return escape_markdown(text)  # a source note can hold the record's words (a matched phrase of a note)


def _fmt(ev: Evidence) -> str:
    if isinstance(ev.value, bool):
        return "yes" if ev.value else "no"
    if isinstance(ev.value, (int, float)):
        return number_text(ev.value, name=ev.name, unit=ev.unit)
    return "" if ev.value is None else escape_markdown(str(ev.value))  # text values come from the record: untrusted

