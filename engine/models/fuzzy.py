"""Misspelled words in notes, corrected to the words of the concept list before the lexical rules run.

"hypertention", "diabetis", "atrial fibrilation", "Chron's disease": a word that is not itself a word of a concept
term is compared with every word of the concept terms (names, synonyms, blocking phrases) by Damerau-Levenshtein
distance (rapidfuzz): an adjacent transposition counts as one edit. A word is corrected when

* it has at least 5 letters and starts with the same letter as the term word;
* the distance is at most 1 for term words of up to 6 letters and at most 2 for longer ones;
* it is not a real word: engine/data/note_fuzzy_guard.json lists the dictionary and terminology words that lie
  within those distances of a term word ("hypotension", "nephropathy", "migrant", "synovitis", "diverticulitis"),
  built by scripts/build_fuzzy_guard.py; those are never corrected;
* one term word is closest (a tie is broken by the same last letter, then left alone).

The corrected sentence then goes through the same lexical rules (longest term wins, blocking phrases, modifiers),
so "congestive heart faliure" matches "congestive heart failure" and "portal hypertention" is still not
hypertension. Abbreviations are never corrected: they are too short to tell a typo from another abbreviation.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from engine.models.settings import DATA_DIR

GUARD_PATH = DATA_DIR / "note_fuzzy_guard.json"
MIN_LENGTH = 5
TOKEN = re.compile(r"[A-Za-z][A-Za-z']*[A-Za-z]")


def max_distance(term_word: str) -> int:
    """Edits allowed to reach ``term_word``: 1 up to 6 letters, 2 from 7 letters."""
    return 1 if len(term_word) <= 6 else 2


def term_words(terms: Iterable[str]) -> frozenset[str]:
    """The lower-case words (letters and apostrophes) of the given terms, from MIN_LENGTH letters."""
    return frozenset(w.lower() for t in terms for w in TOKEN.findall(t) if len(w) >= MIN_LENGTH)


def words_digest(words: Iterable[str]) -> str:
    """sha256 of the sorted term words: the guard list records it, a test compares it with the concept list's."""
    import hashlib

    return hashlib.sha256("\n".join(sorted(words)).encode("utf-8")).hexdigest()


_GUARD = frozenset(json.loads(GUARD_PATH.read_text(encoding="utf-8"))["words"])  # package data, read at import


def load_guard() -> frozenset[str]:
    return _GUARD


@dataclass(frozen=True)
class Correction:
    start: int  # offsets of the misspelled word in the sentence
    end: int
    word: str  # the term word it was corrected to (lower case)
    distance: int


class Speller:
    """Corrects words to the words of a concept list; one per matcher."""

    def __init__(self, words: Iterable[str], guard: frozenset[str] | None = None):
        self.words = frozenset(words)
        self.guard = load_guard() if guard is None else guard
        self._by_initial: dict[str, list[str]] = {}
        for w in sorted(self.words):
            self._by_initial.setdefault(w[0], []).append(w)
        self.correct_word = lru_cache(maxsize=20_000)(self._correct_word)

    def _correct_word(self, token: str) -> tuple[str, int] | None:
        """(term word, distance) for a misspelled word, or None."""
        if len(token) < MIN_LENGTH or token in self.words or token in self.guard:
            return None
        candidates = self._by_initial.get(token[0], [])
        if not candidates:
            return None
        found = process.extract(token, candidates, scorer=DamerauLevenshtein.distance, score_cutoff=2, limit=None)
        allowed = [(w, int(d)) for w, d, _ in found if d <= max_distance(w)]
        if not allowed:
            return None
        best = min(d for _, d in allowed)
        closest = [w for w, d in allowed if d == best]
        if len(closest) > 1:
            closest = [w for w in closest if w[-1] == token[-1]]
        return (closest[0], best) if len(closest) == 1 else None

    def corrections(self, sentence: str) -> list[Correction]:
        out = []
        for m in TOKEN.finditer(sentence):
            fixed = self.correct_word(m.group(0).lower())
            if fixed is not None:
                out.append(Correction(m.start(), m.end(), *fixed))
        return out


def apply(sentence: str, corrections: list[Correction]
          ) -> tuple[str, list[tuple[int, int, int, int]], list[tuple[int, int]]]:
    """The corrected sentence, its segments (corrected start, corrected end, original start, original end) and the
    corrected words' spans in it: every corrected word is one segment, so spans found in the corrected text map
    back to the note's text."""
    pieces, segments, fixed, pos, out_pos = [], [], [], 0, 0
    for c in corrections:
        if c.start > pos:
            pieces.append(sentence[pos:c.start])
            segments.append((out_pos, out_pos + c.start - pos, pos, c.start))
            out_pos += c.start - pos
        pieces.append(c.word)
        segments.append((out_pos, out_pos + len(c.word), c.start, c.end))
        fixed.append((out_pos, out_pos + len(c.word)))
        out_pos += len(c.word)
        pos = c.end
    if pos < len(sentence):
        pieces.append(sentence[pos:])
        segments.append((out_pos, out_pos + len(sentence) - pos, pos, len(sentence)))
    return "".join(pieces), segments, fixed


def to_original(offset: int, segments: list[tuple[int, int, int, int]], *, end: bool = False) -> int:
    """Map an offset in the corrected sentence back to the original sentence (segment ends for span ends)."""
    for c_start, c_end, o_start, o_end in segments:
        if c_start <= offset < c_end or (end and offset == c_end):
            if c_end - c_start == o_end - o_start:
                return o_start + (offset - c_start)
            return o_end if end else o_start  # a corrected word maps as a whole
    return segments[-1][3] if segments else offset
