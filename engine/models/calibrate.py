"""Calibrate the similarity thresholds of the current encoder on this project's labelled sets.

    python -m engine.models.calibrate            # prints three tables and the suggested values

* QA refusal (CDS_QA_MIN_SIMILARITY): the questions of fixtures/eval/qa_calibration.jsonl and of the
  record-question set (fixtures/eval/record_questions.jsonl) that reach retrieval - guideline questions and
  questions that name nothing the record-QA vocabulary knows; record questions are answered from the record's
  structure and never meet the threshold. Each one's best similarity to the knowledge-base statements is compared
  with thresholds (labels: relevant, or out of scope).
* Ambiguous abbreviations: fixtures/eval/ambiguous_abbreviations.jsonl (is the abbreviation the
  condition or something else?) against the concept context phrase.
* Meaning-only matches (CDS_NOTES_SEMANTIC_MIN): fixtures/eval/semantic_matches.jsonl holds
  paraphrases that name a condition (should match) and symptom / filler sentences (should not); also
  counts how many fixture sentences without a lexical mention would be matched (all unwanted).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "fixtures" / "eval"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def best_threshold(scores: list[float], labels: list[bool], grid=None) -> tuple[float, float]:
    """Threshold with the best accuracy (ties: the higher, i.e. the more cautious, threshold)."""
    grid = np.round(np.arange(0.10, 0.90, 0.01), 2) if grid is None else grid
    s, y = np.asarray(scores), np.asarray(labels, dtype=bool)
    best = (0.0, -1.0)
    for t in grid:
        acc = float(np.mean((s >= t) == y))
        if acc >= best[1]:
            best = (float(t), acc)
    return best


def qa_scores(encoder) -> tuple[list[float], list[bool], list[str]]:
    from engine.models.qa import load_knowledge_base
    from engine.models.record_qa.intent import classify
    from engine.models.record_qa.vocabulary import load_vocabulary

    vocab = load_vocabulary()
    rows = [(r["question"], bool(r["relevant"])) for r in _jsonl(EVAL / "qa_calibration.jsonl")]
    rows += [(r["question"], r["category"] != "out_of_scope") for r in _jsonl(EVAL / "record_questions.jsonl")
             if r["category"] in ("guideline", "out_of_scope")]
    rows = [(q, y) for q, y in dict(rows).items() if classify(q, vocab).type in ("guideline", "unknown")]
    statements = encoder.encode([s.text for s in load_knowledge_base().statements])
    questions = encoder.encode([q for q, _ in rows])
    best = (questions @ statements.T).max(axis=1)
    return [float(b) for b in best], [y for _, y in rows], [q for q, _ in rows]


def ambiguous_scores(encoder) -> tuple[list[float], list[bool]]:
    from engine.models.concepts import load_concepts

    concepts = load_concepts()
    by_abbr = {a: c for c in concepts.concepts for a in c.ambiguous_abbreviations}
    rows = _jsonl(EVAL / "ambiguous_abbreviations.jsonl")
    sent = encoder.encode([r["text"] for r in rows])
    ctx = encoder.encode([by_abbr[r["abbreviation"]].context for r in rows])
    return [float(a @ b) for a, b in zip(sent, ctx)], [bool(r["is_condition"]) for r in rows]


def semantic_scores(encoder) -> list[float]:
    from engine.models.concepts import load_concepts
    from engine.models.matcher import ConceptMatcher
    from engine.models.sentences import split_sentences

    matcher = ConceptMatcher(load_concepts(), encoder)
    texts = [r["text"] for r in _jsonl(EVAL / "assertion_sentences.jsonl")]
    for note in sorted((ROOT / "fixtures" / "notes").glob("*.txt")):
        texts += [s.text for s in split_sentences(note.read_text())]
    unmatched = [t for t in texts if not matcher._lexical(t)[2] and matcher._worth_embedding(t)]
    if not unmatched:
        return []
    sims = encoder.encode(unmatched) @ matcher._name_matrix().T
    return [float(x) for x in sims.max(axis=1)]


def paraphrase_scores(encoder) -> list[tuple[float, str, str | None]]:
    """(best similarity, best concept id, wanted concept id or None) per labelled sentence."""
    from engine.models.concepts import load_concepts
    from engine.models.matcher import ConceptMatcher

    matcher = ConceptMatcher(load_concepts(), encoder)
    rows = _jsonl(EVAL / "semantic_matches.jsonl")
    sims = encoder.encode([r["text"] for r in rows]) @ matcher._name_matrix().T
    out = []
    for r, row in zip(rows, sims):
        j = int(np.argmax(row))
        out.append((float(row[j]), matcher._name_rows[j][0].id, r["concept"]))
    return out


def main(argv: list[str] | None = None) -> int:
    from engine.models.loader import load_encoder

    encoder = load_encoder()
    print(f"encoder: {encoder.name}")
    scores, labels, _ = qa_scores(encoder)
    t, acc = best_threshold(scores, labels)
    rel = [s for s, y in zip(scores, labels) if y]
    irr = [s for s, y in zip(scores, labels) if not y]
    print(f"\nQA refusal threshold: {len(rel)} relevant / {len(irr)} not relevant questions")
    print("threshold  answered-relevant  refused-irrelevant  accuracy")
    for th in (0.35, 0.40, 0.43, 0.45, 0.50):
        a = np.mean(np.array(rel) >= th)
        r = np.mean(np.array(irr) < th)
        print(f"  {th:.2f}        {a:6.1%}             {r:6.1%}          {np.mean((np.array(scores) >= th) == np.array(labels)):6.1%}")
    print(f"best: {t:.2f} (accuracy {acc:.1%})")

    scores, labels = ambiguous_scores(encoder)
    t, acc = best_threshold(scores, labels)
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    print(f"\nAmbiguous abbreviations: {len(pos)} condition uses, {len(neg)} other uses")
    print(f"  condition uses: min {min(pos):.2f} median {np.median(pos):.2f}; other uses: max {max(neg):.2f}")
    print(f"best: {t:.2f} (accuracy {acc:.1%})")

    sims = semantic_scores(encoder)
    labelled = paraphrase_scores(encoder)
    print(f"\nMeaning-only matches: {len(labelled)} labelled sentences (semantic_matches.jsonl), "
          f"{len(sims)} other fixture sentences without a lexical mention")
    print("threshold  paraphrases-found  wrong-or-unwanted  fixture-sentences-matched")
    for th in (0.55, 0.60, 0.65, 0.70, 0.75, 0.80):
        found = sum(1 for sim, got, want in labelled if want and sim >= th and got == want)
        wanted = sum(1 for _, _, want in labelled if want)
        wrong = sum(1 for sim, got, want in labelled if sim >= th and got != want)
        print(f"  {th:.2f}       {found}/{wanted}                {wrong}                  {sum(s >= th for s in sims)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
