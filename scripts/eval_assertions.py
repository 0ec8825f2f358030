#!/usr/bin/env python
"""Precision / recall of the assertion rules on fixtures/eval/assertion_sentences.jsonl.

    python scripts/eval_assertions.py [--split dev|test|holdout|all] [--errors]

Each line holds a sentence written for this project, the target term with its character span and
the gold label (affirmed, negated, family, historical, hypothetical). The rules see the sentence,
the gold span and the concept the matcher finds there (for its concept-specific triggers) and predict a label. "dev" and "test" were written before the rules and the rules
were developed while looking at both; "holdout" was written afterwards and never used for tuning,
so its figures are the honest estimate. Also reports how often the concept matcher finds the target
term (detection recall) for terms that belong to the concept list.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.models.assertion import Assertion, classify  # noqa: E402

LABELS = [a.value for a in Assertion]
DATA = ROOT / "fixtures" / "eval" / "assertion_sentences.jsonl"


def load(split: str = "all") -> list[dict]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    return rows if split == "all" else [r for r in rows if r["split"] == split]


def _concept_at(row: dict) -> str | None:
    """The concept the matcher finds at the gold span (its concept-specific triggers then apply), if any."""
    from engine.models.concepts import load_concepts
    from engine.models.matcher import ConceptMatcher

    global _MATCHER
    if "_MATCHER" not in globals():
        _MATCHER = ConceptMatcher(load_concepts())
    mentions, _ = _MATCHER.lexical(row["text"])
    return next((m.concept.id for m in mentions if m.start < row["end"] and row["start"] < m.end), None)


def evaluate(rows: list[dict]) -> dict:
    pairs = [(r["label"], classify(r["text"], r["start"], r["end"], concept_id=_concept_at(r)).label.value) for r in rows]
    per_label = {}
    for label in LABELS:
        tp = sum(1 for g, p in pairs if g == label and p == label)
        pred = sum(1 for _, p in pairs if p == label)
        gold = sum(1 for g, _ in pairs if g == label)
        precision = tp / pred if pred else None
        recall = tp / gold if gold else None
        f1 = (2 * precision * recall / (precision + recall)) if precision and recall else 0.0
        per_label[label] = {"support": gold, "predicted": pred, "precision": precision, "recall": recall, "f1": f1}
    correct = sum(1 for g, p in pairs if g == p)
    supported = [v for v in per_label.values() if v["support"]]
    return {
        "n": len(pairs),
        "accuracy": correct / len(pairs) if pairs else None,
        "macro_f1": sum(v["f1"] for v in supported) / len(supported) if supported else None,
        "labels": per_label,
        "confusion": Counter(f"{g}->{p}" for g, p in pairs if g != p),
    }


def detection_recall(rows: list[dict]) -> tuple[int, int]:
    from engine.models.concepts import load_concepts
    from engine.models.matcher import ConceptMatcher

    matcher = ConceptMatcher(load_concepts())
    known = {matcher._key(t) for c in matcher.concepts.concepts for t in (c.name, *c.synonyms)}
    known |= {a.replace(" ", "") for c in matcher.concepts.concepts for a in c.abbreviations}
    found = total = 0
    for r in rows:
        if matcher._key(r["term"]) not in known and r["term"].replace(" ", "") not in known:
            continue
        total += 1
        mentions, _ = matcher.lexical(r["text"])
        if any(m.start < r["end"] and r["start"] < m.end for m in mentions):
            found += 1
    return found, total


def _pct(v) -> str:
    return "  n/a" if v is None else f"{v:6.1%}"


def report(name: str, result: dict) -> str:
    lines = [f"== {name}: {result['n']} sentences, accuracy {_pct(result['accuracy'])}, macro-F1 {_pct(result['macro_f1'])}",
             f"{'label':13s} {'support':>7s} {'precision':>9s} {'recall':>7s} {'F1':>7s}"]
    for label, m in result["labels"].items():
        lines.append(f"{label:13s} {m['support']:7d} {_pct(m['precision']):>9s} {_pct(m['recall']):>7s} {_pct(m['f1']):>7s}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="all", choices=["dev", "test", "holdout", "all", "each"])
    parser.add_argument("--errors", action="store_true", help="print misclassified sentences")
    args = parser.parse_args(argv)
    splits = ["dev", "test", "holdout", "all"] if args.split == "each" else [args.split]
    for split in splits:
        rows = load(split)
        result = evaluate(rows)
        print(report(split, result))
        found, total = detection_recall(rows)
        print(f"concept detection (lexical) of target terms in the concept list: {found}/{total}")
        if args.errors:
            for r in rows:
                pred = classify(r["text"], r["start"], r["end"], concept_id=_concept_at(r)).label.value
                if pred != r["label"]:
                    print(f"  [{r['id']}] gold {r['label']}, predicted {pred}: {r['text']}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
