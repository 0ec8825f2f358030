"""Clinical notes -> suggested problem-list entries (DIAGNOSIS findings).

Pipeline per note: split into sentences (with section headings) -> find concept mentions
(lexical with misspelling correction, plus embedding checks) -> the specific code each sentence supports
(CKD stage, diabetes with a complication; engine/models/specific_codes.py) -> decide each mention's assertion
(NegEx/ConText rules) ->
keep affirmed, current mentions of concepts that no active Condition already codes -> one finding
per concept, whose evidence is every supporting sentence with its note, date and character span,
and whose suggestion adds the condition to the problem list as *provisional* (an ``AddProblem`` proposal that
cards/fhir.py writes as a FHIR R4 Condition) for the clinician to confirm. The sentence a card quotes is the note's
own text - untrusted - so it travels as ``Finding.quote`` and the cards layer escapes it.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable, Protocol, Sequence

from engine.base import NoteEngine
from engine.finding import Citation, Evidence, Finding, Kind, Severity, Status, Term, TextMention
from engine.proposals import AddProblem, Coding, ConditionRef, suggest
from engine.models.assertion import Assertion, AssertionResult, classify, sentence_assertion
from engine.models.concepts import ICD10CM, SNOMED, Concept, load_concepts
from engine.models.errors import ModelError
from engine.models.matcher import ConceptMatcher
from engine.models.sentences import split_sentences
from engine.models.specific_codes import SpecificCode, refine
from engine.models.settings import ModelSettings
from engine.registry import model

log = logging.getLogger(__name__)

ENGINE_ID = "note-diagnosis"
ENGINE_VERSION = "1.0.0"
MAX_EVIDENCE_PER_CONCEPT = 3

CITATION = Citation(
    short="NegEx/ConText",
    full=(
        "Chapman WW, Bridewell W, Hanbury P, Cooper GF, Buchanan BG. A simple algorithm for identifying negated "
        "findings and diseases in discharge summaries. J Biomed Inform 2001;34(5):301-310. Harkema H, Dowling JN, "
        "Thornblade T, Chapman WW. ConText: an algorithm for determining negation, experiencer, and temporal status "
        "from clinical reports. J Biomed Inform 2009;42(5):839-851."
    ),
    doi="10.1006/jbin.2001.1029",
    topic="Problem list completeness from clinical notes",
)


class NoteLike(Protocol):
    """What the engine needs from a note; fhir_adapter.notes.NoteRecord satisfies it."""

    source: str  # "DocumentReference/123"
    date: date | datetime | None
    text: str


@dataclass(frozen=True)
class NoteMention:
    concept: Concept
    assertion: AssertionResult
    source: str
    date: date | datetime | None
    sentence: str
    sentence_start: int  # offsets into the note text
    sentence_end: int
    mention_start: int
    mention_end: int
    matched_text: str
    method: str
    score: float | None
    section: str | None
    specific: SpecificCode | None = None  # the specific code the sentence supports, if any

    def as_text_mention(self) -> TextMention:
        """The finding's typed audit record of this mention (the concept is the finding's own)."""
        return TextMention(
            source=self.source, date=self.date, sentence=self.sentence, sentence_start=self.sentence_start,
            sentence_end=self.sentence_end, mention_start=self.mention_start, mention_end=self.mention_end,
            matched_text=self.matched_text, method=self.method, score=self.score,
            assertion=self.assertion.label.value, assertion_trigger=self.assertion.trigger, section=self.section,
            code=self.specific.icd10cm[0] if self.specific else None)


def build_matcher(settings: ModelSettings | None = None, *, encoder=None, use_encoder: bool = True) -> ConceptMatcher:
    """A matcher over the packaged concept list; the encoder is loaded lazily unless given.

    When the encoder cannot be loaded the matcher falls back to lexical rules (and says so in the
    findings' assumptions) rather than failing the hook.
    """
    from engine.models import loader

    settings = settings or ModelSettings.from_env()
    if encoder is None and use_encoder:
        try:
            encoder = loader.load_encoder(settings)
        except ModelError as exc:
            log.warning("note mining runs lexical-only: %s", exc)
            encoder = None
    return ConceptMatcher(load_concepts(), encoder, semantic=settings.notes_semantic,
                          semantic_min=settings.semantic_min_similarity,
                          ambiguous_min=settings.ambiguous_min_similarity)


def extract_mentions(notes: Iterable[NoteLike], matcher: ConceptMatcher) -> list[NoteMention]:
    """Every concept mention of every note, with its assertion and exact offsets."""
    out: list[NoteMention] = []
    for note in notes:
        text = getattr(note, "text", None)
        if not isinstance(text, str) or not text.strip():
            continue
        sentences = split_sentences(text)
        per_sentence = matcher.match([s.text for s in sentences], [s.section for s in sentences])
        for sentence, mentions in zip(sentences, per_sentence):
            codes, absorbed = refine(sentence.text, mentions)
            for i, m in enumerate(mentions):
                if i in absorbed:
                    continue  # covered by a combination code ("peripheral neuropathy" in "T2DM with peripheral neuropathy")
                if m.method == "embedding":  # no exact span: the whole sentence must be unqualified
                    assertion = sentence_assertion(sentence.text, sentence.section, m.concept.id)
                else:
                    assertion = classify(sentence.text, m.start, m.end, sentence.section, m.concept.id)
                out.append(NoteMention(
                    concept=m.concept, assertion=assertion, source=str(getattr(note, "source", "") or ""),
                    date=getattr(note, "date", None), sentence=sentence.text,
                    sentence_start=sentence.start, sentence_end=sentence.end,
                    mention_start=sentence.start + m.start, mention_end=sentence.start + m.end,
                    matched_text=m.text, method=m.method, score=m.score, section=sentence.section,
                    specific=codes.get(i),
                ))
    return out


def _day(value: date | datetime | None) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value


def _sort_key(m: NoteMention) -> date:
    return _day(m.date) or date.min


def note_diagnosis_findings(
    notes: Sequence[NoteLike],
    active_condition_codes: set[tuple[str, str]],
    as_of: date,
    *,
    matcher: ConceptMatcher | None = None,
    settings: ModelSettings | None = None,
) -> list[Finding]:
    """DIAGNOSIS findings for conditions affirmed in notes but absent from the active problem list.

    ``active_condition_codes`` holds (system, code) pairs of the patient's active Conditions.
    Notes dated after ``as_of`` are ignored (a hook never looks into the future). A concept is
    suggested when its most recent affirmed mention is not followed by a later note that negates
    it or calls it resolved.
    """
    matcher = matcher or build_matcher(settings)
    usable = [n for n in notes if _day(getattr(n, "date", None)) is None or _day(n.date) <= as_of]
    by_concept: dict[str, list[NoteMention]] = {}
    for mention in extract_mentions(usable, matcher):
        by_concept.setdefault(mention.concept.id, []).append(mention)

    findings: list[Finding] = []
    for mentions in by_concept.values():
        concept = mentions[0].concept
        if concept.is_documented(active_condition_codes):
            continue
        affirmed = [m for m in mentions if m.assertion.label is Assertion.AFFIRMED]
        if not affirmed:
            continue
        latest_affirmed = max(_sort_key(m) for m in affirmed)
        contradicted = any(
            _sort_key(m) > latest_affirmed and m.assertion.label in (Assertion.NEGATED, Assertion.HISTORICAL)
            for m in mentions
        )
        if contradicted:
            continue
        findings.append(_finding(concept, affirmed, matcher))
    # More specific concepts first, then alphabetical, so cards read predictably.
    findings = _drop_generic_duplicates(findings)
    return sorted(findings, key=lambda f: str(f.value))  # by condition name: stable across calls


# A specific concept makes its generic parent redundant ("type 2 diabetes" beats "diabetes").
GENERIC_PARENT = {"type-2-diabetes": "diabetes-mellitus", "type-1-diabetes": "diabetes-mellitus",
                  "alzheimers-disease": "dementia", "emphysema": "copd"}


def _drop_generic_duplicates(findings: list[Finding]) -> list[Finding]:
    present = {f.condition.id for f in findings if f.condition}
    redundant = {GENERIC_PARENT[c] for c in present if c in GENERIC_PARENT}
    return [f for f in findings if f.condition and f.condition.id not in redundant]


def condition_ref(concept: Concept, specific: SpecificCode | None = None) -> ConditionRef:
    """The suggested condition: the concept's codes, or the specific codes its note sentence supports."""
    codings = concept.codings()
    if specific is not None:
        snomed = specific.snomed or (concept.snomed_code, concept.snomed_display)
        codings = [{"system": SNOMED, "code": snomed[0], "display": snomed[1]},
                   {"system": ICD10CM, "code": specific.icd10cm[0], "display": specific.icd10cm[1]}]
    return ConditionRef(id=concept.id, name=specific.name if specific else concept.name,
                        codings=tuple(Coding(c["system"], c["code"], c["display"]) for c in codings))


def _specific(ordered: list[NoteMention]) -> SpecificCode | None:
    """The specific code of the most recent affirmed mention that has one (a later "CKD 3b" beats an older "CKD 3a")."""
    return next((m.specific for m in ordered if m.specific is not None), None)


def _finding(concept: Concept, affirmed: list[NoteMention], matcher: ConceptMatcher) -> Finding:
    ordered = sorted(affirmed, key=_sort_key, reverse=True)
    specific = _specific(ordered)
    condition = condition_ref(concept, specific)
    shown = ordered[:MAX_EVIDENCE_PER_CONCEPT]
    inputs = tuple(
        Evidence(
            name="note_sentence",
            label=f"Note sentence mentioning {concept.name}",
            value=m.sentence,
            effective=m.date,
            source=m.source or None,
            note=(
                f"sentence chars {m.sentence_start}-{m.sentence_end}; matched '{' '.join(m.matched_text.split())}' at chars "
                f"{m.mention_start}-{m.mention_end} ({m.method}{'' if m.score is None else f', similarity {m.score:.2f}'}); "
                f"assertion affirmed{f'; section {m.section}' if m.section else ''}"
                f"{f'; supports ICD-10-CM {m.specific.icd10cm[0]} ({m.specific.reason})' if m.specific else ''}"
            ),
        )
        for m in shown
    )
    best = shown[0]
    methods = sorted({m.method for m in affirmed})
    assumptions = [
        "Problem list compared by SNOMED CT code (with related codes) and ICD-10-CM category.",
        "Assertion decided by NegEx/ConText-style rules; irony, copied-forward text and misattributed speakers are not detected.",
    ]
    if "fuzzy" in methods:
        assumptions.append("A misspelled word was read as the nearest concept word (spelling correction); check the "
                           "quoted sentence.")
    if specific is not None:
        assumptions.append(f"ICD-10-CM {specific.icd10cm[0]} because the note states it: {specific.reason}.")
    if "embedding" in methods or "abbreviation-confirmed" in methods:
        assumptions.append(
            f"Embedding similarity from {getattr(matcher.encoder, 'name', 'the sentence encoder')}, a general-English "
            "encoder (not a clinical model).")
    when = best.date.isoformat()[:10] if best.date else "an undated note"
    return Finding(
        id=f"{ENGINE_ID}:{concept.id}",
        engine_id=ENGINE_ID,
        engine_version=ENGINE_VERSION,
        kind=Kind.DIAGNOSIS,
        status=Status.COMPUTED,
        title="Possible undocumented problem in notes",
        citation=CITATION,
        value=condition.name,
        severity=Severity.INFO,
        inputs=inputs,
        assumptions=tuple(assumptions),
        explanation=(
            Term("Matched text", " ".join(best.matched_text.split())),
            Term("Match method", ", ".join(methods)),
            Term("Mentions affirmed", float(len(affirmed))),
            Term("Not on active problem list", " / ".join(
                f"{'SNOMED CT' if c.system == SNOMED else 'ICD-10-CM'} {c.code}" for c in condition.codings)),
        ),
        method=("Sentence split; concept match (lexical rules with spelling correction, embedding checks); specific "
                "code from the sentence (stage, diabetes complication); NegEx/ConText assertion; suggest when an "
                "affirmed current mention has no matching active Condition."),
        suggestions=(suggest(
            f"Add '{condition.name}' to the problem list (provisional)",
            AddProblem(
                condition=condition,
                description=f"Creates a provisional Condition ({condition.name}) citing the note of {when}.",
                note="Suggested by precision-cds from clinical note text; confirm before use.",
                evidence=tuple(dict.fromkeys(m.source for m in ordered if m.source)),
            )),),
        # The note's resource id stays in the evidence (explainer page); the card names the note by its date.
        message=f"A note of {when} states:",
        quote=" ".join(best.sentence.split()),
        condition=condition,
        mentions=tuple(m.as_text_mention() for m in ordered),
    )


@functools.cache
def shared_matcher() -> ConceptMatcher:
    """One concept matcher (and sentence encoder) per process; lexical-only when the encoder can't load."""
    return build_matcher()


@model
class NoteDiagnosisEngine(NoteEngine):
    """The note engine: notes are not features, so the service pipeline hands it the patient's notes
    (``NoteEngine.with_notes``); it uses the process-wide matcher unless given one."""

    id = ENGINE_ID
    version = ENGINE_VERSION
    title = "Possible undocumented problems in clinical notes"
    kind = Kind.DIAGNOSIS
    citation = CITATION

    def __init__(self, matcher: ConceptMatcher | None = None):
        self._matcher = matcher

    def evaluate_notes(self, notes: Sequence[NoteLike], active_condition_codes: set[tuple[str, str]],
                       as_of: date) -> list[Finding]:
        try:
            return note_diagnosis_findings(notes, active_condition_codes, as_of,
                                           matcher=self._matcher if self._matcher is not None else shared_matcher())
        except Exception as exc:  # noqa: BLE001 - a note we cannot read must not fail the hook
            log.error("note mining failed: %s", type(exc).__name__)
            return [self.finding(Status.ERROR, message="Clinical notes could not be analysed (internal error).")]
