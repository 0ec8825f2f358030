"""What the words of a question stand for: tests, drugs and drug classes, problems, procedures, vaccines, allergens.

Built once from the project's own knowledge - the feature catalogue (labels and value sets of every test a feature
reads), the terminology (value-set synonyms, drug classes, ingredient and brand names), the note concepts
(engine/data/concepts.json) - and from engine/data/qa_vocabulary.json, which adds only the everyday words a
question uses and the tests, procedures and vaccines no feature reads. The code is generic: adding a synonym or a
lab is a data edit.

Matching (``find_mentions``): whole words, case-insensitive, hyphens and spaces alike, a plural "s" ignored,
longest match first; abbreviations only in the case they are written ("AF", "MI"); misspellings of longer terms by
rapidfuzz's normalised Indel similarity ("cholestrol", "metfromin").
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

from rapidfuzz import fuzz, process

from engine.feature_catalog import FEATURES, QUANTITY
from engine.models.settings import DATA_DIR
from fhir_adapter.terminology import drugs, value_set, value_set_names

VOCABULARY_PATH = DATA_DIR / "qa_vocabulary.json"
CONCEPTS_PATH = DATA_DIR / "concepts.json"

OBSERVATION, DRUG_CLASS, DRUG, CONDITION, PROCEDURE, VACCINE, ALLERGEN, SCORE = (
    "observation", "drug_class", "drug", "condition", "procedure", "vaccine", "allergen", "score")
# When one word names targets of several kinds, the more specific reading wins (a drug over a condition: "insulin").
KIND_ORDER = (SCORE, OBSERVATION, DRUG, DRUG_CLASS, VACCINE, PROCEDURE, ALLERGEN, CONDITION)
RECORD_DRUG = "record:"  # key prefix of a drug known only from the record's medication text

FUZZY_MIN_CHARS = 6  # shorter words are too close to ordinary words to be corrected
FUZZY_CUTOFF = 88.0  # rapidfuzz ratio (0-100): one dropped or swapped letter in a word of 8+ letters passes
MAX_TERM_WORDS = 6


@dataclass(frozen=True)
class ObservationConcept:
    id: str
    label: str
    unit: str | None
    value_sets: tuple[str, ...] = ()  # terminology value sets whose codes identify it
    loinc: tuple[str, ...] = ()  # LOINC codes of tests no value set covers
    pair: tuple[str, ...] = ()  # blood pressure: systolic and diastolic value sets, read together
    panel_value_sets: tuple[str, ...] = ()
    names: tuple[str, ...] = ()  # normalised names, for records coded locally
    feature: str | None = None
    topic: str | None = None
    from_patient: bool = False  # age: read from the Patient resource, not from an Observation


@dataclass(frozen=True)
class CodedConcept:
    """A condition, procedure, vaccine or allergen: value sets and codes that identify it, and its names."""

    id: str
    kind: str
    label: str
    value_sets: tuple[str, ...] = ()
    codes: frozenset[tuple[str, str]] = frozenset()  # (system, code)
    prefixes: tuple[tuple[str, str], ...] = ()  # (system, prefix without dots), ICD-10 style
    names: tuple[str, ...] = ()  # normalised names matched against the record's text
    ingredients: tuple[str, ...] = ()  # drug ingredients of an allergen or medication group
    classes: tuple[str, ...] = ()  # drug classes (a drug class target)
    topic: str | None = None
    season_start: str | None = None  # vaccines: "MM-DD" a season starts (influenza)
    treated_by_classes: tuple[str, ...] = ()  # conditions: drug classes usually given for it
    treated_by_ingredients: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    kind: str
    key: str
    needs_cue: bool = False  # a vaccine named by its disease ("flu") only with a vaccine word nearby


@dataclass(frozen=True)
class Mention:
    targets: tuple[Target, ...]
    start: int  # token offsets in the question
    end: int
    text: str
    method: str  # "exact" | "abbreviation" | "fuzzy"
    score: float = 100.0

    def of_kind(self, *kinds: str) -> list[Target]:
        return [t for t in self.targets if t.kind in kinds]


@dataclass
class Vocabulary:
    version: str
    observations: dict[str, ObservationConcept] = field(default_factory=dict)
    coded: dict[tuple[str, str], CodedConcept] = field(default_factory=dict)  # (kind, id) -> concept
    terms: dict[tuple[str, ...], list[Target]] = field(default_factory=dict)
    abbreviations: dict[str, list[Target]] = field(default_factory=dict)
    cues: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    time_windows: dict[tuple[str, ...], str] = field(default_factory=dict)
    topics: dict[str, dict] = field(default_factory=dict)
    no_known_allergy_codes: frozenset[tuple[str, str]] = frozenset()
    no_known_allergy_texts: tuple[str, ...] = ()
    name_exclusions: tuple[str, ...] = ()
    _fuzzy: dict[int, list[str]] = field(default_factory=dict, repr=False)

    def concept(self, target: Target) -> ObservationConcept | CodedConcept:
        if target.kind == OBSERVATION:
            return self.observations[target.key]
        if target.kind == DRUG and target.key.startswith(RECORD_DRUG):
            name = target.key[len(RECORD_DRUG):]
            return CodedConcept(target.key, DRUG, name, names=(name,))
        return self.coded[(target.kind, target.key)]

    def allergen_groups_of(self, ingredient: str) -> list[CodedConcept]:
        """Allergen groups an ingredient belongs to (amoxicillin -> penicillins)."""
        return [c for (kind, _), c in self.coded.items() if kind == ALLERGEN and ingredient in c.ingredients]

    def add_term(self, words: str, target: Target) -> None:
        key = tokens(words)
        if not key or len(key) > MAX_TERM_WORDS:
            return
        bucket = self.terms.setdefault(key, [])
        if target not in bucket:
            bucket.append(target)

    def fuzzy_candidates(self, n_words: int) -> list[str]:
        if not self._fuzzy:
            for key, targets in self.terms.items():
                text = " ".join(key)
                if len(text) >= FUZZY_MIN_CHARS and not all(t.needs_cue for t in targets):
                    self._fuzzy.setdefault(len(key), []).append(text)
        return self._fuzzy.get(n_words, [])


# -- words ---------------------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"[a-z0-9+]+")


def _stem(word: str) -> str:
    """A plural "s" off ("statins" -> "statin"); "-ss", "-us", "-is" and short words kept."""
    if len(word) >= 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokens(text: str) -> tuple[str, ...]:
    """Lower-case word tokens with the plural "s" removed; apostrophes dropped, other punctuation separates."""
    text = text.lower().replace("\u2019", "'").replace("'", "")
    return tuple(_stem(w) for w in _TOKEN.findall(text))


def normalised(text: str) -> str:
    return " ".join(tokens(text))


# -- building ------------------------------------------------------------------------------------------------------
def load_vocabulary(path: Path | str | None = None, concepts_path: Path | str | None = None) -> Vocabulary:
    return _load(str(path or VOCABULARY_PATH), str(concepts_path or CONCEPTS_PATH))


@lru_cache(maxsize=4)
def _load(path: str, concepts_path: str) -> Vocabulary:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    vocab = Vocabulary(version=str(data["_about"].get("version", "")))
    _add_observations(vocab, data["observations"])
    _add_drugs(vocab, data["medication_classes"])
    _add_conditions(vocab, data["conditions"], json.loads(Path(concepts_path).read_text(encoding="utf-8")))
    for kind, section in ((PROCEDURE, "procedures"), (VACCINE, "vaccines"), (ALLERGEN, "allergens"),
                          (SCORE, "scores")):
        for entry in data[section]:
            _add_coded(vocab, kind, entry)
    cues = data["cues"]
    vocab.cues = {name: tuple(tokens(w) for w in words) for name, words in cues.items()
                  if isinstance(words, list)}
    vocab.time_windows = {tokens(k): v for k, v in cues["time"].items()}
    vocab.topics = dict(data["topics"])
    nka = data["no_known_allergy_codes"]
    vocab.no_known_allergy_codes = frozenset((c[0], c[1]) for c in nka["codes"])
    vocab.no_known_allergy_texts = tuple(normalised(t) for t in nka["texts"])
    vocab.name_exclusions = tuple(normalised(t) for t in data["name_match_exclusions"])
    return vocab


def _add_observations(vocab: Vocabulary, entries: list[dict]) -> None:
    specs = {spec.name: spec for spec in FEATURES}
    listed = set()
    for entry in entries:
        spec = specs.get(entry.get("feature", ""))
        listed.add(entry.get("feature"))
        names = [*entry.get("synonyms", ())]
        if spec is not None:
            names += [spec.label, spec.short, spec.noun]
            value_sets = tuple(spec.value_sets) + tuple(entry.get("also_value_sets", ()))
            concept = ObservationConcept(entry["id"], spec.label, spec.unit, value_sets,
                                         panel_value_sets=spec.panel_value_sets, feature=spec.name,
                                         topic=entry.get("topic"), names=_names(names))
        else:
            names.append(entry["label"])
            concept = ObservationConcept(entry["id"], entry["label"], entry.get("unit"),
                                         loinc=tuple(entry.get("codes", ())), pair=tuple(entry.get("pair", ())),
                                         panel_value_sets=tuple(entry.get("panel_value_sets", ())),
                                         topic=entry.get("topic"), names=_names(names),
                                         from_patient=bool(entry.get("from_patient")))
        vocab.observations[concept.id] = concept
        for name in names:
            vocab.add_term(name, Target(OBSERVATION, concept.id))
    # Every other quantity a feature reads from an Observation is askable by its catalogue label.
    for spec in FEATURES:
        if spec.kind != QUANTITY or spec.name in listed or "Observation" not in spec.resources:
            continue
        names = [spec.label, spec.short, spec.noun]
        vocab.observations[spec.name] = ObservationConcept(spec.name, spec.label, spec.unit, tuple(spec.value_sets),
                                                           panel_value_sets=spec.panel_value_sets,
                                                           feature=spec.name, names=_names(names))
        for name in names:
            vocab.add_term(name, Target(OBSERVATION, spec.name))


def _add_drugs(vocab: Vocabulary, class_entries: list[dict]) -> None:
    for entry in class_entries:
        classes = tuple(entry.get("classes", ()))
        label = entry.get("label") or _class_title(classes[0])
        concept = CodedConcept(entry["id"], DRUG_CLASS, label, classes=classes,
                               ingredients=tuple(entry.get("ingredients", ())), names=_names(entry.get("names", ())),
                               topic=entry.get("topic"))
        vocab.coded[(DRUG_CLASS, concept.id)] = concept
        for name in entry["synonyms"]:
            vocab.add_term(name, Target(DRUG_CLASS, concept.id))
    # Every class of the drug knowledge is askable by its own name ("arni", "sglt2 inhibitor", "loop diuretic").
    for cls in drugs.class_names():
        if (DRUG_CLASS, cls) not in vocab.coded:
            vocab.coded[(DRUG_CLASS, cls)] = CodedConcept(cls, DRUG_CLASS, _class_title(cls), classes=(cls,))
        vocab.add_term(cls.replace("_", " "), Target(DRUG_CLASS, cls))
    for term, ingredients in drugs.name_terms():
        for ingredient in ingredients:
            if (DRUG, ingredient) not in vocab.coded:
                vocab.coded[(DRUG, ingredient)] = CodedConcept(
                    ingredient, DRUG, ingredient, ingredients=(ingredient,), names=(normalised(ingredient),))
            vocab.add_term(term, Target(DRUG, ingredient))


def _class_title(cls: str) -> str:
    try:
        return str(drugs.drug_class(cls)["title"])
    except KeyError:
        return cls.replace("_", " ")


def _add_conditions(vocab: Vocabulary, entries: list[dict], note_concepts: dict) -> None:
    # Priority: this file's entries, then the note concepts, then the terminology's value-set synonyms; a word
    # already taken by a condition keeps its first meaning.
    for entry in entries:
        _add_coded(vocab, CONDITION, entry)
    taken = {key for key, targets in vocab.terms.items() if any(t.kind == CONDITION for t in targets)}
    for c in note_concepts["concepts"]:
        concept = CodedConcept(c["id"], CONDITION, c["name"], value_sets=tuple(c["documented_by_value_sets"]),
                               names=_names(c.get("synonyms", ())))
        vocab.coded.setdefault((CONDITION, concept.id), concept)
        for name in c.get("synonyms", ()):
            if tokens(name) not in taken:
                vocab.add_term(name, Target(CONDITION, concept.id))
        for abbreviation in c.get("abbreviations", ()):  # ambiguous ones ("MS", "RA") are left out on purpose
            vocab.abbreviations.setdefault(abbreviation, []).append(Target(CONDITION, concept.id))
    taken = {key for key, targets in vocab.terms.items() if any(t.kind == CONDITION for t in targets)}
    for name in value_set_names():
        vs = value_set(name)
        if not vs.synonyms:
            continue
        vocab.coded.setdefault((CONDITION, name), CodedConcept(name, CONDITION, vs.title, value_sets=(name,),
                                                               names=_names(vs.synonyms)))
        for synonym in vs.synonyms:
            if tokens(synonym) not in taken:
                vocab.add_term(synonym, Target(CONDITION, name))


def _add_coded(vocab: Vocabulary, kind: str, entry: dict) -> None:
    codes = set()
    for item in entry.get("codes", ()):
        codes.add((item[0], item[1]))
    for code in entry.get("cvx", ()):
        codes.add(("http://hl7.org/fhir/sid/cvx", code))
    names = [*entry.get("synonyms", ()), *entry.get("names", ())]
    label = entry.get("label") or entry["id"].replace("_", " ")
    concept = CodedConcept(
        entry["id"], kind, label, value_sets=tuple(entry.get("value_sets", ())), codes=frozenset(codes),
        prefixes=tuple((p[0], p[1].replace(".", "").upper()) for p in entry.get("prefixes", ())),
        names=_names(names + [label] if kind != VACCINE else names), ingredients=tuple(entry.get("ingredients", ())),
        topic=entry.get("topic"), season_start=entry.get("season_start"),
        treated_by_classes=tuple(entry.get("treated_by", {}).get("classes", ())),
        treated_by_ingredients=tuple(entry.get("treated_by", {}).get("ingredients", ())))
    vocab.coded[(kind, concept.id)] = concept
    for name in entry.get("synonyms", ()):
        vocab.add_term(name, Target(kind, concept.id, needs_cue=kind == VACCINE))
    for name in entry.get("names", ()):
        vocab.add_term(name, Target(kind, concept.id))
    for abbreviation in entry.get("abbreviations", ()):
        vocab.abbreviations.setdefault(abbreviation, []).append(Target(kind, concept.id))


def _names(names) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for n in (normalised(x) for x in names if x) if n))


# -- matching ------------------------------------------------------------------------------------------------------
_WORD = re.compile(r"[A-Za-z0-9+]+(?:['\u2019][A-Za-z]+)?")


def find_mentions(question: str, vocab: Vocabulary, skip: frozenset[str] = frozenset(),
                  extra: Mapping[tuple[str, ...], list[Target]] | None = None) -> list[Mention]:
    """Targets named in the question, left to right, longest first; ``skip``: words never read as targets;
    ``extra``: terms of this record only (drugs its medication list names that the vocabulary does not know)."""
    words = [m.group(0) for m in _WORD.finditer(question)]
    toks = [tokens(w)[0] if tokens(w) else "" for w in words]
    taken = [False] * len(toks)
    found: list[Mention] = []
    for i in range(len(toks)):
        if taken[i]:
            continue
        for n in range(min(MAX_TERM_WORDS, len(toks) - i), 0, -1):
            key = tuple(toks[i:i + n])
            targets = vocab.terms.get(key) or (extra or {}).get(key)
            if targets and not any(taken[i:i + n]) and not (n == 1 and key[0] in skip):
                found.append(Mention(tuple(targets), i, i + n, " ".join(words[i:i + n]), "exact"))
                for j in range(i, i + n):
                    taken[j] = True
                break
    for i, word in enumerate(words):
        if not taken[i] and word in vocab.abbreviations:
            found.append(Mention(tuple(vocab.abbreviations[word]), i, i + 1, word, "abbreviation"))
            taken[i] = True
    found += _fuzzy_mentions(words, toks, taken, vocab, skip)
    return sorted(found, key=lambda m: m.start)


def _fuzzy_mentions(words, toks, taken, vocab: Vocabulary, skip: frozenset[str]) -> list[Mention]:
    out: list[Mention] = []
    for n in (3, 2, 1):
        for i in range(len(toks) - n + 1):
            if any(taken[i:i + n]) or any(t in skip or not t for t in toks[i:i + n]):
                continue
            text = " ".join(toks[i:i + n])
            if len(text) < FUZZY_MIN_CHARS:
                continue
            hit = process.extractOne(text, vocab.fuzzy_candidates(n), scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
            if hit is None:
                continue
            targets = vocab.terms[tuple(hit[0].split(" "))]
            out.append(Mention(tuple(targets), i, i + n, " ".join(words[i:i + n]), "fuzzy", float(hit[1])))
            for j in range(i, i + n):
                taken[j] = True
    return out


# -- drugs named only by the record -------------------------------------------------------------------------------
_DOSE_START = re.compile(r"\d")
# Words of a medication's text that are not its drug: salts, dose forms, routes, release and packaging words.
_NOT_DRUG_WORDS = frozenset(tokens(
    "tablet tablets tab tabs capsule capsules cap caps oral solution suspension injection injectable syrup cream "
    "ointment gel patch inhaler inhalation powder spray drops pen pens vial extended release delayed er xr sr dr hr "
    "chewable sublingual topical ophthalmic nasal hydrochloride hcl sodium potassium calcium succinate tartrate "
    "besylate maleate mesylate citrate sulfate acetate fumarate dihydrate monohydrate mg mcg ml units unit each "
    "daily once twice"))


def record_drug_terms(medication_names: Iterable[str], vocab: Vocabulary) -> dict[tuple[str, ...], list[Target]]:
    """Drugs the record's medication list names in text that the vocabulary does not know ("tiotropium 2.5 mcg
    inhaler" -> "tiotropium"): the words before the first number, less salts and dose forms, and their first word.
    A question naming one is then about that entry, never a guess about a term whose codes are unknown."""
    out: dict[tuple[str, ...], list[Target]] = {}
    for name in medication_names:
        head = _DOSE_START.split(name, maxsplit=1)[0]
        words = tuple(w for w in tokens(head) if w not in _NOT_DRUG_WORDS and len(w) >= 4 and w.isalpha())
        if not words or len(words) > 3:
            continue
        for key in {words, words[:1]}:
            if key in vocab.terms or (len(key) == 1 and key[0] in vocab.abbreviations):
                continue
            out.setdefault(key, [Target(DRUG, RECORD_DRUG + " ".join(key))])
    return out
