"""Pharmacogenomic results as the engines see them: plain data, no FHIR.

The adapter (``fhir_adapter/genomics``) reads genotype, variant, HLA, phenotype and therapeutic-implication
Observations - standalone or in a DiagnosticReport, in the HL7 Genomics Reporting encodings and the older STU1 panel -
into one ``GeneResult`` per gene and Observation. It only reads what is written (which gene, which alleles or
variants, which phenotype the laboratory reports); what an allele means - its function, activity value and the
phenotype of a diplotype - is decided by the engine from the CPIC tables (``engine/pharmacogenomics``). Anything the
adapter cannot read is an ``engine.finding.InputProblem``, never a guess.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

# What a result carries.
DIPLOTYPE = "diplotype"  # two star alleles (or named alleles), each possibly with copies: "*1x2", "*13+*2"
VARIANTS = "variants"  # variants with their copy number (DPYD c.HGVS, rs9923231): the other alleles are reference
HLA = "hla"  # HLA typing (the alleles found) or one allele tested for presence
PHENOTYPE = "phenotype"  # the laboratory's phenotype only (no genotype in the resource)
KINDS = (DIPLOTYPE, VARIANTS, HLA, PHENOTYPE)


@dataclass(frozen=True)
class VariantCall:
    """One variant and how many copies were found (1 heterozygous, 2 homozygous), named as written (normalised:
    "c.1905+1G>A", "rs9923231")."""

    name: str
    copies: int


@dataclass(frozen=True)
class GeneResult:
    """One gene's result from one resource.

    ``gene`` is the HGNC symbol ("CYP2C19", "HLA-B"). ``written`` is the value as the record writes it, for the card
    and the explainer page. Depending on ``kind``: ``alleles`` holds the two alleles of a diplotype as written after
    the gene name ("*2", "*1x2", "*36+*10"); ``variants`` the variants found; ``hla_alleles`` the HLA alleles typed
    (``hla_typed`` True: a full typing of the gene, so any other allele is absent) or the one allele tested (then
    ``hla_present`` says whether it was found). ``reported_phenotype`` is the laboratory's phenotype in CPIC terms
    when the resource gives one (with or without a genotype); ``drugs`` the medications a therapeutic-implication
    Observation was about."""

    gene: str
    kind: str
    source: str  # "Observation/pgx-1", or "DiagnosticReport/r1#geno" for a contained Observation
    written: str
    encoding: str  # how it was sent: "HL7 Genomics Reporting genotype (LOINC 84413-4)", ...
    effective: date | datetime | None = None
    alleles: tuple[str, ...] = ()
    variants: tuple[VariantCall, ...] = ()
    hla_alleles: tuple[str, ...] = ()
    hla_typed: bool = False
    hla_present: bool | None = None
    reported_phenotype: str | None = None
    drugs: tuple[str, ...] = ()
    report: str | None = None  # the DiagnosticReport it came in, if any
    note: str | None = None  # what the adapter did to read it ("suballele *35B read as *35")
