"""What kind of question it is, and what it is about.

Question types (``Intent.type``):

- ``value``: the latest result of a test or vital sign ("What was her last A1c?");
- ``trend``: the results over time ("eGFR trend over the past year");
- ``medication`` / ``medication_list`` / ``dose``: is the patient on a drug or class, which ones, at what dose;
- ``problem`` / ``problem_list``: is a condition on the problem list;
- ``allergy`` / ``allergy_list``; ``procedure`` / ``procedure_list``; ``immunization`` / ``immunization_list``;
- ``smoking``: the coded smoking status;
- ``guideline``: what a guideline says (no patient in it: "At what A1c is diabetes diagnosed?");
- ``guideline_patient``: a guideline statement applied to this patient ("LDL goal for this patient"), and every
  judgement question (need / due / should / allow / too high / OK for: "Does he need a statin?", "Is she due for a
  colonoscopy?", "Is her potassium too high for spironolactone?"): the applicable statement with the patient's facts;
- ``drug_safety``: may a drug be given ("Can she take amoxicillin?", "Is it safe to give him aspirin?"): the
  recorded allergies are checked first, class cross-reactivity included, and lead the answer;
- ``score``: a risk score ("10-year ASCVD risk", "CHA2DS2-VASc"): the project's calculator on the record;
- ``judgement``: a judgement about the patient that no guideline statement covers: refused, saying so;
- ``action``: a request to do something (book, order, write, change a dose): refused, this service only answers;
- ``unknown``: nothing recognised; the caller tries the guideline text and refuses when nothing is close.

Rules, not a model: the targets come from the vocabulary (vocabulary.py), the type from cue words in the data file
(``cues``) and the kinds of the targets. A question is never given the answer of another type: a dose question about
a drug reads only the medication list, never a lab. The time asked about ("in June 2024", "in the last 5 years") is
read by when.py; a time-like phrase it cannot read is kept (``time_unread``) so the answer says it was not applied.
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
    SCORE,
    VACCINE,
    Mention,
    Target,
    Vocabulary,
    find_mentions,
    tokens,
)
from engine.models.record_qa.when import TimeAsked, parse_time

LIST_OPENERS = frozenset({"what", "which", "list", "name", "show"})
# Words that only lead into a request ("can you please book ...").
_REQUEST_LEAD = frozenset({"can", "could", "would", "will", "you", "please", "i", "want", "to", "need", "we", "kindly"})
# Words around a free term that are not the term ("is she taking levothyroxine" -> "levothyroxine").
_FILLER = frozenset(tokens(
    "a an the any some ever history of for currently still now been being on taking take takes using use uses have "
    "has had get got received receive she he her his him they their patient pt is does did do was were are there "
    "record chart in at all known medication medications drug drugs and or with today done undergone underwent "
    "prescribed this that my your mr mrs ms what whats when which how level levels value result results latest last "
    "most recent current reading measured lab labs placed put inserted implanted show me tell about please dose doses "
    "dosage dosing mg"))
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
    window: TimeAsked | None = None  # the time asked about (when.py); None: the whole record
    time_unread: str | None = None  # a time-like phrase that could not be read ("3 months ago"): said, not dropped
    free_term: str | None = None  # a word the vocabulary does not know, searched as text ("levothyroxine")
    indication: Target | None = None  # "what is he taking for gout": the condition the medications are for
    past: bool = False  # "has she had ..." / "history of ...": resolved entries count
    latest: bool = False  # "when was her last ...": the latest entry answers it
    category: str | None = None  # allergy lists: "medication" or "food"
    asks_dose: bool = False  # a dose is asked for (drug safety questions: "Can we give him aspirin 81 mg?")
    dose_advice: bool = False  # a change of dose is asked about ("Should I increase her lisinopril dose?")
    judgement: bool = False  # need / due / should / allow / too high / OK: a judgement, answered by a guideline
    topic: str | None = None  # a topic the question names without a target ("Should he stop smoking?": tobacco)

    @property
    def target(self) -> Target | None:
        return self.targets[0] if self.targets else None


def _has(words: tuple[str, ...], cue: tuple[str, ...]) -> bool:
    n = len(cue)
    return n > 0 and any(words[i:i + n] == cue for i in range(len(words) - n + 1))


def _cue(words: tuple[str, ...], vocab: Vocabulary, name: str) -> bool:
    return any(_has(words, cue) for cue in vocab.cues.get(name, ()))


def classify(question: str, vocab: Vocabulary,
             extra_terms: dict[tuple[str, ...], list[Target]] | None = None) -> Intent:
    """The type and targets of ``question``; ``extra_terms``: drugs named by this record's medication text
    (vocabulary.record_drug_terms)."""
    words = tokens(question)
    mentions = tuple(find_mentions(question, vocab, extra=extra_terms))
    cue = {name: _cue(words, vocab, name) for name in vocab.cues}
    about_patient = cue.get("patient", False)
    window, unread = parse_time(question, vocab.time_windows)
    opener = words[0] if words else ""
    # "Did he have a kidney stone?", "Was he on warfarin?", "Was he diagnosed with ...": past entries count.
    diagnosed_with = about_patient and (_has(words, ("diagnosed", "with")) or _has(words, ("diagnosis", "of")))
    past = bool(_PAST_WORDS & set(words)) or opener in _words(vocab, "past_openers") or diagnosed_with
    latest = bool(_LATEST_WORDS & set(words))
    dose = cue["dose"]
    dose_change = cue.get("dose_change", False)
    common = dict(mentions=mentions, about_patient=about_patient, window=window, time_unread=unread, past=past,
                  latest=latest, asks_dose=dose or dose_change, dose_advice=dose_change)

    immunization = cue["immunization"]
    allergy = cue["allergy"]
    targets = _choose_targets(mentions, immunization=immunization, allergy=allergy)
    kinds = {t.kind for t in targets}
    guideline = cue["guideline"] and not diagnosed_with
    judgement = about_patient and cue.get("judgement", False) and not diagnosed_with
    drugs = tuple(t for t in targets if t.kind in (DRUG, DRUG_CLASS))
    # "Can she take amoxicillin?", "Is it safe to give him aspirin?", "Any problem giving her Augmentin?"
    # "Can we add losartan?": asked by the clinician about the patient whose record this is.
    asked_by_us = len(words) > 1 and words[0] in ("can", "could", "may", "should") and words[1] in ("we", "i")
    safety = bool(drugs) and (about_patient or asked_by_us or _cue_at_start(words, vocab, "modal_openers")) and \
        not _asks_when(words) and \
        opener not in _words(vocab, "past_openers") and (
        cue.get("safety", False) or _cue_at_start(words, vocab, "modal_openers"))
    common["judgement"] = judgement

    if SCORE not in kinds or not (drugs and (judgement or guideline)):
        if _is_action(words, vocab, safety):
            return Intent("action", **common)

    def of(*wanted: str) -> tuple[Target, ...]:
        return tuple(t for t in targets if t.kind in wanted)

    if SCORE in kinds and not (drugs and (judgement or guideline)):
        return Intent("score", of(SCORE), **common)
    if cue["smoking"] and not (guideline and not about_patient) and not drugs:
        if guideline or judgement:
            return Intent("guideline_patient", topic="tobacco", **common)
        return Intent("smoking", **common)
    if VACCINE in kinds:
        # "Is he due for a flu shot?" is a judgement: the statement with the doses recorded, never "Yes" and a dose.
        return Intent("guideline_patient" if judgement else "immunization", of(VACCINE), **common)
    if immunization and not kinds:
        return Intent("immunization_list", **common)
    if allergy:
        allergens = of(ALLERGEN, DRUG, DRUG_CLASS)
        if allergens:
            return Intent("allergy", allergens, **common)
        category = "medication" if {"drug", "medication", "medicine"} & set(words) else (
            "food" if "food" in words else None)
        return Intent("allergy_list", category=category, **common)
    if CONDITION in kinds and not drugs and "for" in words and (
            _MEDICATION_VERBS & set(words) or cue["plural_medication"]) and not guideline and not judgement:
        return Intent("medication_list", indication=of(CONDITION)[0], **common)
    if drugs:
        # A judgement about a drug and a result ("Is her potassium too high for spironolactone?", "Is his eGFR OK
        # for metformin?") is a guideline question about the drug, with the result among the patient's facts.
        if OBSERVATION in kinds and (judgement or safety or guideline):
            return Intent("guideline_patient", targets, **common)
        if safety:
            return Intent("drug_safety", drugs, **common)
        if dose or dose_change:
            return Intent("dose", drugs, **common)
        if guideline or judgement:
            return Intent("guideline_patient" if about_patient else "guideline", targets, **common)
        if opener in LIST_OPENERS and DRUG_CLASS in kinds:
            return Intent("medication_list", drugs, **common)
        return Intent("medication", drugs, **common)
    if OBSERVATION in kinds:
        if guideline or judgement:
            return Intent("guideline_patient" if about_patient else "guideline", targets, **common)
        observations = of(OBSERVATION)
        # "Weights since January 2025": several results over a period asked for.
        plural = any((m.text.lower().endswith("s") and len(tokens(m.text)[-1]) < len(m.text.split()[-1]))
                     or _word_after(question, m.text) in ("results", "levels", "measurements", "values")
                     for m in mentions if any(t.kind == OBSERVATION for t in m.targets))
        if cue["trend"] or (plural and window is not None and (window.days or window.back or window.start)
                            and not (window.start and window.start == window.end)):
            return Intent("trend", observations, **common)
        return Intent("value", observations, **common)
    if PROCEDURE in kinds:
        if guideline or judgement:
            return Intent("guideline_patient" if about_patient else "guideline", targets, **common)
        return Intent("procedure", of(PROCEDURE), **common)
    if CONDITION in kinds:
        if guideline or judgement:
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
    if (dose or dose_change) and free:
        # "Gentamicin dose for him?": a dose of a drug this service does not know and the record does not name.
        return Intent("dose", free_term=free, **common)
    if free and about_patient and not guideline and not judgement:
        if kind == "medication" and opener in LIST_OPENERS:
            kind = "medication_list"
        return Intent(kind, free_term=free, **common)
    if judgement and not guideline:
        return Intent("judgement", **common)
    return Intent("unknown", **common)


def _word_after(question: str, text: str) -> str:
    """The word right after ``text`` in the question ("results" in "eGFR results since August")."""
    at = question.lower().find(text.lower())
    if at < 0:
        return ""
    following = re.match(r"\W*(\w+)", question[at + len(text):])
    return following.group(1).lower() if following else ""


def _words(vocab: Vocabulary, name: str) -> set[str]:
    return {c[0] for c in vocab.cues.get(name, ()) if len(c) == 1}


def _cue_at_start(words: tuple[str, ...], vocab: Vocabulary, name: str) -> bool:
    return any(words[:len(c)] == c for c in vocab.cues.get(name, ()))


def _asks_when(words: tuple[str, ...]) -> bool:
    """"When did she start metformin?" asks about the record, not whether to start it."""
    return bool(words) and words[0] in ("when", "why", "who", "how") and "safe" not in words


def _is_action(words: tuple[str, ...], vocab: Vocabulary, safety: bool) -> bool:
    """A request to do something: "Book him an MRI", "Can you order ...", "Change his apixaban to 2.5 mg". A
    question about whether something may be done ("Can we give him aspirin?") is not one."""
    lead = [w for w in words if w not in _REQUEST_LEAD]
    if lead and any(lead[:1] == list(c) for c in vocab.cues.get("action", ()) if len(c) == 1):
        return True
    imperative = _words(vocab, "action_imperative")
    addressed = len(words) > 1 and words[0] in ("can", "could", "would", "will", "please") and words[1] == "you"
    first = words[2] if addressed and len(words) > 2 else (words[1] if words[:1] == ("please",) and len(words) > 1
                                                           else (words[0] if words else ""))
    nxt = words[words.index(first) + 1] if first in words and words.index(first) + 1 < len(words) else ""
    # "Change in eGFR over the year?" reads a change; "Change his apixaban to 2.5 mg" asks for one.
    return (not safety or addressed) and first in imperative and nxt not in (
        "in", "of", "over", "since", "from", "date", "time", "me", "us")


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
