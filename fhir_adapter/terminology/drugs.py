"""Drug knowledge as data: RxNorm ingredients, drug classes, products and statin intensity.

Reads ``fhir_adapter/data/terminology/drugs.json`` (sources, versions and rules are in its ``_about``). Pure: no
network, no I/O beyond the package's own data file, loaded once.

- ``ingredients_of_code(system, code)``: RxNorm IN / PIN / SCD / SBD / pack code -> its ingredients (with strength
  in mg when the product has a solid strength in MG); an unknown code gives ``()``.
- ``ingredients_by_text(text)``: ingredient names and brand names named in free text (whole words,
  case-insensitive); a strength written right after the name ("Lipitor 40 mg") is read.
- ``classes_of(ingredients)``: the union of their classes, parents included.
- ``statin_intensity(name, daily_dose_mg)``: 2018 AHA/ACC Table 3 by TOTAL DAILY DOSE.
- ``classes_named(codings, text)``: drug classes a record names as a whole ("penicillin allergy", a SNOMED CT class
  substance code), for entries that name no ingredient.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Iterable

from fhir_adapter.terminology.text_memo import memoised_by_text

RXNORM_SYSTEMS = frozenset({
    "http://www.nlm.nih.gov/research/umls/rxnorm",
    "https://www.nlm.nih.gov/research/umls/rxnorm",
    "urn:oid:2.16.840.1.113883.6.88",
})

_INTENSITY_ORDER = {"low": 0, "moderate": 1, "high": 2}


@dataclass(frozen=True)
class Ingredient:
    """One ingredient of a drug. ``classes`` includes parent classes; ``rxcui`` is None when the ingredient's
    RxNorm code could not be sourced (matched by name only); ``strength_mg`` is the per-unit strength when known."""

    rxcui: str | None
    name: str
    classes: tuple[str, ...]
    strength_mg: float | None = None


@cache
def _data() -> dict[str, Any]:
    text = resources.files("fhir_adapter").joinpath("data/terminology/drugs.json").read_text(encoding="utf-8")
    return json.loads(text)


def knowledge_version() -> str:
    """A short version string: retrieval date and the source tags with their versions."""
    about = _data()["_about"]
    srcs = ", ".join(f"{tag} {s.get('version', '')}".strip() for tag, s in sorted(about["sources"].items()))
    return f"drugs.json retrieved {about['retrieved']} ({srcs})"


def class_names() -> tuple[str, ...]:
    """Every drug class of the knowledge base ("statin", "ace_inhibitor", ...)."""
    return tuple(_data()["classes"])


def drug_class(name: str) -> dict[str, Any]:
    """The class entry (title, atc, parent, note); KeyError for an unknown class."""
    return dict(_data()["classes"][name])


@cache
def _ancestors(cls: str) -> tuple[str, ...]:
    classes = _data()["classes"]
    out: list[str] = []
    cur: str | None = cls
    while cur is not None and cur not in out:
        out.append(cur)
        cur = classes.get(cur, {}).get("parent")
    return tuple(out)


def _expand(classes: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for c in classes:
        for a in _ancestors(c):
            if a not in out:
                out.append(a)
    return tuple(out)


@cache
def _by_name() -> dict[str, tuple[str | None, dict[str, Any]]]:
    d = _data()
    out: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for rx, e in d["ingredients"].items():
        out[e["name"]] = (rx, e)
    for name, e in d["ingredients_without_rxcui"].items():
        out.setdefault(name, (None, e))
    return out


@cache
def _alias_codes() -> dict[str, str]:
    """Precise-ingredient (salt) codes -> base ingredient RXCUI."""
    out: dict[str, str] = {}
    for rx, e in _data()["ingredients"].items():
        for o in e.get("other_codes", ()):
            out[o["rxcui"]] = rx
    return out


def _make(rxcui: str | None, name: str, strength_mg: float | None) -> Ingredient:
    entry = _data()["ingredients"].get(rxcui) if rxcui else None
    if entry is None:
        entry = _by_name().get(name, (None, {}))[1]
    classes = list(entry.get("classes", ()))
    for rule in entry.get("dose_classes", ()):
        if strength_mg is not None and strength_mg > rule["min_strength_mg_exclusive"] and rule["class"] not in classes:
            classes.append(rule["class"])
    return Ingredient(rxcui=rxcui, name=entry.get("name", name), classes=_expand(classes), strength_mg=strength_mg)


def is_rxnorm(system: str | None) -> bool:
    return (system or "").rstrip("/") in RXNORM_SYSTEMS


def ingredients_of_code(system: str | None, code: str | None) -> tuple[Ingredient, ...]:
    """Ingredients of an RxNorm ingredient (IN, or a precise-ingredient salt code) or product code (SCD/SBD/pack).

    Strength is the per-unit strength of a product in mg (None for IN codes, liquids, insulins, packs). A code
    not in the knowledge base, or a non-RxNorm system, gives ``()``."""
    if not code or not is_rxnorm(system):
        return ()
    code = str(code).strip()
    d = _data()
    if code in d["ingredients"]:
        return (_make(code, d["ingredients"][code]["name"], None),)
    alias = _alias_codes().get(code)
    if alias:
        return (_make(alias, d["ingredients"][alias]["name"], None),)
    product = d["products"].get(code)
    if product is None:
        return ()
    return tuple(_make(i.get("rxcui"), i["name"], i.get("strength_mg")) for i in product["ingredients"])


def product(code: str) -> dict[str, Any] | None:
    """The raw product entry (name, tty, ingredients, source, ecqm_statin_intensity ...) or None."""
    p = _data()["products"].get(str(code))
    return dict(p) if p else None


def single_ingredient_products(ingredient_name: str) -> tuple[tuple[str, str, float], ...]:
    """(code, name, per-unit strength in mg) of every product of this one ingredient with an mg strength, as the
    knowledge lists them: what a dose change can switch a drafted product to."""
    out = []
    for code, entry in _data()["products"].items():
        parts = entry["ingredients"]
        if len(parts) == 1 and parts[0]["name"] == ingredient_name and parts[0].get("strength_mg"):
            out.append((code, entry["name"], float(parts[0]["strength_mg"])))
    return tuple(out)


@cache
def _text_terms() -> tuple[tuple[str, re.Pattern[str], tuple[tuple[str | None, str], ...]], ...]:
    """(term, pattern, ingredients) for every ingredient name, synonym and brand combination, longest first."""
    d = _data()
    terms: dict[str, list[tuple[str | None, str]]] = {}

    def add(term: str, rx: str | None, name: str) -> None:
        lst = terms.setdefault(term.lower(), [])
        if (rx, name) not in lst:
            lst.append((rx, name))

    for name, (rx, e) in _by_name().items():
        add(name, rx, name)
        for s in e.get("synonyms", ()):
            add(s, rx, name)
    for brand, members in d.get("brand_combinations", {}).items():
        for m in members:
            if m in d["ingredients"]:
                add(brand, m, d["ingredients"][m]["name"])
            else:
                add(brand, None, m)
    out = []
    for term in sorted(terms, key=len, reverse=True):
        words = [re.escape(w) for w in re.split(r"[\s,]+", term) if w]
        pat = re.compile(r"(?<![\w-])" + r"[\s,]+".join(words) + r"(?![\w-])", re.IGNORECASE)
        out.append((term, pat, tuple(terms[term])))
    return tuple(out)


def name_terms() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Every ingredient name, synonym and brand name (lower case) with the ingredient names it stands for."""
    return tuple((term, tuple(name for _rx, name in members)) for term, _pat, members in _text_terms())


_STRENGTH = re.compile(r"\A[\s:,-]*(\d+(?:\.\d+)?)\s*(mg|milligrams?)\b", re.IGNORECASE)


@memoised_by_text()  # one scan runs every name pattern of the knowledge; records repeat their drug names
def ingredients_by_text(text: str | None) -> tuple[Ingredient, ...]:
    """Ingredients named in free text by ingredient name or brand name (whole words, case-insensitive).

    Longer terms win over shorter overlapping ones ("insulin glargine" over a shorter match inside it). A strength
    in mg right after the name ("Lipitor 40 mg") is read for single-ingredient terms. Each ingredient once, in
    order of appearance."""
    if not text:
        return ()
    taken: list[tuple[int, int]] = []
    hits: list[tuple[int, tuple[str | None, str], float | None]] = []
    for _term, pat, members in _text_terms():
        for m in pat.finditer(text):
            s, e = m.span()
            if any(s < te and ts < e for ts, te in taken):
                continue
            taken.append((s, e))
            strength = None
            if len(members) == 1:
                sm = _STRENGTH.match(text[e:])
                if sm:
                    strength = float(sm.group(1))
            for mem in members:
                hits.append((s, mem, strength))
    hits.sort(key=lambda h: h[0])
    out: list[Ingredient] = []
    seen: set[str] = set()
    for _s, (rx, name), strength in hits:
        if name in seen:
            continue
        seen.add(name)
        out.append(_make(rx, name, strength))
    return tuple(out)


def with_parents(classes: Iterable[str]) -> tuple[str, ...]:
    """The classes and their parents ("penicillin" -> penicillin, beta_lactam, antibacterial)."""
    return _expand(classes)


def classes_of(ingredients: Iterable[Ingredient]) -> set[str]:
    """Union of the ingredients' classes (parents included)."""
    out: set[str] = set()
    for i in ingredients:
        out.update(_expand(i.classes))
    return out


@cache
def _class_terms() -> tuple[tuple[str, re.Pattern[str] | None, frozenset[str]], ...]:
    out = []
    for cls, entry in _data().get("class_terms", {}).items():
        if cls.startswith("_"):
            continue
        words = sorted(entry.get("terms", ()), key=len, reverse=True)
        pattern = (re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(w) for w in words) + r")(?![\w-])", re.IGNORECASE)
                   if words else None)
        out.append((cls, pattern, frozenset(entry.get("snomed", ()))))
    return tuple(out)


def classes_named(codings: Iterable[tuple[str | None, str | None]], text: str | None) -> tuple[str, ...]:
    """Drug classes named as a whole by SNOMED CT class-substance codes (``(system, code)`` pairs) or by words in
    ``text`` ("Penicillins", "cephalosporin allergy"), parents included; ``()`` when none is named."""
    codes = {str(code).strip() for system, code in codings
             if code and (system or "").rstrip("/") == "http://snomed.info/sct"}
    found = [cls for cls, pattern, snomed in _class_terms()
             if (codes & snomed) or (text and pattern is not None and pattern.search(text))]
    return _expand(found)


def statin_intensity(ingredient_name: str, daily_dose_mg: float | None) -> str | None:
    """'high' / 'moderate' / 'low' per the 2018 AHA/ACC cholesterol guideline Table 3, by TOTAL DAILY DOSE.

    Rule (also in drugs.json statin_intensity.rule): a dose inside a band gets that band; between bands or above
    the highest band, the highest band whose lower bound is <= the dose (the lower band, e.g. simvastatin 80 mg ->
    moderate); below the lowest listed dose -> 'low'. None when the dose is unknown or not positive, or the
    ingredient is not in the table."""
    if daily_dose_mg is None:
        return None
    try:
        dose = float(daily_dose_mg)
    except (TypeError, ValueError):
        return None
    if dose <= 0:
        return None
    bands = _data()["statin_intensity"]["by_ingredient"].get((ingredient_name or "").strip().lower())
    if not bands:
        return None
    eps = 1e-9
    for b in bands:
        if b["min_mg"] - eps <= dose <= b["max_mg"] + eps:
            return b["intensity"]
    below = [b for b in bands if b["min_mg"] - eps <= dose]
    if below:
        return max(below, key=lambda b: (b["min_mg"], _INTENSITY_ORDER[b["intensity"]]))["intensity"]
    return "low"


__all__ = [
    "Ingredient",
    "RXNORM_SYSTEMS",
    "classes_named",
    "class_names",
    "classes_of",
    "drug_class",
    "ingredients_by_text",
    "ingredients_of_code",
    "is_rxnorm",
    "knowledge_version",
    "name_terms",
    "product",
    "statin_intensity",
]
