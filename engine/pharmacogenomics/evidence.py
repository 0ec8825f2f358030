"""The evidence trail of a pharmacogenomic finding: the results used (diplotype, source, date), how each phenotype was
reached (allele functions, activity values, the CPIC rule), the recommendation table of the drug with the row that
applies, and the recommendation with CPIC's classification and the guideline citation."""
from __future__ import annotations

from typing import Iterable

from engine.finding import Evidence, InputProblem, Recommendation, Term
from engine.pharmacogenomics import knowledge
from engine.pharmacogenomics.knowledge import Guideline, Row
from engine.pharmacogenomics.phenotype import GenePhenotype, lower_phenotype
from engine.pharmacogenomics.recommendations import Lookup

RESULTS_FEATURE = "gene_results"  # the name problems of the genomic adapter are reported under


def result_evidence(phenotype: GenePhenotype) -> Evidence:
    """The result a phenotype comes from: '*2/*2' with its source, date and how it was sent."""
    result = phenotype.result
    value = phenotype.diplotype or result.written
    note = result.encoding + (f"; {result.note}" if result.note else "")
    if phenotype.reported_by_lab:
        value = f"{result.written} (phenotype reported by the laboratory)"
    return Evidence(name=f"genotype:{phenotype.gene}", label=phenotype.gene, value=value,
                    effective=result.effective, source=result.source, note=note)


def derivation_terms(phenotype: GenePhenotype) -> list[Term]:
    """How the phenotype was reached, one line per step, then the phenotype."""
    terms = [Term(f"{step.label}", step.value) for step in phenotype.steps]
    if phenotype.activity_text and not any("Activity score" in t.label for t in terms):
        terms.append(Term(f"{phenotype.gene} activity score", phenotype.activity_text))
    terms.append(Term(f"{phenotype.gene} phenotype", phenotype.display))
    return terms


def table_rows(guideline: Guideline, drug: str, applied: Row | None) -> tuple[str, ...]:
    """The drug's recommendation table, row by row, the applying row marked."""
    out = []
    for row in guideline.rows:
        if drug not in row.drugs:
            continue
        marker = "▶ " if applied is not None and row.index == applied.index else ""
        out.append(f"{marker}{condition_text(row)}: {row.recommendation} ({row.strength_for(drug)})")
    return tuple(out)


def condition_text(row: Row) -> str:
    parts = []
    for key, condition in row.when.items():
        if isinstance(condition, list):
            parts.append(f"{key} " + " or ".join(lower_phenotype(c) for c in condition))
        elif "activity_score" in condition:
            parts.append(f"{key} activity score " + " or ".join(f"{s:g}" for s in condition["activity_score"]))
        else:
            parts.append(f"{key} genotype known")
    return " and ".join(parts)


def recommendation(lookup: Lookup) -> Recommendation | None:
    if lookup.row is None:
        return None
    return Recommendation(text=lookup.row.recommendation, guideline=lookup.guideline.label,
                          strength=f"CPIC {lookup.strength.lower()}", citation=lookup.guideline.citation)


def method_text(guideline: Guideline, phenotypes: Iterable[GenePhenotype]) -> str:
    sources = []
    for p in phenotypes:
        source = knowledge.gene_source(p.gene)
        name = source.get("version") or source.get("name")
        if name and name not in sources:
            sources.append(name)
    text = f"{guideline.title} ({guideline.year}), {guideline.table}."
    if sources:
        text += " Phenotypes from " + "; ".join(sources) + "."
    return text + f" Transcription check: {guideline.checked}."


def phenotype_problems(phenotypes: Iterable[GenePhenotype]) -> tuple[InputProblem, ...]:
    out = []
    for p in phenotypes:
        for problem in p.problems:
            out.append(InputProblem(p.result.source, RESULTS_FEATURE, problem))
    return tuple(dict.fromkeys(out))
