#!/usr/bin/env python
"""Build engine/data/note_fuzzy_guard.json: real words the misspelling corrector must leave alone.

    python scripts/build_fuzzy_guard.py /usr/share/dict/american-english-huge

A word from the dictionary (SCOWL "huge" English word list, Debian package wamerican-huge; SCOWL's copyright
notice allows use, copy and redistribution), or from the displays of the project's terminology
(fhir_adapter/data/terminology), that lies within the corrector's distance of a concept term word
(engine/models/fuzzy.py) is a real word, not a misspelling: "hypotension" is not "hypertension", "migrant" is not
"migraine". Only those near words are kept (a few thousand), so the served package needs no dictionary. Run it again
after adding synonyms to engine/data/concepts.json (a test checks the list is current).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.models import fuzzy  # noqa: E402
from engine.models.matcher import concept_term_words  # noqa: E402

TERMINOLOGY = ROOT / "fhir_adapter" / "data" / "terminology"
SOURCE = ("SCOWL English word list, size 'huge' (Debian package wamerican-huge 2020.12.07, Kevin Atkinson, "
          "http://wordlist.aspell.net; redistribution permitted by its copyright notice), and the display texts of "
          "fhir_adapter/data/terminology")


def terminology_words() -> set[str]:
    words: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("display", "name", "title", "description") and isinstance(value, str):
                    words.update(w.lower() for w in fuzzy.TOKEN.findall(value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path in sorted(TERMINOLOGY.rglob("*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return words


def near_words(vocabulary: set[str], terms: frozenset[str]) -> list[str]:
    by_initial: dict[str, list[str]] = {}
    for t in terms:
        by_initial.setdefault(t[0], []).append(t)
    out = []
    for word in vocabulary:
        if len(word) < fuzzy.MIN_LENGTH or word in terms or not re.fullmatch(r"[a-z][a-z']*[a-z]", word):
            continue
        for term, distance, _ in process.extract(word, by_initial.get(word[0], []),
                                                 scorer=DamerauLevenshtein.distance, score_cutoff=2, limit=None):
            if distance <= fuzzy.max_distance(term):
                out.append(word)
                break
    return sorted(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dictionary", type=Path, help="word list, one word per line")
    parser.add_argument("--out", type=Path, default=fuzzy.GUARD_PATH)
    args = parser.parse_args(argv)
    vocabulary = {line.strip().lower() for line in args.dictionary.read_text(encoding="utf-8", errors="ignore").splitlines()}
    vocabulary |= terminology_words()
    terms = concept_term_words()
    words = near_words(vocabulary, terms)
    data = {
        "description": ("Real words within the misspelling corrector's distance of a concept term word: never "
                        "corrected (engine/models/fuzzy.py). Built by scripts/build_fuzzy_guard.py."),
        "source": SOURCE,
        "term_words": len(terms),
        "term_words_sha256": fuzzy.words_digest(terms),
        "words": words,
    }
    args.out.write_text(json.dumps(data, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(words)} guard words for {len(terms)} term words -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
