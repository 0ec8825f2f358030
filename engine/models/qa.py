"""Question answering over a patient's record (from its structure) and the bundled guideline statements.

1. The question is classified (engine/models/record_qa/intent.py): a latest value, a trend, yes/no about
   medications, problems, allergies, procedures or immunizations, the smoking status, a guideline question, a
   guideline applied to this patient, a request to act, or unknown. Its concepts are resolved through the project's
   terminology and feature catalogue (record_qa/vocabulary.py), so "eGFR", "A1c", "BP", "statin" and "blood
   thinner" mean what they mean.
2. Record questions are answered from the record model (engine.record_view.RecordView, read by
   fhir_adapter.record_view): value, unit, date and the source resource, or "no" with what was searched. Only
   entries of the resolved concept are read, so a question of one kind is never answered with a value of another.
3. "... for this patient" and judgement questions ("Does he need a statin?", "Is she due for a colonoscopy?")
   combine the guideline statements that apply to the patient (knowledge_base.json ``applies``; about the drug named
   first) with the patient's own facts, each sourced; one no statement covers is refused. A drug named with
   can / safe / give / take / start is checked against the allergies first, and a covering allergy leads the
   answer; a risk score is the project's calculator on the record.
4. Guideline questions, and questions nothing in the vocabulary names, are answered by retrieval over the
   knowledge base with the sentence encoder; below the calibrated similarity (CDS_QA_MIN_SIMILARITY, see
   docs/qa.md) the question is refused: saying so is safer than answering from the nearest unrelated sentence. With
   an extractive reader configured (CDS_MODEL_DIR_QA) the answer is the best span of the retrieved statements.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.finding import Citation
from engine.models.settings import DATA_DIR, ModelSettings

KNOWLEDGE_BASE_PATH = DATA_DIR / "knowledge_base.json"
MAX_QUESTION_CHARS = 500
JUDGEMENT_REFUSAL = ("This asks for a clinical judgement about the patient that no bundled guideline statement covers; "
                     "this service reports the record and the guideline statements it holds, and does not make the "
                     "judgement.")
ACTION_REFUSAL = ("This service answers questions about the patient's record and the bundled guideline statements; "
                  "it does not book, order, prescribe or write anything.")


@dataclass(frozen=True)
class Statement:
    id: str
    topic: str
    text: str
    citation: Citation
    applies: dict | None = None  # for which patients it holds (see record_qa/guideline.py)
    drugs: dict | None = None  # {"classes": [...], "ingredients": [...]}: the drugs it is about
    reads: tuple[str, ...] = ()  # results shown beside it (qa_vocabulary observation ids)
    bands: tuple[dict, ...] = ()  # what it says for a result in each range
    interval: dict | None = None  # {"procedure": "colonoscopy", "years": 10}


@dataclass(frozen=True)
class KnowledgeBase:
    version: str
    statements: tuple[Statement, ...]

    def __len__(self) -> int:
        return len(self.statements)


def load_knowledge_base(path: Path | str | None = None) -> KnowledgeBase:
    return _load_kb(str(path or KNOWLEDGE_BASE_PATH))


@lru_cache(maxsize=4)
def _load_kb(path: str) -> KnowledgeBase:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    citations = {key: Citation(short=c["short"], full=c["full"], url=c.get("url"), doi=c.get("doi"), topic=c.get("topic"))
                 for key, c in data["citations"].items()}
    return KnowledgeBase(
        version=str(data.get("version", "")),
        statements=tuple(Statement(s["id"], s.get("topic", ""), s["text"], citations[s["citation"]], s.get("applies"),
                                   s.get("drugs"), tuple(s.get("reads", ())), tuple(s.get("bands", ())),
                                   s.get("interval"))
                         for s in data["statements"]),
    )


@dataclass(frozen=True)
class Support:
    text: str
    score: float | None  # cosine similarity to the question (retrieved statements); None for record facts
    kind: str  # "record" | "knowledge" | "calculation" | "related" (a record entry that is not the answer)
    source: str | None = None  # "Observation/12"
    date: str | None = None
    start: int | None = None  # character offsets of an answer span
    end: int | None = None
    citation: Citation | None = None  # for knowledge statements
    statement_id: str | None = None
    value: str | None = None
    unit: str | None = None
    code: str | None = None  # "LOINC 4548-4"
    note: str | None = None


@dataclass(frozen=True)
class Answer:
    question: str
    status: str  # "answered" | "refused"
    method: str  # "record" | "record+guideline" | "extractive-qa" | "retrieval" | "none"
    answer: str | None
    supports: tuple[Support, ...] = ()
    best_similarity: float | None = None
    threshold: float | None = None
    answer_source: Support | None = None  # the support an answer span was read from
    answer_start: int | None = None
    answer_end: int | None = None
    message: str | None = None
    models: dict = field(default_factory=dict)
    question_type: str | None = None  # see record_qa/intent.py; "out_of_scope" when refused for being off-topic
    # value | yes | no | not_found | unknown | list | trend | guideline | refused; drug safety: allergy | no_allergy;
    # scores: not_computed
    result: str | None = None
    concept: str | None = None  # what the question was resolved to ("HbA1c", "statin")
    value: str | None = None
    unit: str | None = None
    date: str | None = None
    searched: dict = field(default_factory=dict)  # resource type -> how many were read

    @property
    def answered(self) -> bool:
        return self.status == "answered"

    @property
    def sources(self) -> tuple[str, ...]:
        """References of the record entries the answer rests on."""
        return tuple(s.source for s in self.supports if s.kind == "record" and s.source)

    @property
    def statement_ids(self) -> tuple[str, ...]:
        return tuple(s.statement_id for s in self.supports if s.kind == "knowledge" and s.statement_id)

    def to_dict(self) -> dict:
        return asdict(self)


def _refused(question: str, question_type: str | None, message: str, **kw) -> Answer:
    return Answer(question, "refused", "none", None, message=message, question_type=question_type, result="refused",
                  **kw)


def answer_question(
    question: str,
    record=None,
    knowledge_base: KnowledgeBase | None = None,
    *,
    encoder=None,
    reader=None,
    settings: ModelSettings | None = None,
    top_k: int = 3,
    use_reader: bool = True,
    vocabulary=None,
) -> Answer:
    """Answer ``question`` from ``record`` (an engine.record_view.RecordView, or None) and the knowledge base.

    ``knowledge_base``: defaults to the bundled one; pass an empty KnowledgeBase to answer from the record only.
    The encoder is loaded only for questions that need retrieval over the guideline statements.
    """
    from engine.models.record_qa.answers import ANSWERS, answer_from_record
    from engine.models.record_qa.intent import classify
    from engine.models.record_qa.vocabulary import load_vocabulary, record_drug_terms

    settings = settings or ModelSettings.from_env()
    q = " ".join((question or "").split())[:MAX_QUESTION_CHARS]
    if not q:
        return _refused(question or "", None, "The question is empty.")
    vocab = vocabulary or load_vocabulary()
    extra = record_drug_terms((m.name for m in record.medications), vocab) if record is not None else None
    intent = classify(q, vocab, extra)
    kb = load_knowledge_base() if knowledge_base is None else knowledge_base
    if intent.type == "action":
        return _refused(q, "action", ACTION_REFUSAL)
    if intent.type in ANSWERS:
        if record is None:
            # Without a record it can only be a general question ("How is COPD confirmed?"), or unanswerable.
            return _retrieve(q, intent, kb, encoder=encoder, reader=reader, settings=settings, top_k=top_k,
                             use_reader=use_reader, searched_note="No patient record was given")
        found = answer_from_record(record, intent, vocab)
        if intent.free_term and found.result == "not_found":
            # A word the vocabulary does not know and the record does not name: perhaps a guideline question,
            # else out of scope (refused with what was searched).
            return _retrieve(q, intent, kb, encoder=encoder, reader=reader, settings=settings, top_k=top_k,
                             use_reader=use_reader,
                             searched_note=f"{found.text.rstrip('.')}; it is not a term this service knows")
        related = tuple(_record_support(f, "related") for f in found.context)
        supports = tuple(_record_support(f) for f in found.facts) + related
        text = _time_note(intent, found.question_type, record) + found.text
        if found.result == "refused":
            return _refused(q, found.question_type, text, concept=found.concept, searched=found.searched,
                            supports=related)
        method = "record"
        if found.question_type in ("medication", "dose") and intent.targets:
            allergy_text, allergy_supports = _allergy_note(intent, record, vocab)
            text, supports = text + allergy_text, supports + allergy_supports
        if intent.type == "drug_safety":
            extra_text, extra_supports = _drug_statements(intent, record, kb, vocab)
            if extra_text:
                text, supports, method = f"{text} {extra_text}", supports + extra_supports, "record+guideline"
        return Answer(q, "answered", method, text, supports, question_type=found.question_type,
                      result=found.result, concept=found.concept, value=found.value, unit=found.unit,
                      date=found.date, searched=found.searched)
    if intent.type in ("guideline_patient", "judgement") and record is not None:
        applied = _answer_for_patient(q, intent, record, kb, vocab)
        if applied is not None:
            return applied
        if intent.judgement:
            return _judgement_refused(q, intent, record, vocab)
    if intent.type == "judgement":
        return _refused(q, "judgement", JUDGEMENT_REFUSAL)
    return _retrieve(q, intent, kb, encoder=encoder, reader=reader, settings=settings, top_k=top_k,
                     use_reader=use_reader)


def _judgement_refused(q: str, intent, record, vocab) -> Answer:
    """A judgement no statement covers is refused, with what the record holds about what it names ("Does she need
    a pneumonia vaccine?": the doses recorded), so the refusal still shows the facts."""
    from dataclasses import replace

    from engine.models.record_qa.answers import ANSWERS
    from engine.models.record_qa.vocabulary import CONDITION, DRUG, DRUG_CLASS, OBSERVATION, PROCEDURE, VACCINE

    kinds = {VACCINE: "immunization", PROCEDURE: "procedure", OBSERVATION: "value", DRUG: "medication",
             DRUG_CLASS: "medication", CONDITION: "problem"}
    target = next((t for t in intent.targets if t.kind in kinds), None)
    if target is None:
        return _refused(q, "judgement", JUDGEMENT_REFUSAL)
    plain = replace(intent, type=kinds[target.kind], targets=(target,))
    found = ANSWERS[plain.type](record, plain, vocab)
    supports = tuple(_record_support(f, "related") for f in found.facts)
    return _refused(q, "judgement", f"{JUDGEMENT_REFUSAL} What the record holds: {found.text}", supports=supports,
                    searched=found.searched)


# Question types whose answers read the time asked about ("in June 2024"); the others say they do not.
TIMED_TYPES = frozenset({"value", "trend", "procedure", "immunization", "smoking"})


def _time_note(intent, answered_type: str, record) -> str:
    """Never drop the time asked about silently: say when it was not read, or not applied to this kind of answer."""
    if intent.time_unread and not intent.window:
        return (f"The time asked about ('{intent.time_unread}') was not understood, so this answer is not limited "
                "to it. ")
    if intent.window is not None and answered_type not in TIMED_TYPES:
        return (f"The time asked about ({intent.window.words}) is not applied to this kind of answer: it is the "
                f"record as of {record.as_of.isoformat()}. ")
    if intent.time_unread:
        return f"Only the first time asked about ({intent.window.words}) is applied; '{intent.time_unread}' is not. "
    return ""


def _record_support(fact, kind: str = "record") -> Support:
    if fact.source.startswith("calculation:"):
        kind = "calculation"
    return Support(fact.describe(), None, kind, fact.source, fact.date, value=fact.value, unit=fact.unit,
                   code=fact.code, note=fact.note)


def _knowledge_support(statement: Statement, score: float | None) -> Support:
    return Support(statement.text, None if score is None else round(score, 4), "knowledge",
                   citation=statement.citation, statement_id=statement.id)


def _answer_for_patient(q: str, intent, record, kb: KnowledgeBase, vocab) -> Answer | None:
    """The statements the question is about that apply to the patient, with the patient's facts; a drug named is
    checked against the allergies first, and a covering allergy leads the answer."""
    from engine.models.record_qa import guideline
    from engine.models.record_qa.facts import allergy_fact
    from engine.models.record_qa.safety import covering_allergies, drug_asked

    statements, topic = guideline.statements_for(intent, kb.statements, vocab)
    chosen = guideline.choose(guideline.applicable_statements(statements, record))
    if not chosen:
        return None
    shown = [a.statement for a in chosen]
    lines, facts = guideline.patient_facts(record, topic, vocab, intent, shown)
    said = " ".join(f"{a.statement.text} [{a.statement.citation.short}]" + _applicability(a) for a in chosen)
    text = f"Guideline: {said} This patient: " + "; ".join(line.rstrip(".") for line in lines) + "."
    result = "guideline"
    allergy_facts = []
    asked = [drug_asked(t, vocab) for t in intent.targets if t.kind in ("drug", "drug_class")]
    covered = [(a, c) for a in asked for c in covering_allergies(record, a, vocab)]
    if covered:
        text = "Allergy recorded - " + " | ".join(
            f"{c.allergy.substance} ({c.allergy.source}): {a.label} - {c.what}; cross-reactivity {c.level}"
            for a, c in covered) + ". " + text
        allergy_facts = [allergy_fact(c.allergy) for _, c in covered]
        result = "allergy"
    if intent.dose_advice:
        text += " This service gives no dosing advice."
    supports = tuple(_knowledge_support(a.statement, None) for a in chosen) + tuple(
        map(_record_support, [*allergy_facts, *facts]))
    return Answer(q, "answered", "record+guideline", _time_note(intent, "guideline_patient", record) + text, supports,
                  question_type="guideline_patient", result=result, concept=topic)


def _applicability(applied) -> str:
    if applied.applies is None:
        return " [the record does not say whether it applies: " + "; ".join(applied.reasons) + "]"
    if applied.applies is False:
        return " [does not apply to this patient: " + "; ".join(applied.reasons) + "]"
    if applied.reasons:
        return " [applies: " + "; ".join(applied.reasons) + "]"
    return ""


def _allergy_note(intent, record, vocab) -> tuple[str, tuple[Support, ...]]:
    """A drug asked about that a recorded allergy covers is said so, whatever the question ("Is he taking aspirin?"
    with an aspirin allergy; a drug on the list that the patient is allergic to)."""
    from engine.models.record_qa.facts import allergy_fact
    from engine.models.record_qa.safety import covering_allergies, drug_asked

    asked = [drug_asked(t, vocab) for t in intent.targets if t.kind in ("drug", "drug_class")]
    covered = [(a, c) for a in asked for c in covering_allergies(record, a, vocab)]
    if not covered:
        return "", ()
    text = " Allergy recorded: " + "; ".join(
        f"{c.allergy.substance} ({c.allergy.source}): {a.label} - {c.what}" for a, c in covered) + "."
    return text, tuple(_record_support(allergy_fact(c.allergy), "related") for _, c in covered)


def _drug_statements(intent, record, kb: KnowledgeBase, vocab) -> tuple[str, tuple[Support, ...]]:
    """Beside a drug-safety answer: the guideline statements about the drug that apply to the patient, with what
    they say for the patient's own results ("Can he take metformin?" with an eGFR of 44)."""
    from engine.models.record_qa import guideline

    asked_intent = type(intent)("guideline_patient", intent.targets)
    statements, topic = guideline.statements_for(asked_intent, kb.statements, vocab)
    applying = [a for a in guideline.applicable_statements(statements, record) if a.applies is True]
    chosen = [a for a in applying if a.statement.reads or a.statement.bands][:guideline.MAX_STATEMENTS]
    if not chosen:
        return "", ()
    shown = [a.statement for a in chosen]
    reads = type(intent)("guideline_patient", tuple(
        t for t in intent.targets) + tuple(type(intent.targets[0])("observation", k) for s in shown for k in s.reads
                                           if k in vocab.observations))
    lines, facts = guideline.patient_facts(record, None, vocab, reads, shown)
    lines = [line for line in lines if not line.startswith("on ")]
    text = "Relevant guideline: " + " ".join(f"{s.text} [{s.citation.short}]" for s in shown)
    if lines:
        text += " This patient: " + "; ".join(line.rstrip(".") for line in lines) + "."
    facts = [f for f in facts if not f.source.startswith(("MedicationRequest/", "MedicationStatement/"))]
    return text, tuple(_knowledge_support(s, None) for s in shown) + tuple(map(_record_support, facts))


def _retrieve(q: str, intent, kb: KnowledgeBase, *, encoder, reader, settings: ModelSettings, top_k: int,
              use_reader: bool, searched_note: str | None = None) -> Answer:
    from engine.models import loader

    threshold = settings.qa_min_similarity
    asked = "guideline" if intent.type in ("guideline", "guideline_patient") else (
        intent.type if searched_note and intent.type != "unknown" else "out_of_scope")
    if not kb.statements:
        return _refused(q, asked, "There is no knowledge base to answer from.", threshold=threshold)
    encoder = encoder or loader.load_encoder(settings)
    vectors = encoder.encode([q] + [s.text for s in kb.statements])
    sims = vectors[1:] @ vectors[0]
    order = np.argsort(-sims)[: max(1, top_k)]
    best = float(sims[order[0]])
    models = {"encoder": getattr(encoder, "fingerprint", {})}
    if best < threshold:
        what = ("Nothing in the bundled guideline statements answers it" if asked == "guideline" else
                "This is outside what this service answers: it names nothing in the patient's record, and nothing "
                "in the bundled guideline statements is close")
        if searched_note:
            what = f"{searched_note.rstrip('.')}, and no guideline statement is close"
        return _refused(q, asked, f"{what} (best similarity {best:.2f} < {threshold:.2f}).",
                        best_similarity=round(best, 4), threshold=threshold, models=models)
    supports = tuple(_knowledge_support(kb.statements[i], float(sims[i])) for i in order if float(sims[i]) >= threshold)
    common = dict(best_similarity=round(best, 4), threshold=threshold, models=models, question_type="guideline",
                  result="guideline", concept=kb.statements[order[0]].topic or None)
    if use_reader and reader is None:
        reader = loader.load_reader(settings)
    if reader is not None:
        models["reader"] = getattr(reader, "fingerprint", {})
        spans = reader.best_spans(q, [s.text for s in supports])
        if spans and spans[0].score > spans[0].null_score:
            span = spans[0]
            src = supports[span.passage_index]
            return Answer(q, "answered", "extractive-qa", src.text[span.start:span.end], supports,
                          answer_source=src, answer_start=span.start, answer_end=span.end, **common)
    top = supports[0]
    return Answer(q, "answered", "retrieval", f"{top.text} [{top.citation.short}]", supports, answer_source=top,
                  answer_start=0, answer_end=len(top.text), **common,
                  message=None if reader is None else "The reading model found no answer span; showing the best "
                                                      "statement.")


def warm_up(encoder=None, knowledge_base: KnowledgeBase | None = None) -> None:
    """Load the encoder, the vocabulary and embed the knowledge base once (at service start, not per request)."""
    from engine.models import loader
    from engine.models.record_qa.vocabulary import load_vocabulary

    load_vocabulary()
    encoder = encoder or loader.load_encoder()
    kb = knowledge_base or load_knowledge_base()
    encoder.encode([s.text for s in kb.statements])


def format_answer(answer: Answer) -> str:
    """Plain-text rendering for the CLI."""
    lines = [f"Q: {answer.question}"]
    if not answer.answered:
        lines.append(f"Refused ({answer.question_type or 'question'}): {answer.message}")
        lines += [f"  related: {s.text}" for s in answer.supports if s.kind == "related"]
        return "\n".join(lines)
    lines.append(f"A ({answer.question_type}, {answer.method}): {answer.answer}")
    if answer.message:
        lines.append(f"Note: {answer.message}")
    main = [s for s in answer.supports if s.kind != "related"]
    related = [s for s in answer.supports if s.kind == "related"]
    if main:
        lines.append("Sources:")
    for s in main:
        if s.kind == "knowledge":
            score = f"[{s.score:.2f}] " if s.score is not None else ""
            lines.append(f"  {score}{s.text}  -- {s.citation.short if s.citation else 'knowledge base'}")
        else:
            lines.append(f"  {s.text}")
    if related:
        lines.append("Related entries (not the answer):")
        lines += [f"  {s.text}" for s in related]
    if answer.searched:
        lines.append("Searched: " + ", ".join(f"{n} {t}" for t, n in answer.searched.items()))
    return "\n".join(lines)
