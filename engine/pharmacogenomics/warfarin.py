"""The IWPC warfarin dose: the pharmacogenetic algorithm next to the clinical-only one (IWPC, N Engl J Med 2009).

    sqrt(weekly dose, mg) = intercept + sum(coefficient x term);  weekly dose = its square

Terms: age in completed decades, height (cm), weight (kg), race (Asian, Black or African American, missing or mixed;
white is the reference), an enzyme inducer (carbamazepine, phenytoin, rifampin), amiodarone and - pharmacogenetic
algorithm only - VKORC1 -1639G>A genotype and CYP2C9 *1/*2/*3 diplotype (each with an "unknown" term). Coefficients
are in engine/data/pharmacogenomics/iwpc_warfarin.json. CPIC (2017) recommends a validated pharmacogenetic algorithm
such as this one; a CYP4F2*3 carrier may need 5-10 % more, and CYP2C9 *5, *6, *8 and *11 (not in the algorithm;
mostly in patients of African ancestry) 15-30 % less.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from engine.finding import Term
from engine.pharmacogenomics import knowledge

PHARMACOGENETIC = "pharmacogenetic"
CLINICAL = "clinical"
_IWPC_CYP2C9_ALLELES = frozenset({"*1", "*2", "*3"})


@dataclass(frozen=True)
class IwpcInputs:
    age_years: float
    height_cm: float
    weight_kg: float
    race: str  # "asian" | "black" | "white" | "missing_or_mixed" (IWPC's categories)
    enzyme_inducer: bool
    amiodarone: bool
    vkorc1: str = "unknown"  # "G/G" | "A/G" | "A/A" | "unknown"
    cyp2c9: str = "unknown"  # "*1/*1" ... "*3/*3" | "unknown"


@dataclass(frozen=True)
class IwpcDose:
    algorithm: str
    sqrt_weekly: float
    weekly_mg: float
    terms: tuple[Term, ...]  # each term with its value and its contribution to sqrt(weekly dose)

    @property
    def daily_mg(self) -> float:
        return self.weekly_mg / 7


def iwpc_dose(algorithm: str, inputs: IwpcInputs) -> IwpcDose:
    """The weekly maintenance dose by one IWPC algorithm (``PHARMACOGENETIC`` or ``CLINICAL``)."""
    table: Mapping = knowledge.iwpc_data()[algorithm]
    decades = int(inputs.age_years // 10)
    terms = [Term("Intercept", "", table["intercept"]),
             Term("Age in decades", decades, table["age_decades"] * decades),
             Term("Height (cm)", inputs.height_cm, table["height_cm"] * inputs.height_cm),
             Term("Weight (kg)", inputs.weight_kg, table["weight_kg"] * inputs.weight_kg)]
    if algorithm == PHARMACOGENETIC:
        terms.append(Term(f"VKORC1 -1639 {inputs.vkorc1}", inputs.vkorc1, table["VKORC1"][inputs.vkorc1]))
        terms.append(Term(f"CYP2C9 {inputs.cyp2c9}", inputs.cyp2c9, table["CYP2C9"][inputs.cyp2c9]))
    terms.append(Term(f"Race: {_RACE_LABELS[inputs.race]}", inputs.race, table["race"][inputs.race]))
    terms.append(Term("Enzyme inducer (carbamazepine, phenytoin, rifampin)", "yes" if inputs.enzyme_inducer else "no",
                      table["enzyme_inducer"] if inputs.enzyme_inducer else 0.0))
    terms.append(Term("Amiodarone", "yes" if inputs.amiodarone else "no",
                      table["amiodarone"] if inputs.amiodarone else 0.0))
    root = sum(t.contribution or 0.0 for t in terms)
    return IwpcDose(algorithm, root, max(root, 0.0) ** 2, tuple(terms))


_RACE_LABELS = {"asian": "Asian", "black": "Black or African American", "white": "White (reference)",
                "missing_or_mixed": "missing or mixed"}


def iwpc_race(category: str | None) -> str:
    """IWPC's race term for the OMB race category (race_omb_category); none recorded is 'missing or mixed'."""
    if category is None:
        return "missing_or_mixed"
    return knowledge.iwpc_data()["race_from_category"].get(category, "missing_or_mixed")


def iwpc_cyp2c9(alleles: tuple[str, ...] | None) -> tuple[str, str | None]:
    """IWPC's CYP2C9 term for a diplotype, and why it is 'unknown' when it is (an allele outside *1/*2/*3)."""
    if not alleles or len(alleles) != 2:
        return "unknown", "no CYP2C9 diplotype on file"
    cores = [a.strip() for a in alleles]
    if any(a not in _IWPC_CYP2C9_ALLELES for a in cores):
        others = ", ".join(a for a in cores if a not in _IWPC_CYP2C9_ALLELES)
        return "unknown", f"CYP2C9 {others} is not a term of the IWPC algorithm (*1, *2, *3 only)"
    return "/".join(sorted(cores, key=lambda a: int(a[1:]))), None


def iwpc_vkorc1(phenotype: str | None) -> str:
    """'-1639 A/G' (the VKORC1 phenotype of genes.json) -> 'A/G'; anything else is 'unknown'."""
    if phenotype and phenotype.startswith("-1639 "):
        genotype = phenotype.removeprefix("-1639 ")
        if genotype in ("G/G", "A/G", "A/A"):
            return genotype
    return "unknown"
