"""Assertion status of a condition mention: NegEx / ConText-style trigger rules.

The approach follows NegEx (Chapman et al., J Biomed Inform 2001;34:301-310) and its extension
ConText (Harkema et al., J Biomed Inform 2009;42:839-851): lexical trigger phrases with a direction
(before or after the mention), a scope that runs to a termination phrase or a word window, and
pseudo-triggers that look like triggers but are not ("no change in", "not only"). The rules are data,
written for this project: engine/data/note_assertion_rules.json (triggers, concept-specific triggers such as
"SVR12" for hepatitis C, pseudo-triggers, termination terms), read once at import. Labels, in order of precedence when several apply:

    family        the condition is about a relative (experiencer is not the patient)
    negated       the patient does not have it
    hypothetical  not asserted: to be ruled out, screened for, possible, risk of, if ...
    historical    it existed and has resolved (resolved, cured, as a child, in remission for years)
    affirmed      the patient has it now

"History of X" is deliberately *not* historical: for the chronic conditions mined here
("history of hypertension") it documents a current problem. Only explicit resolution or a
past-only time frame makes a mention historical. See docs/models.md for the labelling guide.
"""
from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass

from engine.models.settings import DATA_DIR


class Assertion(str, enum.Enum):
    AFFIRMED = "affirmed"
    NEGATED = "negated"
    FAMILY = "family"
    HISTORICAL = "historical"
    HYPOTHETICAL = "hypothetical"


PRECEDENCE = (Assertion.FAMILY, Assertion.NEGATED, Assertion.HYPOTHETICAL, Assertion.HISTORICAL)


@dataclass(frozen=True)
class AssertionResult:
    label: Assertion
    trigger: str | None = None  # the phrase that decided it
    rule: str | None = None  # e.g. "pre-negation", "section: family history"


@dataclass(frozen=True)
class _Trigger:
    label: Assertion
    direction: str  # "pre" (applies to mentions after it) | "post" | "both"
    pattern: re.Pattern
    window: int  # max words between trigger and mention; 0: only spaces or hyphens between


RULES_PATH = DATA_DIR / "note_assertion_rules.json"
WORD_START = "(?<![\\w-])"


def _phrase_body(phrase: str) -> str:
    return re.escape(phrase).replace(r"\ ", r"\s+")


def _group(label: Assertion, direction: str, window: int, phrases: list[str], patterns: list[str]) -> _Trigger:
    """One combined pattern per trigger group, longest phrase first. Word-initial alternatives sit behind one
    word-start guard so the engine tries them only where a word begins (a scan of every alternative at every
    character was the slowest part of note mining)."""
    words, others = [], []
    for phrase in sorted(phrases, key=len, reverse=True):
        if phrase[0].isalnum():
            words.append(_phrase_body(phrase) + r"(?![\w])")
        else:
            others.append(re.escape(phrase))
    for pattern in patterns:
        if pattern.startswith(WORD_START):
            words.append(pattern[len(WORD_START):])
        else:
            others.append(pattern)
    parts = [WORD_START + r"(?=\w)(?:" + "|".join(words) + ")"] if words else []
    parts += others
    return _Trigger(label, direction, re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE), window)


def _triggers(groups: list[dict]) -> list[_Trigger]:
    return [_group(Assertion(g["label"]), g["direction"], int(g["window"]), g.get("phrases", []), g.get("patterns", []))
            for g in groups]


def _terms(words: list[str]) -> re.Pattern:
    symbols = [re.escape(w) for w in words if not w[0].isalnum()]
    phrases = [_phrase_body(w) for w in sorted((w for w in words if w[0].isalnum()), key=len, reverse=True)]
    alternatives = symbols + ([WORD_START + "(?:" + "|".join(phrases) + r")(?!\w)"] if phrases else [])
    return re.compile("|".join(alternatives), re.IGNORECASE)


_RULES = json.loads(RULES_PATH.read_text(encoding="utf-8"))
RULES_VERSION = str(_RULES["version"])
PRECEDENCE = tuple(Assertion(label) for label in _RULES["precedence"])
TRIGGERS: list[_Trigger] = _triggers(_RULES["triggers"])
CONCEPT_TRIGGERS: dict[str, list[_Trigger]] = {cid: _triggers(groups) for cid, groups in _RULES["concept_triggers"].items()}
# Look like triggers, are not: they neutralise the triggers they overlap ("no" in "no longer", "not" in "not only").
PSEUDO_TRIGGERS = [_terms(_RULES["pseudo_triggers"])]
# Scope ends at these (ConText "termination" terms). Post-triggers also stop at them.
TERMINATION_COMMON = _terms(_RULES["termination"]["common"])
TERMINATION_CLAUSE = _terms(_RULES["termination"]["clause"])
TERMINATION_FAMILY = _terms(_RULES["termination"]["family"])
SECTION_FAMILY = frozenset(_RULES["family_sections"])
PATIENT_SUBJECT = re.compile(r"^\W*(?:" + _terms(_RULES["family_section_patient_subjects"]["phrases"]).pattern + ")",
                             re.IGNORECASE)

WORD = re.compile(r"[A-Za-z0-9]+")
ONLY_JOINERS = re.compile(r"[\s-]*")


def _terminated(label: Assertion, between: str) -> bool:
    if TERMINATION_COMMON.search(between):
        return True
    if label is Assertion.FAMILY:
        return bool(TERMINATION_FAMILY.search(between))
    if label in (Assertion.NEGATED, Assertion.HYPOTHETICAL):
        return bool(TERMINATION_CLAUSE.search(between))
    return False


def _in_scope(trig: _Trigger, between: str) -> bool:
    if trig.window == 0:
        return bool(ONLY_JOINERS.fullmatch(between))
    return len(WORD.findall(between)) <= trig.window and not _terminated(trig.label, between)


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _neutralised(trigger: tuple[int, int], pseudo: list[tuple[int, int]]) -> bool:
    """A pseudo-trigger neutralises the triggers it overlaps ("no" in "no longer", "prevention of" in "secondary
    prevention of"), not a longer trigger that contains it ("no longer meets criteria for")."""
    return any(_overlaps(trigger, p) and not (trigger[0] <= p[0] and p[1] <= trigger[1] and trigger != p)
               for p in pseudo)


def _family_by_section(sentence: str, section: str | None) -> bool:
    return section in SECTION_FAMILY and not PATIENT_SUBJECT.match(sentence)


def _triggers_for(concept_id: str | None) -> list[_Trigger]:
    return TRIGGERS + CONCEPT_TRIGGERS.get(concept_id or "", [])


def classify(sentence: str, start: int, end: int, section: str | None = None,
             concept_id: str | None = None) -> AssertionResult:
    """Assertion of the mention at sentence[start:end] (of concept ``concept_id``, whose own triggers then apply)."""
    if _family_by_section(sentence, section):
        return AssertionResult(Assertion.FAMILY, None, f"section: {section}")
    target = (start, end)
    pseudo = [m.span() for p in PSEUDO_TRIGGERS for m in p.finditer(sentence)]
    found: list[tuple[_Trigger, tuple[int, int], str]] = []
    for trig in _triggers_for(concept_id):
        for m in trig.pattern.finditer(sentence):
            span = m.span()
            if span[0] == span[1] or _overlaps(span, target) or _neutralised(span, pseudo):
                continue
            found.append((trig, span, m.group(0)))
    # A trigger inside a longer trigger is part of it ("to exclude" is not "exclude").
    found = [f for f in found if not any(
        g is not f and g[1][0] <= f[1][0] and f[1][1] <= g[1][1] and (g[1][1] - g[1][0]) > (f[1][1] - f[1][0])
        for g in found)]
    applied: dict[Assertion, tuple[str, str]] = {}
    for trig, span, text in found:
        if trig.direction in ("pre", "both") and span[1] <= start:
            between = sentence[span[1]:start]
            kind = "pre"
        elif trig.direction in ("post", "both") and span[0] >= end:
            between = sentence[end:span[0]]
            kind = "post"
        else:
            continue
        if not _in_scope(trig, between):
            continue
        applied.setdefault(trig.label, (text.strip(), f"{kind}-{trig.label.value}"))
    for label in PRECEDENCE:
        if label in applied:
            text, rule = applied[label]
            return AssertionResult(label, text, rule)
    return AssertionResult(Assertion.AFFIRMED)


def sentence_assertion(sentence: str, section: str | None = None, concept_id: str | None = None) -> AssertionResult:
    """Assertion of a sentence as a whole, for mentions found by meaning (no exact span).

    Conservative: any trigger anywhere in the sentence counts, whatever its direction or window,
    so a meaning-only match is kept only when nothing in the sentence qualifies it.
    """
    if _family_by_section(sentence, section):
        return AssertionResult(Assertion.FAMILY, None, f"section: {section}")
    pseudo = [m.span() for p in PSEUDO_TRIGGERS for m in p.finditer(sentence)]
    applied: dict[Assertion, str] = {}
    for trig in _triggers_for(concept_id):
        for m in trig.pattern.finditer(sentence):
            if m.start() != m.end() and not _neutralised(m.span(), pseudo):
                applied.setdefault(trig.label, m.group(0).strip())
    for label in PRECEDENCE:
        if label in applied:
            return AssertionResult(label, applied[label], f"sentence-{label.value}")
    return AssertionResult(Assertion.AFFIRMED)
