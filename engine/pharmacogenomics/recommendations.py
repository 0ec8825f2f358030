"""Phenotype -> recommendation: the row of a CPIC table that applies to a drug, given the patient's phenotypes.

A guideline's rows are tried in order (engine/data/pharmacogenomics/guidelines.json); the first whose every condition
is met applies. A condition names a gene with the phenotypes it covers, an activity-score list, ``any`` (a determined
phenotype), or an HLA allele with positive / negative. When no row applies, ``Lookup`` says why: the genes with no
result on file, the genes whose phenotype could not be determined, or a row that needs an activity score the result
does not give.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from engine.pharmacogenomics import knowledge
from engine.pharmacogenomics.knowledge import Guideline, Row
from engine.pharmacogenomics.phenotype import GenePhenotype


@dataclass(frozen=True)
class Lookup:
    """The outcome for one drug and one guideline."""

    drug: str
    guideline: Guideline
    row: Row | None  # the row that applies, None when none does
    used: tuple[GenePhenotype, ...]  # the phenotypes the row read (or that were looked at)
    missing: tuple[str, ...] = ()  # genes / HLA alleles with no result on file
    undetermined: tuple[GenePhenotype, ...] = ()  # results on file that give no usable phenotype
    why_none: str | None = None  # in words, when no row applies

    @property
    def strength(self) -> str | None:
        return self.row.strength_for(self.drug) if self.row else None

    @property
    def actionable(self) -> bool:
        return self.row is not None and self.row.actionable


def lookups_for_drug(drug: str, phenotypes: Mapping[str, GenePhenotype]) -> list[Lookup]:
    """One Lookup per guideline that names ``drug`` (one for every drug in scope today)."""
    return [lookup(drug, g, phenotypes) for g in knowledge.guidelines_by_drug().get(drug, ())]


def lookup(drug: str, guideline: Guideline, phenotypes: Mapping[str, GenePhenotype]) -> Lookup:
    missing: list[str] = []
    undetermined: list[GenePhenotype] = []
    needs_score: list[GenePhenotype] = []
    for key in guideline.genes:
        phenotype = _phenotype_for(key, phenotypes)
        if phenotype is None:
            missing.append(key)
        elif not _answers(key, phenotype):
            undetermined.append(phenotype) if phenotype not in undetermined else None
    used = tuple({p.gene: p for key in guideline.genes + guideline.optional_genes
                  if (p := _phenotype_for(key, phenotypes)) is not None}.values())
    for row in guideline.rows:
        if drug not in row.drugs:
            continue
        verdict = _row_matches(row, phenotypes)
        if verdict is True:
            return Lookup(drug, guideline, row, used, tuple(missing), tuple(undetermined))
        if verdict == "needs-score":
            needs_score.extend(p for key in row.when if (p := _phenotype_for(key, phenotypes)) is not None)
    why = _why_none(guideline, missing, undetermined, needs_score)
    return Lookup(drug, guideline, None, used, tuple(missing), tuple(undetermined), why)


def _phenotype_for(key: str, phenotypes: Mapping[str, GenePhenotype]) -> GenePhenotype | None:
    """The phenotype a row condition reads; for an HLA allele, None when the gene's results answer only for other
    alleles (a test of HLA-B*15:02 says nothing of HLA-B*57:01)."""
    gene = knowledge.gene_of_condition(key)
    phenotype = phenotypes.get(gene)
    if phenotype is None or key == gene or key in phenotype.hla:
        return phenotype
    return None if phenotype.hla else phenotype


def _answers(key: str, phenotype: GenePhenotype) -> bool:
    if key != phenotype.gene:
        return key in phenotype.hla
    return phenotype.determined


def _row_matches(row: Row, phenotypes: Mapping[str, GenePhenotype]) -> bool | str:
    """True when every condition holds; "needs-score" when a phenotype is known but its activity score is not."""
    for key, condition in row.when.items():
        phenotype = _phenotype_for(key, phenotypes)
        if phenotype is None:
            return False
        gene = knowledge.gene_of_condition(key)
        if key != gene:
            if phenotype.hla.get(key) not in condition:
                return False
        elif isinstance(condition, list):
            if phenotype.phenotype not in condition:
                return False
        elif "activity_score" in condition:
            if phenotype.activity_score is None:
                return "needs-score" if phenotype.determined else False
            if not any(abs(phenotype.activity_score - s) < 1e-9 for s in condition["activity_score"]):
                return False
        elif condition.get("any"):
            if not phenotype.determined:
                return False
    return True


def _why_none(guideline: Guideline, missing: list[str], undetermined: list[GenePhenotype],
              needs_score: list[GenePhenotype]) -> str:
    if needs_score:
        p = needs_score[0]
        return (f"{p.gene} {p.display} is on file without an activity score; {guideline.label} recommendations "
                f"depend on the activity score")
    if undetermined:
        p = undetermined[0]
        return f"{p.gene} {p.diplotype or p.result.written}: " + (p.problems[0] if p.problems else "no phenotype")
    if missing:
        return f"no {', '.join(missing)} result on file"
    return f"no row of {guideline.label} covers these phenotypes"
