"""The CPIC knowledge as data: genes (allele function, activity values, phenotype tables), guidelines (recommendation
rows by phenotype, drug by drug), the drugs they name and the IWPC warfarin algorithms.

Reads ``engine/data/pharmacogenomics/*.json`` once, at first use (package data only). The JSON files name their
sources and versions; this module only indexes them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Mapping

from engine.finding import Citation

# CPIC's classification of a recommendation, strongest first.
STRENGTHS = ("Strong", "Moderate", "Optional", "No recommendation")
ACTIONS = ("standard", "advice", "dose", "avoid", "replace")


def _load(name: str) -> dict[str, Any]:
    text = resources.files("engine").joinpath(f"data/pharmacogenomics/{name}").read_text(encoding="utf-8")
    return json.loads(text)


@cache
def genes_data() -> dict[str, Any]:
    return _load("genes.json")


@cache
def guidelines_data() -> dict[str, Any]:
    return _load("guidelines.json")


@cache
def drugs_data() -> dict[str, Any]:
    return _load("drugs.json")


@cache
def iwpc_data() -> dict[str, Any]:
    return _load("iwpc_warfarin.json")


def gene(symbol: str) -> dict[str, Any] | None:
    """The gene's entry (method, alleles, phenotype table, source), or None for a gene the tables do not cover."""
    return genes_data()["genes"].get(symbol)


def gene_symbols() -> tuple[str, ...]:
    return tuple(genes_data()["genes"])


def gene_source(symbol: str) -> dict[str, Any]:
    entry = gene(symbol) or {}
    return dict(genes_data()["sources"].get(entry.get("source", ""), {}))


@cache
def hgnc_symbols() -> dict[str, str]:
    """HGNC id ("HGNC:2621", also the bare number) -> gene symbol."""
    out: dict[str, str] = {}
    for symbol, entry in genes_data()["genes"].items():
        hgnc = entry.get("hgnc")
        if hgnc:
            out[hgnc] = symbol
            out[hgnc.split(":", 1)[1]] = symbol
    return out


@cache
def hla_alleles_of_interest() -> dict[str, str]:
    """"HLA-B*57:01" -> "HLA-B" for every HLA allele a guideline names."""
    return {allele: symbol for symbol, entry in genes_data()["genes"].items()
            for allele in entry.get("alleles_of_interest", ())}


@dataclass(frozen=True)
class Row:
    """One row of a CPIC recommendation table, for the drugs it covers."""

    guideline: str  # the guideline key, e.g. "cpic-clopidogrel-2022"
    index: int  # position in the guideline's table (rows are tried in order)
    drugs: tuple[str, ...]
    when: Mapping[str, Any]  # gene or HLA allele -> phenotypes, {"activity_score": [...]} or {"any": true}
    implication: str
    recommendation: str
    strength: str
    action: str
    indicator: str | None = None
    alternatives: tuple[str, ...] = ()
    dose_change: Mapping[str, Any] | None = None
    strength_by_drug: Mapping[str, str] | None = None

    def strength_for(self, drug: str) -> str:
        return (self.strength_by_drug or {}).get(drug, self.strength)

    @property
    def actionable(self) -> bool:
        """Whether the row changes what is prescribed or how (anything but 'standard')."""
        return self.action != "standard"


@dataclass(frozen=True)
class Guideline:
    key: str
    title: str
    year: int
    cpic_level: str  # "A": genotype-guided prescribing recommended (a drafted drug without a result gets the test)
    citation: Citation
    table: str
    checked: str
    genes: tuple[str, ...]  # genes and HLA alleles the rows read
    optional_genes: tuple[str, ...]
    drugs: tuple[str, ...]
    rows: tuple[Row, ...]
    note: str | None = None

    @property
    def label(self) -> str:
        """'CPIC 2022 clopidogrel guideline' style: the guideline the recommendation line names."""
        return self.citation.short.split(" (")[0]


def _citation(data: Mapping[str, Any], topic: str) -> Citation:
    return Citation(short=data["short"], full=data["full"], url=data.get("url"), doi=data.get("doi"), topic=topic)


@cache
def guidelines() -> dict[str, Guideline]:
    out: dict[str, Guideline] = {}
    for key, data in guidelines_data()["guidelines"].items():
        drugs = tuple(data["drugs"])
        rows = tuple(Row(guideline=key, index=i, drugs=tuple(r.get("drugs", drugs)), when=r["when"],
                         implication=r["implication"], recommendation=r["recommendation"], strength=r["strength"],
                         action=r["action"], indicator=r.get("indicator"),
                         alternatives=tuple(r.get("alternatives", ())), dose_change=r.get("dose_change"),
                         strength_by_drug=r.get("strength_by_drug"))
                     for i, r in enumerate(data["rows"]))
        for row in rows:
            if row.strength not in STRENGTHS or row.action not in ACTIONS:
                raise ValueError(f"{key} row {row.index}: unknown strength or action")
        out[key] = Guideline(key=key, title=data["title"], year=data["year"], cpic_level=data["cpic_level"],
                             citation=_citation(data["citation"], "Pharmacogenomics"), table=data["table"],
                             checked=data["checked"], genes=tuple(data["genes"]),
                             optional_genes=tuple(data.get("optional_genes", ())), drugs=drugs, rows=rows,
                             note=data.get("note"))
    return out


@cache
def guidelines_by_drug() -> dict[str, tuple[Guideline, ...]]:
    out: dict[str, list[Guideline]] = {}
    for guideline in guidelines().values():
        for drug in guideline.drugs:
            out.setdefault(drug, []).append(guideline)
    return {drug: tuple(found) for drug, found in out.items()}


def guideline_drugs() -> tuple[str, ...]:
    """Every drug a guideline gives recommendations for."""
    return tuple(guidelines_by_drug())


def drug(name: str) -> dict[str, Any]:
    """The drug's entry (rxcui, names, standard dose), empty for an unlisted drug."""
    return dict(drugs_data()["drugs"].get(name, {}))


def gene_of_condition(key: str) -> str:
    """The gene a row condition reads: the gene itself, or the gene of an HLA allele ("HLA-B*57:01" -> "HLA-B")."""
    return hla_alleles_of_interest().get(key, key)
