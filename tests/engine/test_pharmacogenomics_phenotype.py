"""Genotype -> phenotype from the CPIC tables: activity-score edge cases (CYP2D6 gene duplications and tandems, DPYD
partial activity and more than two variants), unknown and uncertain alleles, suballeles, HLA typings and tests,
disagreeing results and the laboratory's own phenotype."""
from __future__ import annotations

from datetime import date

import pytest

from engine.genomic_record import DIPLOTYPE, HLA, PHENOTYPE, VARIANTS, GeneResult, VariantCall
from engine.pharmacogenomics.phenotype import INDETERMINATE, derive, gene_phenotypes


def diplotype(gene: str, a: str, b: str, source: str = "Observation/g", when: date = date(2024, 1, 1)) -> GeneResult:
    return GeneResult(gene, DIPLOTYPE, source, f"{gene} {a}/{b}", "test", effective=when, alleles=(a, b))


def variants(gene: str, *calls: tuple[str, int]) -> GeneResult:
    return GeneResult(gene, VARIANTS, "Observation/v", "test", "test",
                      variants=tuple(VariantCall(n, c) for n, c in calls))


# -- CYP2D6: activity values, copies, tandems (CPIC 2019 consensus: PM 0, IM 0.25-1, NM 1.25-2.25, UM > 2.25) --------
@pytest.mark.parametrize("a, b, score, phenotype", [
    ("*1", "*1", 2.0, "Normal Metabolizer"),
    ("*1", "*4", 1.0, "Intermediate Metabolizer"),  # an activity score of 1 is IM since the 2019 consensus
    ("*1", "*10", 1.25, "Normal Metabolizer"),  # *10 counts 0.25
    ("*10", "*10", 0.5, "Intermediate Metabolizer"),
    ("*4", "*10", 0.25, "Intermediate Metabolizer"),
    ("*4", "*5", 0.0, "Poor Metabolizer"),
    ("*1", "*2x2", 3.0, "Ultrarapid Metabolizer"),  # a duplication of a normal-function allele
    ("*1x2", "*4", 2.0, "Normal Metabolizer"),
    ("*4x2", "*4", 0.0, "Poor Metabolizer"),  # copies of a no-function allele add nothing
    ("*41x2", "*4", 1.0, "Intermediate Metabolizer"),  # 2 x 0.5
    ("*10x2", "*4", 0.5, "Intermediate Metabolizer"),
    ("*1x3", "*1", 4.0, "Ultrarapid Metabolizer"),
    ("*2×2", "*41", 2.5, "Ultrarapid Metabolizer"),  # the × sign PharmVar prints
    ("*36+*10", "*10", 0.5, "Intermediate Metabolizer"),  # tandem: *36 (0) + *10 (0.25)
    ("*13+*2", "*1", 2.0, "Normal Metabolizer"),  # hybrid *13 (0) in tandem with *2
    ("*4A", "*1", 1.0, "Intermediate Metabolizer"),  # suballele read as *4
])
def test_cyp2d6_activity_scores(a, b, score, phenotype):
    derived = derive(diplotype("CYP2D6", a, b))
    assert (derived.activity_score, derived.phenotype) == (score, phenotype)
    assert any("activity value" in step.value for step in derived.steps)


def test_an_unknown_copy_number_gives_a_phenotype_only_when_every_copy_number_agrees():
    ultra = derive(diplotype("CYP2D6", "*1xN", "*1"))  # at least 3.0: ultrarapid for any copy number
    assert ultra.phenotype == "Ultrarapid Metabolizer" and ultra.activity_text == "at least 3"
    none = derive(diplotype("CYP2D6", "*4xN", "*4"))  # no-function copies: 0 whatever their number
    assert none.phenotype == "Poor Metabolizer"
    unsure = derive(diplotype("CYP2D6", "*41xN", "*4"))  # 1.0 with two copies (IM), 1.5 with three (NM)
    assert unsure.phenotype is None and "copy number" in unsure.problems[0]
    at_least = derive(diplotype("CYP2D6", "*1x≥3", "*4"))
    assert at_least.phenotype == "Ultrarapid Metabolizer" and at_least.activity_text == "at least 3"


def test_an_allele_outside_the_table_is_reported_not_guessed():
    derived = derive(diplotype("CYP2D6", "*1", "*999"))
    assert derived.phenotype is None and "*999" in derived.problems[0]
    uncertain = derive(diplotype("CYP2C9", "*1", "*7"))  # *7: uncertain function, no activity value
    assert uncertain.phenotype == INDETERMINATE and not uncertain.determined
    cyp2c19 = derive(diplotype("CYP2C19", "*1", "*12"))  # uncertain function: CPIC's table says Indeterminate
    assert cyp2c19.phenotype == INDETERMINATE


# -- DPYD: variants as alleles, activity score 2 / 1.5 / 1 / 0.5 / 0 ---------------------------------------------------
@pytest.mark.parametrize("calls, score, phenotype", [
    ((), 2.0, "Normal Metabolizer"),
    ((("c.2846A>T", 1),), 1.5, "Intermediate Metabolizer"),  # decreased function 0.5
    ((("HapB3", 1),), 1.5, "Intermediate Metabolizer"),
    ((("c.1129-5923C>G", 2),), 1.0, "Intermediate Metabolizer"),  # homozygous decreased
    ((("c.1905+1G>A", 1),), 1.0, "Intermediate Metabolizer"),  # *2A, no function
    ((("*2A", 1), ("c.2846A>T", 1)), 0.5, "Poor Metabolizer"),  # compound heterozygote, taken as in trans
    ((("rs55886062", 2),), 0.0, "Poor Metabolizer"),  # *13 by its dbSNP id, homozygous
    ((("c.2846A>T", 1), ("c.1129-5923C>G", 1), ("c.1905+1G>A", 1)), 0.5, "Poor Metabolizer"),  # two lowest
])
def test_dpyd_partial_activity(calls, score, phenotype):
    derived = derive(variants("DPYD", *calls))
    assert (derived.activity_score, derived.phenotype) == (score, phenotype)


def test_more_than_two_dpyd_variant_alleles_use_the_two_lowest_and_say_so():
    derived = derive(variants("DPYD", ("c.2846A>T", 1), ("c.1129-5923C>G", 1), ("c.1905+1G>A", 1)))
    assert any("two lowest" in step.value for step in derived.steps)


def test_an_unlisted_dpyd_variant_is_reported():
    derived = derive(variants("DPYD", ("c.9999A>G", 1)))
    assert derived.phenotype is None and "c.9999A>G" in derived.problems[0]


# -- single variants and HLA --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("copies, phenotype", [(0, "-1639 G/G"), (1, "-1639 A/G"), (2, "-1639 A/A")])
def test_vkorc1(copies, phenotype):
    assert derive(variants("VKORC1", ("rs9923231", copies))).phenotype == phenotype


def test_slco1b1_from_rs4149056_alone():
    assert derive(variants("SLCO1B1", ("rs4149056", 1))).phenotype == "Decreased Function"


def test_a_full_hla_typing_answers_for_every_allele_a_test_only_for_its_own():
    typing = derive(GeneResult("HLA-B", HLA, "Observation/h", "t", "t", hla_alleles=("HLA-B*57:01:01", "HLA-B*08:01"),
                               hla_typed=True))
    assert typing.hla == {"HLA-B*57:01": "positive", "HLA-B*58:01": "negative", "HLA-B*15:02": "negative"}
    test = derive(GeneResult("HLA-B", HLA, "Observation/h", "t", "t", hla_alleles=("HLA-B*15:02",),
                             hla_present=False))
    assert test.hla == {"HLA-B*15:02": "negative"}
    near_miss = derive(GeneResult("HLA-B", HLA, "Observation/h", "t", "t", hla_alleles=("HLA-B*57:03", "HLA-B*08:01"),
                                  hla_typed=True))
    assert near_miss.hla["HLA-B*57:01"] == "negative"


def test_hla_results_combine_and_a_disagreement_is_not_used():
    tested = GeneResult("HLA-B", HLA, "Observation/a", "t", "t", hla_alleles=("HLA-B*57:01",), hla_present=True)
    other = GeneResult("HLA-B", HLA, "Observation/b", "t", "t", hla_alleles=("HLA-B*15:02",), hla_present=False)
    both = gene_phenotypes([tested, other])["HLA-B"]
    assert both.hla == {"HLA-B*57:01": "positive", "HLA-B*15:02": "negative"}
    contrary = GeneResult("HLA-B", HLA, "Observation/c", "t", "t", hla_alleles=("HLA-B*57:01",), hla_present=False)
    mixed = gene_phenotypes([tested, contrary])["HLA-B"]
    assert "HLA-B*57:01" not in mixed.hla and "disagree" in mixed.problems[0]


# -- several results, the laboratory's phenotype ------------------------------------------------------------------------
def test_results_that_disagree_give_no_phenotype():
    old = diplotype("CYP2C19", "*1", "*1", "Observation/old", date(2019, 1, 1))
    new = diplotype("CYP2C19", "*2", "*2", "Observation/new", date(2024, 1, 1))
    combined = gene_phenotypes([old, new])["CYP2C19"]
    assert combined.phenotype is None and "disagree" in combined.problems[0]
    same = gene_phenotypes([new, diplotype("CYP2C19", "*2", "*3", "Observation/again")])["CYP2C19"]
    assert same.phenotype == "Poor Metabolizer" and same.result.source == "Observation/new"


def test_the_laboratorys_phenotype_is_used_only_without_a_genotype():
    lab = GeneResult("CYP2C19", PHENOTYPE, "Observation/p", "Poor metabolizer", "t", reported_phenotype="Poor metabolizer")
    alone = gene_phenotypes([lab])["CYP2C19"]
    assert alone.phenotype == "Poor Metabolizer" and alone.reported_by_lab
    genotype = diplotype("CYP2C19", "*1", "*2")
    with_genotype = gene_phenotypes([lab, genotype])["CYP2C19"]
    assert with_genotype.phenotype == "Intermediate Metabolizer"
    assert "laboratory reports poor metabolizer" in with_genotype.problems[0]


def test_the_pre_2017_extensive_metabolizer_term_is_normal_metabolizer():
    lab = GeneResult("CYP2D6", PHENOTYPE, "Observation/p", "Extensive metabolizer", "t",
                     reported_phenotype="Extensive metabolizer")
    assert gene_phenotypes([lab])["CYP2D6"].phenotype == "Normal Metabolizer"
