"""What kind of question it is, and what it is about.

Question types (``Intent.type``):

- ``value``: the latest result of a test or vital sign ("What was her last A1c?");
- ``trend``: the results over time ("eGFR trend over the past year");
- ``medication`` / ``medication_list`` / ``dose``: is the patient on a drug or class, which ones, at what dose;
- ``problem`` / ``problem_list``: is a condition on the problem list;
- ``allergy`` / ``allergy_list``; ``procedure`` / ``procedure_list``; ``immunization`` / ``immunization_list``;
- ``smoking``: the coded smoking status;
- ``guideline``: what a guideline says (no patient in it: "At what A1c is diabetes diagnosed?");
- ``guideline_patient``: a guideline statement applied to this patient ("LDL goal for this patient");
- ``action``: a request to do something (book, order, write): refused, this service only answers;
- ``unknown``: nothing recognised; the caller tries the guideline text and refuses when nothing is close.

Rules, not a model: the targets come from the vocabulary (vocabulary.py), the type from cue words in the data file
(``cues``) and the kinds of the targets. A question is never given the answer of another type: a dose question about
a drug reads only the medication list, never a lab.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from engine.models.record_qa.vocabulary import (
    ALLERGEN,
    CONDITION,
    DRUG,
    DRUG_CLASS,
    KIND_ORDER,
    OBSERVATION,
    PROCEDURE,
    VACCINE,
    Mention,
    Target,
    Vocabulary,
    find_mentions,
    tokens,
)

_YEAR = re.compile(r"\b(?:in|during|from|of)\s+((?:19|20)\d{2})\b", re.IGNORECASE)
LIST_OPENERS = frozenset({"what", "which", "list", "name", "show"})
# Words that only lead into a request ("can you please book ...").
_REQUEST_LEAD = frozenset({"can", "could", "would", "will", "you", "please", "i", "want", "to", "need", "we", "kindly"})
# Words around a free term that are not the term ("is she taking levothyroxine" -> "levothyroxine").
_FILLER = frozenset(tokens(
    "a an the any some ever history of for currently still now been being on taking take takes using use uses have "
    "has had get got received receive she he her his him they their patient pt is does did do was were are there "
    "record chart in at all known medication medications drug drugs and or with today done undergone underwent "
    "prescribed this that my your mr mrs ms what whats when which how level levels value result results latest last "
    "most recent current reading measured lab labs placed put inserted implanted show me tell about please"))
_MEDICATION_VERBS = frozenset(tokens("taking take takes on using use uses prescribed receiving"))
_PROCEDURE_VERBS = frozenset(tokens("had undergone underwent placed inserted implanted done"))
_PROBLEM_VERBS = frozenset(tokens("have has history diagnosed suffer suffers still"))
_PAST_WORDS = frozenset(tokens("had history ever past prior previous previously been"))
_LATEST_WORDS = frozenset(tokens("last latest most recent recently when"))


@dataclass(frozen=True)
class Intent:
    type: str
    targets: tuple[Target, ...] = ()
    mentions: tuple[Mention, ...] = ()
    about_patient: bool = False
    window: str | None = None  # "season", "year_to_date", "year:2023" or a number of days
    free_term: str | None = None  # a word the vocabulary does not know, searched as text ("levothyroxine")
    indication: Target | None = None  # "what is he taking for gout": the condition the medications are for
    past: bool = False  # "has she had ..." / "history of ...": resolved entries count
    latest: bool = False  # "when was her last ...": the latest entry answers it
    category: str | None = None  # allergy lists: "medication" or "food"

    @property
    def target(self) -> Target | None:
        return self.targets[0] if self.targets else None


def _has(words: tuple[str, ...], cue: tuple[str, ...]) -> bool:
    n = len(cue)
    return n > 0 and any(words[i:i + n] == cue for i in range(len(words) - n + 1))


def _cue(words: tuple[str, ...], vocab: Vocabulary, name: str) -> bool:
    return any(_has(words, cue) for cue in vocab.cues.get(name, ()))


def classify(question: str, vocab: Vocabulary) -> Intent:
    words = tokens(question)
    mentions = tuple(find_mentions(question, vocab))
    cue = {name: _cue(words, vocab, name) for name in vocab.cues}
    about_patient = cue.get("patient", False)
    window = next((v for k, v in sorted(vocab.time_windows.items(), key=lambda kv: -len(kv[0])) if _has(words, k)),
                  None)
    year = _YEAR.search(question)
    if year:
        window = f"year:{year.group(1)}"
    past = bool(_PAST_WORDS & set(words))
    latest = bool(_LATEST_WORDS & set(words))
    common = dict(mentions=mentions, about_patient=about_patient, window=window, past=past, latest=latest)

    lead = [w for w in words if w not in _REQUEST_LEAD]
    if lead and any(lead[:1] == list(c) for c in vocab.cues.get("action", ()) if len(c) == 1):
        return Intent("action", **common)

    immunization = cue["immunization"]
    allergy = cue["allergy"]
    targets = _choose_targets(mentions, immunization=immunization, allergy=allergy)
    kinds = {t.kind for t in targets}
    guideline = cue["guideline"]
    opener = words[0] if words else ""

    def of(*wanted: str) -> tuple[Target, ...]:
        return tuple(t for t in targets if t.kind in wanted)

    if cue["smoking"] and not (guideline and not about_patient):
        return Intent("guideline_patient" if guideline else "smoking", **common)
    if VACCINE in kinds:
        return Intent("immunization", of(VACCINE), **common)
    if immunization and not kinds:
        return Intent("immunization_list", **common)
    if allergy:
        allergens = of(ALLERGEN, DRUG, DRUG_CLASS)
        if allergens:
            return Intent("allergy", allergens, **common)
        category = "medication" if {"drug", "medication", "medicine"} & set(words) else (
            "food" if "food" in words else None)
        return Intent("allergy_list", category=category, **common)
    if CONDITION in kinds and not kinds & {DRUG, DRUG_CLASS} and "for" in words and (
            _MEDICATION_VERBS & set(words) or cue["plural_medication"]) and not guideline:
        return Intent("medication_list", indication=of(CONDITION)[0], **common)
    if kinds & {DRUG, DRUG_CLASS}:
        drugs = of(DRUG, DRUG_CLASS)
        if cue["dose"]:
            return Intent("dose", drugs, **common)
        if guideline:
            return Intent("guideline_patient" if about_patient else "guideline", targets, **common)
        if opener in LIST_OPENERS and DRUG_CLASS in kinds:
            return Intent("medication_list", drugs, **common)
        return Intent("medication", drugs, **common)
    if OBSERVATION in kinds:
        if guideline:
            return Intent("guideline_patient" if about_patient else "guideline", targets, **common)
        observations = of(OBSERVATION)
        if cue["trend"]:
            return Intent("trend", observations, **common)
        return Intent("value", observations, **common)
    if PROCEDURE in kinds:
        if guideline:
            return Intent("guideline_patient" if about_patient else "guideline", targets, **common)
        return Intent("procedure", of(PROCEDURE), **common)
    if CONDITION in kinds:
        if guideline:
            return Intent("guideline_patient" if about_patient else "guideline", targets, **common)
        return Intent("problem", of(CONDITION), **common)
    # Nothing the vocabulary knows.
    if cue["plural_medication"] and (opener in LIST_OPENERS or "list" in words or "current" in words):
        return Intent("medication_list", **common)
    if cue["problem_list"] and opener in LIST_OPENERS | {"does", "do", "any"}:
        return Intent("problem_list", **common)
    if {"procedure", "surgery", "operation"} & set(words) and opener in LIST_OPENERS:
        return Intent("procedure_list", **common)
    free, kind = _free_term(words, cue.get("value", False))
    if free and about_patient and not guideline:
        if kind == "medication" and opener in LIST_OPENERS:
            kind = "medication_list"
        return Intent(kind, free_term=free, **common)
    return Intent("unknown", **common)


def _choose_targets(mentions: tuple[Mention, ...], *, immunization: bool, allergy: bool) -> tuple[Target, ...]:
    """One reading per mention: a vaccine only beside a vaccine word, a drug as an allergen beside an allergy word,
    otherwise the most specific kind; conditions that mean the same value sets are kept once."""
    out: list[Target] = []
    for mention in mentions:
        candidates = [t for t in mention.targets if immunization or not t.needs_cue]
        if immunization and any(t.kind == VACCINE for t in candidates):
            candidates = [t for t in candidates if t.kind == VACCINE]
        elif allergy and any(t.kind in (ALLERGEN, DRUG, DRUG_CLASS) for t in candidates):
            candidates = [t for t in candidates if t.kind in (ALLERGEN, DRUG, DRUG_CLASS)]
        if not candidates:
            continue
        best = min(candidates, key=lambda t: KIND_ORDER.index(t.kind))
        chosen = [t for t in candidates if t.kind == best.kind]
        for target in chosen[:1] if best.kind == CONDITION else chosen:
            if target not in out:
                out.append(target)
    return tuple(out)


def _free_term(words: tuple[str, ...], value_cue: bool) -> tuple[str | None, str]:
    """A word the vocabulary does not know, after a record verb: ("levothyroxine", "medication")."""
    present = set(words)
    if _MEDICATION_VERBS & present:
        kind = "medication"
    elif _PROCEDURE_VERBS & present:
        kind = "procedure"
    elif _PROBLEM_VERBS & present:
        kind = "problem"
    else:
        kind = "value" if value_cue else "problem"
    rest = [w for w in words if w not in _FILLER and not w.isdigit()]
    if not rest or len(rest) > 3:
        return None, kind
    return " ".join(rest), kind
