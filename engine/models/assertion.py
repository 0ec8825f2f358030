"""Assertion status of a condition mention: NegEx / ConText-style trigger rules.

The approach follows NegEx (Chapman et al., J Biomed Inform 2001;34:301-310) and its extension
ConText (Harkema et al., J Biomed Inform 2009;42:839-851): lexical trigger phrases with a direction
(before or after the mention), a scope that runs to a termination phrase or a word window, and
pseudo-triggers that look like triggers but are not ("no change in", "not only"). The trigger
lists here were written for this project. Labels, in order of precedence when several apply:

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
import re
from dataclasses import dataclass


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
    window: int  # max words between trigger and mention


def _t(label: Assertion, direction: str, window: int, *phrases: str) -> list[_Trigger]:
    """One combined pattern per trigger group, longest phrase first. Word-initial alternatives sit
    behind one word-start guard so the engine tries them only where a word begins (a scan of every
    alternative at every character was the slowest part of note mining)."""
    words, others = [], []
    for phrase in sorted(phrases, key=len, reverse=True):
        if phrase.startswith("(?<![\\w-])"):
            words.append(phrase[len("(?<![\\w-])"):])
        elif phrase.startswith("(?") or "\\" in phrase:
            others.append(phrase)
        elif phrase[0].isalnum():
            words.append(re.escape(phrase).replace(r"\ ", r"\s+") + r"(?![\w])")
        else:
            others.append(re.escape(phrase))
    parts = []
    if words:
        parts.append(r"(?<![\w-])(?=\w)(?:" + "|".join(words) + ")")
    parts += others
    return [_Trigger(label, direction, re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE), window)]


NEG, FAM, HIST, HYP = Assertion.NEGATED, Assertion.FAMILY, Assertion.HISTORICAL, Assertion.HYPOTHETICAL

TRIGGERS: list[_Trigger] = [
    # -- negation, before the mention
    *_t(NEG, "pre", 10, "no", "not", "denies", "denied", "deny", "denying", "without", "w/o", "never", "negative for",
        "neg for", "no evidence of", "no signs of", "no sign of", "no signs or symptoms of", "no history of", "free of",
        "absence of", "rules out", "excludes", "excluded", "not consistent with", "does not have", "did not have",
        "do not have", "not have", "did not show", "did not reveal", "does not meet criteria for", "no findings of",
        "non-", "negative"),
    # -- negation, after the mention
    *_t(NEG, "post", 5, "ruled out", "was ruled out", "is ruled out", "has been ruled out", "excluded", "was excluded",
        "unlikely", "is unlikely", "not present", "is not present", "not seen", "not suspected", "is not suspected",
        "nonreactive", "non-reactive", "not detected", "absent", "is absent", "not found", "was negative"),
    *_t(NEG, "post", 2, "negative"),
    # -- family (experiencer), before the mention
    *_t(FAM, "pre", 8, "family history", "family hx", "fhx", "fh", "family member", "mother", "mom", "father", "dad",
        "brother", "brothers", "sister", "sisters", "sibling", "siblings", "son", "sons", "daughter", "daughters",
        "child", "children", "aunt", "uncle", "cousin", "grandmother", "grandfather", "grandparent", "grandparents",
        "grandma", "grandpa", "parent", "parents", "maternal", "paternal", "nephew", "niece", "relative", "relatives",
        "first-degree relative"),
    # -- family, after the mention
    *_t(FAM, "post", 6, "runs in the family", "runs in his family", "runs in her family", "in the family",
        r"(?<![\w-])in\s+(?:his|her|their|a|the|several|both|two)?\s*(?:maternal\s+|paternal\s+)?"
        r"(?:mother|father|brother|sister|sibling|son|daughter|aunt|uncle|cousin|grandmother|grandfather|parents?|relatives?)s?\b",
        r"\(\s*(?:maternal\s+|paternal\s+)?(?:mother|father|brother|sister|son|daughter|aunt|uncle|grandmother|grandfather|parents?)\s*\)"),
    # -- hypothetical / not yet established, before the mention
    *_t(HYP, "pre", 10, "rule out", "to rule out", "r/o", "evaluate for", "evaluation for", "evaluated for", "assess for",
        "to assess for", "screen for", "screening for", "screening", "risk of", "risk for", "at risk", "high risk for",
        "prevent", "to prevent", "prevention of", "if", "should", "would", "could", "might", r"(?<![\w-])may\s+(?:have|be|develop|signal|represent|indicate|reflect|need)\b",
        "possible", "possibly", "probable", "probably", "likely", "suspect", "suspected", "suspicion of", "suspicious for",
        "concern for", "concerning for", "question of", "questionable", "consider", "differential includes",
        "differential diagnosis", "cannot exclude", "cannot rule out", "can't rule out", "to exclude", "check for",
        "monitor for", "watch for", "versus", "vs", "workup for", "work-up for"),
    *_t(HYP, "pre", 3, r"\?"),
    # -- hypothetical, after the mention
    *_t(HYP, "post", 5, "screening", "screen", "test offered", "offered", "is a possibility", "is possible",
        "is a consideration", "a consideration", "is suspected", "suspected", "to be ruled out", "not excluded",
        "versus", "vs", "workup", "work-up", "cannot be excluded"),
    *_t(HYP, "post", 1, r"\?"),
    # -- historical (resolved / past only), before the mention
    *_t(HIST, "pre", 6, "remote history of", "remote", "childhood", "previous", "previously", "prior", "former",
        "formerly", "past", "resolved", "outgrew", "history of gestational", "transient"),
    # -- historical, after the mention
    *_t(HIST, "post", 14, "resolved", "has resolved", "since resolved", "now resolved", "which resolved", "cured",
        "outgrown", r"(?<![\w-])in\s+(?:sustained\s+|full\s+|complete\s+|long[- ]term\s+)?remission(?!\s+on\b)",
        "none since", "none in", "none currently", "no recurrence", "no recurrences", "has not recurred",
        "in the past", "as a child", "as a teenager", "in childhood", "in infancy", "in adolescence",
        r"(?<![\w-])in\s+(?:his|her|their)\s+(?:teens|twenties|thirties|forties|fifties|youth)\b",
        "symptom free", "symptom-free", "cleared", "since cleared", "repleted", "corrected", "now normal",
        "now normoglycemic", "sober since", "full recovery", "recovered", "postpartum", "post-partum", "peripartum",
        "after delivery", "during pregnancy", "in pregnancy",
        r"(?<![\w-])in\s+(?:her\s+)?(?:first|second|third|last|prior|previous)?\s*pregnancy\b",
        r"(?<![\w-])quit\s+(?:in\s+\d{4}|\d+\s+(?:years?|months?)\s+ago|years\s+ago)",
        r"(?<![\w-])off\s+(?:all\s+)?(?:therapy|treatment|medications?|meds|anticoagulation|insulin|ppi|levothyroxine|[a-z]+\s+therapy)\b",
        "no symptoms as an adult"),
    *_t(HIST, "post", 2, "previously", "remote"),
]

# Look like triggers, are not: they neutralise any trigger they overlap.
def _phrase(phrase: str) -> re.Pattern:
    body = re.escape(phrase).replace(r"\ ", r"\s+")
    return re.compile(r"(?<![\w-])" + body + r"(?!\w)", re.IGNORECASE)


PSEUDO_TRIGGERS = [
    re.compile("|".join(_phrase(p).pattern for p in sorted((
        "no change", "no changes", "no significant change", "no increase", "no worsening", "no new", "no recent",
        "no further", "no exacerbation", "no exacerbations", "not only", "no longer", "not certain", "no need",
        "without difficulty", "gram negative", "not been able", "no bleeding", "past medical history", "past history",
        "no hypoglycemia", "not worse", "not improved", "no acute", "if needed", "as needed", "when needed",
        "evaluation underway", "family medicine", "family practice", "family physician",
    ), key=len, reverse=True)), re.IGNORECASE)
]

# Scope ends at these (ConText "termination" terms). Post-triggers also stop at them.
TERMINATION_COMMON = re.compile(r";|(?<![\w-])(?:but|however|although|though|yet|except|aside from|apart from|other than)(?!\w)", re.IGNORECASE)
TERMINATION_CLAUSE = re.compile(
    r"(?<![\w-])(?:which|who|whose|has|have|reports?|notes?|endorses?|admits?|presents?|complains?|positive for|now)(?!\w)",
    re.IGNORECASE,
)
TERMINATION_FAMILY = re.compile(r"(?<![\w-])(?:which|who|whose|patient|pt|he|she|reports?|endorses?)(?!\w)", re.IGNORECASE)

SECTION_FAMILY = {"family history"}

WORD = re.compile(r"[A-Za-z0-9]+")


def _terminated(label: Assertion, between: str) -> bool:
    if TERMINATION_COMMON.search(between):
        return True
    if label is Assertion.FAMILY:
        return bool(TERMINATION_FAMILY.search(between))
    if label in (Assertion.NEGATED, Assertion.HYPOTHETICAL):
        return bool(TERMINATION_CLAUSE.search(between))
    return False


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def classify(sentence: str, start: int, end: int, section: str | None = None) -> AssertionResult:
    """Assertion of the mention at sentence[start:end]."""
    if section in SECTION_FAMILY:
        return AssertionResult(Assertion.FAMILY, None, f"section: {section}")
    target = (start, end)
    pseudo = [m.span() for p in PSEUDO_TRIGGERS for m in p.finditer(sentence)]
    found: list[tuple[_Trigger, tuple[int, int], str]] = []
    for trig in TRIGGERS:
        for m in trig.pattern.finditer(sentence):
            span = m.span()
            if span[0] == span[1] or _overlaps(span, target) or any(_overlaps(span, p) for p in pseudo):
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
        if len(WORD.findall(between)) > trig.window or _terminated(trig.label, between):
            continue
        applied.setdefault(trig.label, (text.strip(), f"{kind}-{trig.label.value}"))
    for label in PRECEDENCE:
        if label in applied:
            text, rule = applied[label]
            return AssertionResult(label, text, rule)
    return AssertionResult(Assertion.AFFIRMED)


def sentence_assertion(sentence: str, section: str | None = None) -> AssertionResult:
    """Assertion of a sentence as a whole, for mentions found by meaning (no exact span).

    Conservative: any trigger anywhere in the sentence counts, whatever its direction or window,
    so a meaning-only match is kept only when nothing in the sentence qualifies it.
    """
    if section in SECTION_FAMILY:
        return AssertionResult(Assertion.FAMILY, None, f"section: {section}")
    pseudo = [m.span() for p in PSEUDO_TRIGGERS for m in p.finditer(sentence)]
    applied: dict[Assertion, str] = {}
    for trig in TRIGGERS:
        for m in trig.pattern.finditer(sentence):
            if m.start() != m.end() and not any(_overlaps(m.span(), p) for p in pseudo):
                applied.setdefault(trig.label, m.group(0).strip())
    for label in PRECEDENCE:
        if label in applied:
            return AssertionResult(label, applied[label], f"sentence-{label.value}")
    return AssertionResult(Assertion.AFFIRMED)
