"""Which CPIC drugs a medication entry or drafted order is: by ingredient, by RxNorm ingredient code, or by a name
(ingredient or brand, whole words) in what the record calls it. Drugs are listed in
engine/data/pharmacogenomics/drugs.json, with their sources."""
from __future__ import annotations

import re
from functools import cache
from typing import Iterable

from engine.pharmacogenomics import knowledge
from engine.proposals import RXNORM

_RXNORM_SYSTEMS = frozenset({RXNORM, "https://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88"})


@cache
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    out = []
    for drug, entry in knowledge.drugs_data()["drugs"].items():
        names = sorted({drug, *entry.get("names", ())}, key=len, reverse=True)
        out.append((drug, re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w-])",
                                     re.IGNORECASE)))
    return tuple(out)


@cache
def _by_rxcui() -> dict[str, str]:
    return {entry["rxcui"]: drug for drug, entry in knowledge.drugs_data()["drugs"].items() if entry.get("rxcui")}


def drugs_in(name: str | None, ingredients: Iterable[str] = (),
             codes: Iterable[tuple[str | None, str | None]] = ()) -> tuple[str, ...]:
    """The listed drugs this medication is (a combination product can be two), in a stable order."""
    found: list[str] = []
    known = knowledge.drugs_data()["drugs"]
    for ingredient in ingredients:
        ingredient = (ingredient or "").strip().lower()
        if ingredient in known and ingredient not in found:
            found.append(ingredient)
    for system, code in codes:
        if (system or "").rstrip("/") in _RXNORM_SYSTEMS and code and (drug := _by_rxcui().get(str(code).strip())):
            if drug not in found:
                found.append(drug)
    if name:
        for drug, pattern in _patterns():
            if drug not in found and pattern.search(name):
                found.append(drug)
    return tuple(found)
