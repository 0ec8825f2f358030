"""Question answering over a patient's record and the bundled guideline statements.

Retrieve, then (optionally) read:

1. Every record passage (notes, structured-data sentences) is split into sentences; each sentence
   and each knowledge-base statement is embedded with the sentence encoder, and the ones closest to
   the question (cosine similarity) are kept.
2. If the best similarity is below the calibrated threshold (CDS_QA_MIN_SIMILARITY, see
   docs/models.md) the question is refused: nothing relevant was found, and saying so is safer
   than answering from the nearest unrelated sentence.
3. With an extractive QA checkpoint configured (CDS_MODEL_DIR_QA) the answer is the best span
   inside the retrieved sentences; otherwise the answer is the best supporting sentences.
Every answer carries its sources (resource reference and date, or guideline citation).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import numpy as np

from engine.finding import Citation
from engine.models.sentences import split_sentences
from engine.models.settings import DATA_DIR, ModelSettings

KNOWLEDGE_BASE_PATH = DATA_DIR / "knowledge_base.json"
MAX_QUESTION_CHARS = 500
MAX_RECORD_SENTENCES = 2000  # bounds the work one request can ask for


@dataclass(frozen=True)
class Statement:
    id: str
    topic: str
    text: str
    citation: Citation


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
        statements=tuple(Statement(s["id"], s.get("topic", ""), s["text"], citations[s["citation"]]) for s in data["statements"]),
    )


@dataclass(frozen=True)
class Support:
    text: str
    score: float  # cosine similarity to the question
    kind: str  # "record" | "knowledge"
    source: str | None = None  # "DocumentReference/1" for record sentences
    date: str | None = None
    start: int | None = None  # character offsets of the sentence in its passage
    end: int | None = None
    citation: Citation | None = None  # for knowledge statements
    statement_id: str | None = None


@dataclass(frozen=True)
class Answer:
    question: str
    status: str  # "answered" | "refused"
    method: str  # "extractive-qa" | "retrieval" | "none"
    answer: str | None
    supports: tuple[Support, ...] = ()
    best_similarity: float | None = None
    threshold: float | None = None
    answer_source: Support | None = None  # the support the answer span was read from
    answer_start: int | None = None  # span offsets within answer_source.text
    answer_end: int | None = None
    message: str | None = None
    models: dict = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        return self.status == "answered"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Candidate:
    text: str
    kind: str
    source: str | None
    date: str | None
    start: int | None
    end: int | None
    statement: Statement | None = None


def _iso(value) -> str | None:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value if isinstance(value, str) else None


def record_candidates(record_sentences: Iterable) -> list[_Candidate]:
    """Sentences of the record passages (objects with text, and optionally source and date)."""
    out: list[_Candidate] = []
    for item in record_sentences or ():
        text = item if isinstance(item, str) else getattr(item, "text", None)
        if not isinstance(text, str) or not text.strip():
            continue
        source = None if isinstance(item, str) else getattr(item, "source", None)
        when = None if isinstance(item, str) else _iso(getattr(item, "date", None))
        for s in split_sentences(text):
            out.append(_Candidate(" ".join(s.text.split()), "record", source, when, s.start, s.end))
            if len(out) >= MAX_RECORD_SENTENCES:
                return out
    return out


def answer_question(
    question: str,
    record_sentences: Iterable = (),
    knowledge_base: KnowledgeBase | None = None,
    *,
    encoder=None,
    reader=None,
    settings: ModelSettings | None = None,
    top_k: int = 3,
    use_reader: bool = True,
) -> Answer:
    """Answer ``question`` from the record and the knowledge base, or refuse with a reason.

    ``record_sentences``: note records / passages (objects with ``text``, ``source``, ``date``) or
    plain strings; long texts are split into sentences. ``knowledge_base``: defaults to the bundled
    one; pass an empty KnowledgeBase to answer from the record only.
    """
    from engine.models import loader

    settings = settings or ModelSettings.from_env()
    threshold = settings.qa_min_similarity
    q = " ".join((question or "").split())[:MAX_QUESTION_CHARS]
    if not q:
        return Answer(question or "", "refused", "none", None, threshold=threshold, message="The question is empty.")
    kb = load_knowledge_base() if knowledge_base is None else knowledge_base
    candidates = record_candidates(record_sentences) + [
        _Candidate(s.text, "knowledge", None, None, None, None, s) for s in kb.statements]
    if not candidates:
        return Answer(q, "refused", "none", None, threshold=threshold,
                      message="There is no record text and no knowledge base to answer from.")
    encoder = encoder or loader.load_encoder(settings)
    vectors = encoder.encode([q] + [c.text for c in candidates])
    sims = vectors[1:] @ vectors[0]
    order = np.argsort(-sims)[: max(1, top_k)]
    best = float(sims[order[0]])
    models = {"encoder": getattr(encoder, "fingerprint", {})}
    supports = tuple(_support(candidates[i], float(sims[i])) for i in order if float(sims[i]) >= threshold)
    if best < threshold:
        return Answer(q, "refused", "none", None, (), round(best, 4), threshold, models=models,
                      message=(f"Nothing in the record or the knowledge base is relevant enough to answer "
                               f"(best similarity {best:.2f} < {threshold:.2f})."))
    if use_reader and reader is None:
        reader = loader.load_reader(settings)
    if reader is not None:
        models["reader"] = getattr(reader, "fingerprint", {})
        spans = reader.best_spans(q, [s.text for s in supports])
        if spans and spans[0].score > spans[0].null_score:
            span = spans[0]
            src = supports[span.passage_index]
            return Answer(q, "answered", "extractive-qa", src.text[span.start:span.end], supports, round(best, 4),
                          threshold, src, span.start, span.end, models=models)
    return Answer(q, "answered", "retrieval", supports[0].text, supports, round(best, 4), threshold,
                  answer_source=supports[0], answer_start=0, answer_end=len(supports[0].text), models=models,
                  message=None if reader is None else "The reading model found no answer span; showing the best sentences.")


def warm_up(encoder=None, knowledge_base: KnowledgeBase | None = None) -> None:
    """Load the encoder and embed the knowledge base once (call at service start, not per request)."""
    from engine.models import loader

    encoder = encoder or loader.load_encoder()
    kb = knowledge_base or load_knowledge_base()
    encoder.encode([s.text for s in kb.statements])


def _support(c: _Candidate, score: float) -> Support:
    if c.kind == "knowledge" and c.statement is not None:
        return Support(c.text, round(score, 4), "knowledge", citation=c.statement.citation, statement_id=c.statement.id)
    return Support(c.text, round(score, 4), "record", c.source, c.date, c.start, c.end)


def format_answer(answer: Answer) -> str:
    """Plain-text rendering for the CLI."""
    lines = [f"Q: {answer.question}"]
    if not answer.answered:
        lines.append(f"Refused: {answer.message}")
        return "\n".join(lines)
    lines.append(f"A ({answer.method}): {answer.answer}")
    if answer.message:
        lines.append(f"Note: {answer.message}")
    lines.append("Sources:")
    for s in answer.supports:
        where = s.citation.short if s.citation else f"{s.source or 'record'}{f' ({s.date[:10]})' if s.date else ''}"
        lines.append(f"  [{s.score:.2f}] {s.text}  -- {where}")
    return "\n".join(lines)
