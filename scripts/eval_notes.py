#!/usr/bin/env python
"""Note understanding on fixtures/eval/note_sentences.jsonl: detection, assertion, suggestions and codes per category.

    python scripts/eval_notes.py [--split dev|holdout|all] [--errors] [--encoder]

Each line is a short note (a sentence, or a few lines with headings) written for this evaluation, separately from the
rules' own test sentences, with every concept of engine/data/concepts.json it mentions, the assertion a clinician
would give it (affirmed, negated, family, historical, hypothetical) and, where the text states more than the concept's
default code, the ICD-10-CM code it supports. Categories: listed conditions, misspellings, abbreviations, modifiers
(terms that look like a listed condition but are not), negation, hypothetical / counselling / prevention / risk,
historical / resolved, family history and section scope, specific codes. "dev" items were looked at while the rules
were changed; "holdout" items (every third of each category) were not, so holdout is the honest estimate.

Each text is read as one note by the engine (sentence split, concept match, assertion, suggestion), in lexical mode by
default (no encoder: deterministic and fast; ambiguous abbreviations then never count). Reported per category:

* detection recall / precision: expected concepts found (any assertion) / found concepts that were expected;
* assertion accuracy: found expected concepts with the expected assertion;
* suggestion precision / recall: the problem-list suggestions the engine makes (empty problem list) against the
  expected affirmed concepts (a specific concept replaces its generic parent, as in the engine);
* code accuracy: correct suggestions whose ICD-10-CM code is the expected one (the stated specific code, else the
  concept's default code).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT / "fixtures" / "eval" / "note_sentences.jsonl"
CATEGORIES = ("listed", "misspelling", "abbreviation", "modifier", "negation", "hypothetical", "historical",
              "family-section", "codes")
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
AS_OF = date(2100, 1, 1)


@dataclass(frozen=True)
class Note:
    source: str
    date: date | None
    text: str


def load(split: str = "all") -> list[dict]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows if split == "all" else [r for r in rows if r["split"] == split]


def expected_suggestions(row: dict) -> dict[str, str]:
    """concept id -> expected ICD-10-CM code of the suggestions the item should produce."""
    from engine.models.concepts import load_concepts
    from engine.models.notes import GENERIC_PARENT

    concepts = load_concepts()
    affirmed = {e["concept"]: e for e in row["expect"] if e["assertion"] == "affirmed"}
    redundant = {GENERIC_PARENT[c] for c in affirmed if c in GENERIC_PARENT}
    return {c: e.get("icd10cm") or concepts.get(c).icd10cm_code for c, e in affirmed.items() if c not in redundant}


def predicted(row: dict, matcher) -> tuple[dict[str, str], dict[str, str]]:
    """(concept -> assertion over the item's mentions, concept -> ICD-10-CM code of each suggestion)."""
    from engine.models.notes import extract_mentions, note_diagnosis_findings

    note = Note(f"DocumentReference/{row['id']}", date(2024, 1, 1), row["text"])
    labels: dict[str, list[str]] = {}
    for m in extract_mentions([note], matcher):
        labels.setdefault(m.concept.id, []).append(m.assertion.label.value)
    # One label per concept: affirmed when any mention is (that is what makes a suggestion), else the first one.
    assertions = {c: ("affirmed" if "affirmed" in ls else ls[0]) for c, ls in labels.items()}
    suggestions = {}
    for f in note_diagnosis_findings([note], set(), AS_OF, matcher=matcher):
        icd = next((c.code for c in f.condition.codings if c.system == ICD10CM), None)
        suggestions[f.condition.id] = icd
    return assertions, suggestions


@dataclass
class Tally:
    expected: int = 0
    found: int = 0  # expected concepts found with any assertion
    predicted: int = 0
    predicted_expected: int = 0
    assertion_right: int = 0
    sugg_expected: int = 0
    sugg_predicted: int = 0
    sugg_right: int = 0
    code_right: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: "Tally") -> None:
        for name in ("expected", "found", "predicted", "predicted_expected", "assertion_right", "sugg_expected",
                     "sugg_predicted", "sugg_right", "code_right"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors

    @staticmethod
    def ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    def figures(self) -> dict:
        r = self.ratio
        return {"items_expected": self.expected, "detection_recall": r(self.found, self.expected),
                "detection_precision": r(self.predicted_expected, self.predicted),
                "assertion_accuracy": r(self.assertion_right, self.found),
                "suggestion_precision": r(self.sugg_right, self.sugg_predicted),
                "suggestion_recall": r(self.sugg_right, self.sugg_expected),
                "code_accuracy": r(self.code_right, self.sugg_right),
                "suggestions": self.sugg_predicted, "suggestions_expected": self.sugg_expected}


def score(row: dict, matcher) -> Tally:
    t = Tally()
    gold = {e["concept"]: e["assertion"] for e in row["expect"]}
    assertions, suggestions = predicted(row, matcher)
    want = expected_suggestions(row)
    t.expected, t.predicted = len(gold), len(assertions)
    t.found = sum(1 for c in gold if c in assertions)
    t.predicted_expected = sum(1 for c in assertions if c in gold)
    t.assertion_right = sum(1 for c, a in gold.items() if assertions.get(c) == a)
    t.sugg_expected, t.sugg_predicted = len(want), len(suggestions)
    t.sugg_right = sum(1 for c in suggestions if c in want)
    t.code_right = sum(1 for c, code in suggestions.items() if c in want and want[c] == code)
    problems = []
    for c, a in gold.items():
        if c not in assertions:
            problems.append(f"missed {c}")
        elif assertions[c] != a:
            problems.append(f"{c}: {assertions[c]} (want {a})")
    problems += [f"unexpected {c} ({a})" for c, a in assertions.items() if c not in gold]
    problems += [f"code {c}: {code} (want {want[c]})" for c, code in suggestions.items() if c in want and want[c] != code]
    problems += [f"suggested {c} wrongly" for c in suggestions if c not in want and c in gold]
    if problems:
        t.errors.append(f"{row['id']} [{row['category']}] {row['text']!r}: " + "; ".join(problems))
    return t


def evaluate(rows: list[dict], matcher=None) -> dict[str, Tally]:
    """Tallies per category, plus "all"."""
    if matcher is None:
        from engine.models.concepts import load_concepts
        from engine.models.matcher import ConceptMatcher

        matcher = ConceptMatcher(load_concepts())
    out = {c: Tally() for c in CATEGORIES if any(r["category"] == c for r in rows)}
    total = Tally()
    for row in rows:
        t = score(row, matcher)
        out[row["category"]].add(t)
        total.add(t)
    out["all"] = total
    return out


def _pct(v) -> str:
    return "   n/a" if v is None else f"{v:6.1%}"


def report(name: str, tallies: dict[str, Tally], n: int) -> str:
    lines = [f"== {name}: {n} items",
             f"{'category':15s} {'concepts':>8s} {'det.rec':>7s} {'det.prec':>8s} {'assert':>7s} {'sugg.prec':>9s} "
             f"{'sugg.rec':>8s} {'code':>7s}"]
    for cat, t in tallies.items():
        f = t.figures()
        lines.append(f"{cat:15s} {f['items_expected']:8d} {_pct(f['detection_recall']):>7s} "
                     f"{_pct(f['detection_precision']):>8s} {_pct(f['assertion_accuracy']):>7s} "
                     f"{_pct(f['suggestion_precision']):>9s} {_pct(f['suggestion_recall']):>8s} "
                     f"{_pct(f['code_accuracy']):>7s}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=("dev", "holdout", "blind", "all", "each"), default="each")
    parser.add_argument("--errors", action="store_true", help="list every item with a wrong result")
    parser.add_argument("--encoder", action="store_true", help="with the sentence encoder (default: lexical rules)")
    args = parser.parse_args(argv)
    matcher = None
    if args.encoder:
        from engine.models.notes import build_matcher

        matcher = build_matcher()
    splits = ("dev", "holdout", "blind", "all") if args.split == "each" else (args.split,)
    for split in splits:
        rows = load(split)
        tallies = evaluate(rows, matcher)
        print(report(split, tallies, len(rows)))
        if args.errors and split != "all":
            for line in tallies["all"].errors:
                print("  " + line)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
