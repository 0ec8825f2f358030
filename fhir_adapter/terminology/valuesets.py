"""Value sets: which clinical concept a coding stands for, from data files that name their source.

The definitions live in ``fhir_adapter/data/terminology/valuesets.json``. A value set there has:

- ``codes``: enumerated (system, code) pairs, matched exactly;
- ``prefixes``: ICD-10 / ICD-10-CM / ATC prefixes (dots ignored: "I70.21" ~ "I7021"), the way ICD categories work;
- ``include``: whole expansions published elsewhere, kept verbatim as data under ``data/terminology/`` (the VSAC
  expansions that the CMS eCQMs use, in ``ecqm/``), optionally limited to some systems or to the codes whose display
  matches a pattern (``display_pattern``: the type 2 codes of the Diabetes set);
- ``text``: ingredient and brand names, a last-resort match on medication text;
- ``synonyms``: words that name the concept in a coding's display or a CodeableConcept's text. They are never used to
  count a concept as present: they let the adapter say "this entry names diabetes, but its code is not in the value
  set" (an *unrecognised code*) instead of silently reading it as absent.

SNOMED CT hierarchies are not expanded at run time (no terminology server is needed): a value set lists its
descendants explicitly, which the VSAC expansions do. Every file carries its source, version and review date; see
docs/terminology.md for how to add a value set.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable, Mapping

from fhir_adapter.terminology.text_memo import memoised_by_text

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
OMB_RACE_ETHNICITY = "urn:oid:2.16.840.1.113883.6.238"

DATA_DIR = "data/terminology"
VALUESETS_FILE = f"{DATA_DIR}/valuesets.json"

# Code systems whose codes are matched by prefix with dots ignored (ICD-10 "I70.21" ~ "I7021").
_PREFIX_SYSTEMS = frozenset({ICD10CM, ICD10, ATC, ICD10PCS})


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str | None = None
    unit: str | None = None  # expected unit for LOINC quantities (documentation only)
    ingredient: str | None = None  # for RxNorm drug codes


@dataclass(frozen=True)
class Prefix:
    system: str
    prefix: str
    display: str | None = None


@dataclass(frozen=True)
class Inclusion:
    """A published expansion a value set takes in whole (or limited to ``systems``)."""

    file: str
    name: str
    oid: str | None
    version: str | None
    source: str
    systems: tuple[str, ...]
    count: int


@dataclass(frozen=True)
class ValueSet:
    name: str
    title: str
    source: str
    version: str
    codes: tuple[Code, ...]
    prefixes: tuple[Prefix, ...] = ()
    text: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()
    includes: tuple[Inclusion, ...] = ()
    reviewed: str | None = None

    def all_codes(self) -> tuple[Code, ...]:
        """Enumerated codes and the codes of every included expansion (no prefixes)."""
        return _index().expanded[self.name]


@dataclass(frozen=True)
class _Index:
    about: str
    value_sets: dict[str, ValueSet]
    expanded: dict[str, tuple[Code, ...]]
    exact: dict[tuple[str, str], tuple[str, ...]]  # (system, code) -> value set names
    prefixes: dict[str, tuple[tuple[str, str], ...]]  # system -> ((normalised prefix, name), ...)
    aliases: dict[str, str]
    text_patterns: tuple[tuple[str, re.Pattern[str]], ...]  # medication names
    synonym_patterns: tuple[tuple[str, re.Pattern[str]], ...]  # concept names in displays / text
    synonym_exclusions: re.Pattern[str] | None  # phrases removed before synonyms are looked for


def _normalise_prefix_code(code: str) -> str:
    return code.replace(".", "").strip().upper()


def _read_json(relative: str) -> dict:
    return json.loads(resources.files("fhir_adapter").joinpath(relative).read_text("utf-8"))


def _word_pattern(words: Iterable[str]) -> re.Pattern[str]:
    # One alternation per concept, whole words only (so "lasix" does not fire inside another word), longest first.
    alternation = "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
    return re.compile(r"\b(" + alternation + r")\b", re.IGNORECASE)


def _exclusion_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """Phrases to blank out before synonyms are looked for; "family history of ..." blanks the rest of the text too."""
    parts = []
    for phrase in sorted(set(phrases), key=len, reverse=True):
        if phrase.endswith(" ..."):
            parts.append(r"\b" + re.escape(phrase[:-4]) + r"\b.*")
        else:
            parts.append(r"\b" + re.escape(phrase) + r"\b")
    return re.compile("|".join(parts), re.IGNORECASE | re.DOTALL) if parts else None


def _load_inclusion(spec: Mapping) -> tuple[Inclusion, tuple[Code, ...]]:
    raw = _read_json(f"{DATA_DIR}/{spec['file']}")
    systems = tuple(spec.get("systems", ()))
    # "display_pattern" takes the part of a published expansion a narrower concept needs, e.g. the codes of the VSAC
    # Diabetes set whose display says "type 2" for the concept type 2 diabetes.
    pattern = re.compile(spec["display_pattern"], re.IGNORECASE) if spec.get("display_pattern") else None
    codes = tuple(Code(c["system"], str(c["code"]), c.get("display")) for c in raw.get("codes", ())
                  if (not systems or c["system"] in systems)
                  and (pattern is None or pattern.search(c.get("display") or "")))
    inclusion = Inclusion(file=spec["file"], name=raw.get("name", spec["file"]), oid=raw.get("oid"),
                          version=raw.get("version"), source=raw.get("source", ""), systems=systems, count=len(codes))
    return inclusion, codes


@lru_cache(maxsize=1)
def _index() -> _Index:
    raw = _read_json(VALUESETS_FILE)
    aliases = {k.rstrip("/"): v for k, v in raw.get("system_aliases", {}).items()}
    value_sets: dict[str, ValueSet] = {}
    expanded: dict[str, tuple[Code, ...]] = {}
    exact: dict[tuple[str, str], list[str]] = {}
    prefixes: dict[str, list[tuple[str, str]]] = {}
    text_patterns: list[tuple[str, re.Pattern[str]]] = []
    synonym_patterns: list[tuple[str, re.Pattern[str]]] = []
    for name, spec in raw["value_sets"].items():
        codes = tuple(Code(**c) for c in spec.get("codes", ()))
        includes: list[Inclusion] = []
        all_codes: dict[tuple[str, str], Code] = {(c.system, c.code): c for c in codes}
        for inc_spec in spec.get("include", ()):
            inclusion, inc_codes = _load_inclusion(inc_spec)
            includes.append(inclusion)
            for c in inc_codes:
                all_codes.setdefault((c.system, c.code), c)
        excluded = {(c["system"], c["code"]) for c in spec.get("exclude", ())}
        for key in excluded:
            all_codes.pop(key, None)
        pfx = tuple(Prefix(**p) for p in spec.get("prefixes", ()))
        text = tuple(t.lower() for t in spec.get("text", ()))
        synonyms = tuple(s.lower() for s in spec.get("synonyms", ()))
        value_sets[name] = ValueSet(name, spec["title"], spec["source"], spec["version"], codes, pfx, text, synonyms,
                                    tuple(includes), spec.get("reviewed"))
        expanded[name] = tuple(all_codes.values())
        for key in all_codes:
            exact.setdefault(key, []).append(name)
        for p in pfx:
            prefixes.setdefault(p.system, []).append((_normalise_prefix_code(p.prefix), name))
        if text:
            text_patterns.append((name, _word_pattern(text)))
        if synonyms:
            synonym_patterns.append((name, _word_pattern(synonyms)))
    return _Index(
        about=raw.get("_about", ""),
        value_sets=value_sets,
        expanded=expanded,
        exact={k: tuple(v) for k, v in exact.items()},
        prefixes={k: tuple(v) for k, v in prefixes.items()},
        aliases=aliases,
        text_patterns=tuple(text_patterns),
        synonym_patterns=tuple(synonym_patterns),
        synonym_exclusions=_exclusion_pattern(raw.get("synonym_exclusions", ())),
    )


def normalise_system(system: str | None) -> str | None:
    """Canonical code-system URI (OID and https variants mapped to the FHIR URI)."""
    if not isinstance(system, str) or not system.strip():
        return None
    s = system.strip().rstrip("/")
    return _index().aliases.get(s, s)


def value_set(name: str) -> ValueSet:
    return _index().value_sets[name]


def value_set_names() -> list[str]:
    return list(_index().value_sets)


def codes_for(concept: str, system: str | None = None) -> list[str]:
    """Codes of a value set (enumerated and included), optionally limited to one system (prefixes not included)."""
    return [c.code for c in value_set(concept).all_codes() if system is None or c.system == system]


# Codings already looked up -> their value sets. Parsing a record looks up every coding of every resource, and a
# record repeats the same few hundred codes; the index never changes after loading. Bounded, so that a flood of
# made-up codes cannot grow it without limit (past the bound, lookups are simply not remembered).
_CONCEPTS_SEEN: dict[tuple[str, str], tuple[str, ...]] = {}
_CONCEPTS_SEEN_MAX = 50_000


def concepts_of_coding(system: str | None, code: str | None) -> tuple[str, ...]:
    """Every value set a coding belongs to (a combination drug can be both antihypertensive and statin).

    A coding without a system is never matched: a bare "I10" or "6918" is ambiguous.
    """
    if type(system) is str and type(code) is str:
        key = (system, code)
        found = _CONCEPTS_SEEN.get(key)
        if found is None:
            found = _look_up_concepts(system, code)
            if len(_CONCEPTS_SEEN) < _CONCEPTS_SEEN_MAX:
                _CONCEPTS_SEEN[key] = found
        return found
    return _look_up_concepts(system, code)


def _look_up_concepts(system: str | None, code: str | None) -> tuple[str, ...]:
    sys_uri = normalise_system(system)
    if sys_uri is None or not isinstance(code, str) or not code.strip():
        return ()
    idx = _index()
    code = code.strip()
    found = list(idx.exact.get((sys_uri, code), ()))
    if sys_uri in _PREFIX_SYSTEMS:
        norm = _normalise_prefix_code(code)
        for prefix, concept in idx.prefixes.get(sys_uri, ()):
            if norm.startswith(prefix) and concept not in found:
                found.append(concept)
    return tuple(found)


def concept_of_coding(system: str | None, code: str | None) -> str | None:
    """The first value set a coding belongs to, or None."""
    found = concepts_of_coding(system, code)
    return found[0] if found else None


def concepts_of_codings(codings: Iterable[Mapping]) -> tuple[str, ...]:
    """Union of value sets over FHIR Coding dicts (bad entries are ignored)."""
    out: list[str] = []
    for coding in codings or ():
        if not isinstance(coding, dict):
            continue
        for concept in concepts_of_coding(coding.get("system"), coding.get("code")):
            if concept not in out:
                out.append(concept)
    return tuple(out)


def concepts_of_pairs(pairs: Iterable[tuple[str, str]]) -> set[str]:
    """Value sets present among (system, code) pairs, e.g. the codes of a problem list."""
    found: set[str] = set()
    for pair in pairs or ():
        try:
            system, code = pair
        except (TypeError, ValueError):
            continue
        found.update(concepts_of_coding(system, code))
    return found


def medication_concepts_by_text(text: str | None) -> dict[str, str]:
    """Medication value sets whose ingredient/brand name appears as a whole word in ``text`` (concept -> name).

    The documented last-resort fallback for medication resources whose codes are missing or not in our lists.
    """
    if not isinstance(text, str) or not text:
        return {}
    return dict(_medication_concepts_by_text(text))  # a dict of its own: callers add to it


@memoised_by_text()
def _medication_concepts_by_text(text: str) -> tuple[tuple[str, str], ...]:
    found: dict[str, str] = {}
    for concept, pattern in _index().text_patterns:
        match = pattern.search(text)
        if match:
            found[concept] = match.group(1).lower()
    return tuple(found.items())


def concepts_named_in(text: str | None, among: Iterable[str] | None = None) -> dict[str, str]:
    """Value sets whose synonyms appear as whole words in ``text`` (concept -> the words found).

    Used only to report an *unrecognised code*; a name alone never makes a concept present.
    """
    if not isinstance(text, str) or not text:
        return {}
    return dict(_concepts_named_in(text, None if among is None else tuple(among)))


@memoised_by_text()
def _concepts_named_in(text: str, among: tuple[str, ...] | None) -> tuple[tuple[str, str], ...]:
    wanted = None if among is None else set(among)
    idx = _index()
    if idx.synonym_exclusions is not None:
        # "diabetes insipidus", "portal hypertension", "family history of ..." do not name the concept.
        text = idx.synonym_exclusions.sub(" ", text)
    found: dict[str, str] = {}
    for concept, pattern in idx.synonym_patterns:
        if wanted is not None and concept not in wanted:
            continue
        match = pattern.search(text)
        if match:
            found[concept] = match.group(1).lower()
    return tuple(found.items())


def about() -> str:
    return _index().about
