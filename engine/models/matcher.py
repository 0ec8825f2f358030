"""Finding concept mentions in sentences: lexical rules first, embeddings second.

1. Lexical: every synonym and abbreviation of the concept list is compiled into one alternation,
   longest phrase first, so "type 2 diabetes" wins over "diabetes" and blocking phrases
   ("gestational diabetes") swallow the shorter term. Case does not matter ("htn", "Copd") except for the
   abbreviations that are also common words ("PAD", "ADD", "AIDS": case_sensitive_abbreviations). A stage may be
   written onto an abbreviation ("CKD3b"; engine/models/specific_codes.py reads it). A term right after one of
   its concept's not_after modifiers is another condition and is dropped ("portal hypertension",
   "pseudo-gout"). Words that are misspelled are corrected to the concept terms' words and the sentence is read
   again (engine/models/fuzzy.py): those mentions have method "fuzzy".
2. Ambiguous abbreviations (RA, MS, AS ...) count only when the sentence embedding is close to the
   concept's context phrase ("rheumatoid arthritis treated with methotrexate"), which tells
   "RA on methotrexate" from "RA dilated on echo".
3. Meaning only (optional): a sentence with no lexical mention whose embedding is very close to a
   concept's names becomes a low-confidence mention covering the whole sentence.
Without an encoder (lexical mode) steps 2 and 3 are skipped: ambiguous abbreviations then never
count, which errs on the side of not suggesting a diagnosis.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from engine.models import fuzzy
from engine.models.concepts import Concept, ConceptSet, load_concepts


@dataclass(frozen=True)
class Mention:
    concept: Concept
    start: int  # offsets within the sentence text
    end: int
    text: str
    method: str  # "lexical" | "fuzzy" | "abbreviation-confirmed" | "embedding"
    score: float | None = None  # cosine similarity for embedding-backed matches


def _term_pattern(term: str) -> str:
    # Spaces and hyphens are interchangeable in clinical text ("a-fib", "a fib"); curly quotes are
    # normalised before matching.
    out = []
    for ch in term:
        if ch in " -":
            out.append(r"[\s\-]+") if ch == " " else out.append(r"[\s\-]?")
        elif ch == "'":
            out.append(r"'?")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _alternation(terms: Sequence[str]) -> str:
    return "|".join(_term_pattern(t) for t in sorted(set(terms), key=len, reverse=True))


def _abbreviation_alternation(abbreviations: Sequence[tuple[str, str | None]]) -> str:
    """Abbreviations, longest first, each with the stage suffix its concept allows written onto it ("CKD3b")."""
    ordered = sorted(set(abbreviations), key=lambda a: len(a[0]), reverse=True)
    return "|".join(_term_pattern(a) + (f"(?:{suffix})?" if suffix else "") for a, suffix in ordered)


def term_words_of(concepts: ConceptSet) -> frozenset[str]:
    """The words misspellings are corrected to: those of every concept name, synonym and blocking phrase."""
    return fuzzy.term_words([t for c in concepts.concepts for t in (c.name, *c.synonyms)] + list(concepts.blocking_phrases))


def concept_term_words() -> frozenset[str]:
    """term_words_of the packaged concept list (scripts/build_fuzzy_guard.py builds the guard list from it)."""
    return term_words_of(load_concepts())


# Sections whose sentences never name a diagnosis by paraphrase worth suggesting.
SEMANTIC_SKIP_SECTIONS = frozenset({
    "family history", "medications", "allergies", "social history", "review of systems", "labs", "vitals",
    "exam", "physical exam", "past surgical history", "plan",
})

BOUND_L = r"(?<![A-Za-z0-9])"
BOUND_R = r"(?![A-Za-z0-9])"


class ConceptMatcher:
    def __init__(self, concepts: ConceptSet, encoder=None, *, semantic: bool = True,
                 semantic_min: float = 0.75, ambiguous_min: float = 0.23, spelling: bool = True):
        self.concepts = concepts
        self.encoder = encoder
        self.semantic = semantic and encoder is not None
        self.semantic_min = semantic_min
        self.ambiguous_min = ambiguous_min
        self._by_term: dict[str, Concept | None] = {}
        self._by_abbrev: dict[str, Concept] = {}
        self._ambiguous: dict[str, list[Concept]] = {}
        for concept in concepts.concepts:
            for term in (concept.name, *concept.synonyms):
                self._by_term.setdefault(self._key(term), concept)
            for abbr in concept.abbreviations:
                self._by_abbrev.setdefault(self._abbrev_key(abbr), concept)
            for abbr in concept.ambiguous_abbreviations:
                self._ambiguous.setdefault(abbr, []).append(concept)
        for phrase in concepts.blocking_phrases:
            self._by_term[self._key(phrase)] = None  # matched, then dropped
        self._terms_re = re.compile(BOUND_L + "(?:" + _alternation([*self._raw_terms(concepts)]) + ")" + BOUND_R, re.IGNORECASE)
        from engine.models.specific_codes import glued_suffixes

        glued = glued_suffixes()
        self._glued_re = re.compile("(?:" + "|".join(glued.values()) + ")$", re.IGNORECASE) if glued else None
        any_case = [(a, glued.get(c.id)) for c in concepts.concepts for a in c.abbreviations
                    if a not in concepts.case_sensitive_abbreviations]
        exact_case = [(a, glued.get(c.id)) for c in concepts.concepts for a in c.abbreviations
                      if a in concepts.case_sensitive_abbreviations]
        self._abbrev_res = [re.compile(BOUND_L + "(?:" + _abbreviation_alternation(group) + ")" + BOUND_R, flags)
                            for group, flags in ((any_case, re.IGNORECASE), (exact_case, 0)) if group]
        amb = list(self._ambiguous)
        self._ambiguous_re = re.compile(BOUND_L + "(?:" + _alternation(amb) + ")" + BOUND_R) if amb else None
        self._not_after = {c.id: re.compile(r"(?<![A-Za-z0-9])(?:" + _alternation(c.not_after) + r")[\s\-]*$", re.IGNORECASE)
                           for c in concepts.concepts if c.not_after}
        self.speller = fuzzy.Speller(term_words_of(concepts)) if spelling else None
        self._name_rows: list[tuple[Concept, str]] = [
            (c, t) for c in concepts.concepts for t in dict.fromkeys((c.name, *c.synonyms[:3]))
        ]

    @staticmethod
    def _raw_terms(concepts: ConceptSet):
        for concept in concepts.concepts:
            yield concept.name
            yield from concept.synonyms
        yield from concepts.blocking_phrases

    @staticmethod
    def _key(term: str) -> str:
        return re.sub(r"[\s\-']+", "", term.lower())

    @staticmethod
    def _abbrev_key(abbreviation: str) -> str:
        return re.sub(r"[\s\-]+", "", abbreviation).upper()

    def _abbreviation_concept(self, text: str) -> Concept | None:
        key = self._abbrev_key(text)
        concept = self._by_abbrev.get(key)
        if concept is None and self._glued_re is not None:
            concept = self._by_abbrev.get(self._glued_re.sub("", key))  # "CKD3B" -> "CKD"
        return concept

    # -- lexical --------------------------------------------------------------------------------
    def lexical(self, sentence: str) -> tuple[list[Mention], list[tuple[str, int, int]]]:
        """Plain mentions, plus ambiguous abbreviation candidates (abbrev, start, end) to confirm."""
        return self._lexical(sentence)[:2]

    def _lexical(self, sentence: str) -> tuple[list[Mention], list[tuple[str, int, int]], bool]:
        """As lexical(), plus whether any phrase (even a blocking one) matched."""
        text = sentence.replace("\u2019", "'").replace("\u2018", "'")
        mentions, taken = self._exact(text, sentence)
        candidates = []
        if self._ambiguous_re is not None:
            for m in self._ambiguous_re.finditer(text):
                if not any(m.start() < e and s < m.end() for s, e in taken):
                    candidates.append((m.group(0), m.start(), m.end()))
        if self.speller is not None:
            fuzzy_mentions, fuzzy_taken = self._misspelled(text, sentence, taken)
            mentions += fuzzy_mentions
            taken += fuzzy_taken
        mentions.sort(key=lambda x: x.start)
        return mentions, candidates, bool(taken)

    def _exact(self, text: str, original: str) -> tuple[list[Mention], list[tuple[int, int]]]:
        """Mentions of terms and abbreviations in ``text`` (quoted from ``original``, same offsets) and every span a
        phrase took, blocking phrases and dropped modifier cases included."""
        taken: list[tuple[int, int]] = []
        mentions: list[Mention] = []
        for m in self._terms_re.finditer(text):
            concept = self._by_term.get(self._key(m.group(0)))
            taken.append(m.span())
            if concept is not None and not self._modified(concept, text, m.start()):
                mentions.append(Mention(concept, m.start(), m.end(), original[m.start():m.end()], "lexical"))
        for abbrev_re in self._abbrev_res:
            for m in abbrev_re.finditer(text):
                if any(m.start() < e and s < m.end() for s, e in taken):
                    continue
                concept = self._abbreviation_concept(m.group(0))
                if concept is not None:
                    taken.append(m.span())
                    if not self._modified(concept, text, m.start()):
                        mentions.append(Mention(concept, m.start(), m.end(), original[m.start():m.end()], "lexical"))
        return mentions, taken

    def _modified(self, concept: Concept, text: str, start: int) -> bool:
        """A modifier right before the term makes it another condition ("portal hypertension")."""
        pattern = self._not_after.get(concept.id)
        return bool(pattern and pattern.search(text, 0, start))

    def _misspelled(self, text: str, original: str, taken: list[tuple[int, int]]) -> tuple[list[Mention], list[tuple[int, int]]]:
        """Mentions that only appear once misspelled words are corrected ("hypertention", "atrial fibrilation")."""
        corrections = [c for c in self.speller.corrections(text)
                       if not any(c.start < e and s < c.end for s, e in taken)]
        if not corrections:
            return [], []
        corrected, segments, fixed_spans = fuzzy.apply(text, corrections)
        found, found_taken = self._exact(corrected, corrected)
        mentions, spans = [], []
        for start, end in found_taken:
            if any(start < e and s < end for s, e in fixed_spans):
                spans.append((fuzzy.to_original(start, segments), fuzzy.to_original(end, segments, end=True)))
        for m in found:
            used = [c for c, span in zip(corrections, fixed_spans) if m.start < span[1] and span[0] < m.end]
            if not used:
                continue  # found without any correction: the exact pass has it already
            start, end = fuzzy.to_original(m.start, segments), fuzzy.to_original(m.end, segments, end=True)
            if any(start < e and s < end for s, e in taken):
                continue
            score = min(1 - c.distance / max(len(c.word), 1) for c in used)
            mentions.append(Mention(m.concept, start, end, original[start:end], "fuzzy", round(score, 3)))
        return mentions, spans

    # -- with the encoder -----------------------------------------------------------------------
    def match(self, sentences: Sequence[str], sections: Sequence[str | None] | None = None) -> list[list[Mention]]:
        """Mentions per sentence (same order as the input); ``sections`` are the sentences' headings."""
        results: list[list[Mention]] = []
        pending_ambiguous: list[tuple[int, str, int, int]] = []
        handled: list[bool] = []  # a sentence with any lexical hit (blocking phrases too) is not re-read by meaning
        for i, sentence in enumerate(sentences):
            mentions, candidates, hit = self._lexical(sentence)
            results.append(mentions)
            handled.append(hit or bool(candidates))
            pending_ambiguous.extend((i, *c) for c in candidates)
        if self.encoder is None:
            return results
        sections = list(sections) if sections is not None else [None] * len(sentences)
        need_semantic = [i for i in range(len(sentences))
                         if not handled[i] and self._semantic_candidate(sentences[i], sections[i])] if self.semantic else []
        need = sorted({i for i, *_ in pending_ambiguous} | set(need_semantic))
        if not need:
            return results
        sentence_vecs = dict(zip(need, self.encoder.encode([sentences[i] for i in need])))
        if pending_ambiguous:
            contexts = sorted({c.id: c for _, abbr, _, _ in pending_ambiguous for c in self._ambiguous[abbr]}.values(), key=lambda c: c.id)
            ctx_vecs = dict(zip((c.id for c in contexts), self.encoder.encode([c.context for c in contexts])))
            for i, abbr, start, end in pending_ambiguous:
                best: tuple[float, Concept] | None = None
                for concept in self._ambiguous[abbr]:
                    sim = float(sentence_vecs[i] @ ctx_vecs[concept.id])
                    if sim >= self.ambiguous_min and (best is None or sim > best[0]):
                        best = (sim, concept)
                if best:
                    results[i].append(Mention(best[1], start, end, sentences[i][start:end], "abbreviation-confirmed", round(best[0], 3)))
                    results[i].sort(key=lambda x: x.start)
        if need_semantic:
            names = self._name_matrix()
            for i in need_semantic:
                if results[i]:
                    continue
                sims = names @ sentence_vecs[i]
                j = int(np.argmax(sims))
                if float(sims[j]) >= self.semantic_min:
                    concept = self._name_rows[j][0]
                    text = sentences[i]
                    results[i].append(Mention(concept, 0, len(text), text, "embedding", round(float(sims[j]), 3)))
        return results

    def _name_matrix(self) -> np.ndarray:
        if not hasattr(self, "_names"):
            self._names = self.encoder.encode([t for _, t in self._name_rows])
        return self._names

    def _semantic_candidate(self, sentence: str, section: str | None) -> bool:
        """Only prose that could affirm a current problem is worth a forward pass: not lists of
        medications, vitals or labs, not relatives, and not sentences that negate or hedge."""
        from engine.models.assertion import Assertion, sentence_assertion

        if section in SEMANTIC_SKIP_SECTIONS or not self._worth_embedding(sentence):
            return False
        return sentence_assertion(sentence, section).label is Assertion.AFFIRMED

    @staticmethod
    def _worth_embedding(sentence: str) -> bool:
        """Skip fragments (vitals, list numbers, dates) that cannot name a condition by meaning."""
        words = re.findall(r"[A-Za-z]{3,}", sentence)
        return len(words) >= 3
