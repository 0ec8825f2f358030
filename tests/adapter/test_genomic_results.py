"""Reading genomic results from FHIR: every encoding gives the same result, and what cannot be read is reported,
never guessed."""
from __future__ import annotations

import copy
from datetime import date

import pytest

from engine.genomic_record import DIPLOTYPE, HLA, PHENOTYPE, VARIANTS, VariantCall
from fhir_adapter.features import extract_features
from tests import pgx_records as rec

AS_OF = date(2026, 6, 1)


def read(*resources):
    features = extract_features([rec.patient(), *resources], as_of=AS_OF, patient_id=rec.PATIENT)
    return list(features.gene_results), [p for p in features.problems if p.name == "gene_results"]


@pytest.mark.parametrize("encoding", sorted(rec.STAR_ENCODINGS))
def test_a_star_diplotype_in_each_encoding(encoding):
    results, problems = read(*rec.STAR_ENCODINGS[encoding]("CYP2C19", "*2/*17"))
    assert not problems
    [result] = results
    assert (result.gene, result.kind, result.alleles) == ("CYP2C19", DIPLOTYPE, ("*2", "*17"))
    assert result.effective == date(2024, 3, 5) and result.source.count("/") >= 1


def test_a_contained_result_is_named_by_its_report():
    [result], _ = read(*rec.ig_genotype_in_report("CYP2D6", "CYP2D6*1/CYP2D6*4x2"))
    assert result.source.startswith("DiagnosticReport/") and "#" in result.source
    assert result.alleles == ("*1", "*4x2") and result.report


@pytest.mark.parametrize("value, calls", [
    ("NM_000110.4(DPYD):c.[1905+1G>A];[=]", (VariantCall("c.1905+1G>A", 1),)),
    ("c.[1905+1G>A];[1905+1G>A]", (VariantCall("c.1905+1G>A", 2),)),
    ("c.[1905+1G>A(;)2846A>T]", (VariantCall("c.1905+1G>A", 1), VariantCall("c.2846A>T", 1))),
    ("DPYD *1/*2A", (VariantCall("c.1905+1G>A (*2A)", 1),)),
    ("Reference/c.1679T>G (*13)", (VariantCall("c.1679T>G (*13)", 1),)),
])
def test_dpyd_genotypes(value, calls):
    [result], problems = read(*rec.hgvs_genotype("DPYD", value))
    assert not problems and result.kind == VARIANTS and result.variants == calls


def test_dpyd_variant_observations_of_a_report_are_read_together():
    [result], problems = read(*rec.variants_in_report("DPYD", [("c.1905+1G>A", "heterozygous"),
                                                               ("c.2846A>T", "absent")]))
    assert not problems and result.variants == (VariantCall("c.1905+1G>A", 1),)
    [negative], _ = read(*rec.variants_in_report("DPYD", []))
    assert negative.variants == () and "none of the" in negative.written


@pytest.mark.parametrize("value, copies", [("rs9923231 C/T", 1), ("rs9923231 T/T", 2), ("-1639 G>A GG", 0),
                                           ("VKORC1 -1639 A/G", 1)])
def test_vkorc1_genotypes_on_either_strand(value, copies):
    [result], _ = read(*rec.snp_genotype("VKORC1", value))
    assert result.variants == (VariantCall("rs9923231", copies),)


def test_hla_typing_and_presence_tests():
    [typing], _ = read(*rec.hla_typing("HLA-B", "HLA-B*57:01:01+HLA-B*08:01"))
    assert typing.kind == HLA and typing.hla_typed and "HLA-B*57:01:01" in typing.hla_alleles
    [test], _ = read(*rec.hla_presence("HLA-B*58:01", False))
    assert (test.hla_alleles, test.hla_present, test.hla_typed) == (("HLA-B*58:01",), False, False)


def test_phenotype_and_therapeutic_implication_observations():
    [phenotype], _ = read(*rec.phenotype_observation("CYP2C19", "Poor Metabolizer"))
    assert (phenotype.kind, phenotype.reported_phenotype) == (PHENOTYPE, "Poor Metabolizer")
    [implication], problems = read(*rec.therapeutic_implication("32968", "clopidogrel", "Poor Metabolizer"))
    assert not problems and implication.gene == "CYP2C19" and implication.drugs == ("clopidogrel",)
    genotype = rec.ig_genotype("CYP2D6", "*4/*4")
    derived = rec.therapeutic_implication("2670", "codeine", "Poor Metabolizer", derived_from=genotype[0])
    results, _ = read(*genotype, *derived)
    assert {(r.gene, r.kind) for r in results} == {("CYP2D6", DIPLOTYPE), ("CYP2D6", PHENOTYPE)}


def test_a_report_result_missing_from_the_data_is_reported():
    report, obs = rec.stu1_panel("CYP2C19", "*1/*1")
    _, problems = read(report)
    assert "not in the data" in problems[0].reason and problems[0].source.startswith("DiagnosticReport/")


@pytest.mark.parametrize("change, why", [
    (lambda o: (o.pop("component"), o.update(valueString="*1/*2"), o.pop("valueCodeableConcept")),
     "gene of this genomic result cannot be told"),
    (lambda o: o.update(valueCodeableConcept={"text": "see the report"}), "in no notation"),
    (lambda o: o.update(status="preliminary"), "not final"),
    (lambda o: o.update(valueCodeableConcept={"text": "c.[681G>A];[681G>A]"}), "star alleles are not called"),
    (lambda o: (o["component"].append(rec.gene_component("CYP2C9")), o.update(valueCodeableConcept={"text": "*1/*2"})),
     "several genes studied"),
])
def test_unreadable_genotypes_are_reported_not_guessed(change, why):
    [obs] = rec.ig_genotype("CYP2C19", "*1/*2")
    change(obs)
    results, problems = read(obs)
    assert not results and why in problems[0].reason and problems[0].source == f"Observation/{obs['id']}"


def test_an_ambiguous_hla_typing_is_not_used():
    results, problems = read(*rec.hla_typing("HLA-B", "HLA-B*57:01/HLA-B*57:03+HLA-B*08:01"))
    assert not results and "ambiguous" in problems[0].reason


def test_a_genomic_result_about_another_patient_is_dropped_and_reported():
    [obs] = rec.ig_genotype("CYP2C19", "*2/*2")
    other = copy.deepcopy(obs)
    other["subject"] = {"reference": "Patient/someone-else"}
    results, problems = read(other)
    assert not results and "different patient" in problems[0].reason


def test_entered_in_error_results_are_skipped_silently():
    [obs] = rec.ig_genotype("CYP2C19", "*2/*2")
    obs["status"] = "entered-in-error"
    assert read(obs) == ([], [])


def test_a_grouper_brings_its_members():
    [member] = rec.ig_genotype("TPMT", "*1/*3A")
    grouper = {"resourceType": "Observation", "id": "grouper", "status": "final",
               "subject": {"reference": f"Patient/{rec.PATIENT}"},
               "code": {"coding": [{"system": "http://loinc.org", "code": "53040-2"}]},
               "hasMember": [{"reference": f"Observation/{member['id']}"}]}
    report = {"resourceType": "DiagnosticReport", "id": "r-grouper", "status": "final",
              "subject": {"reference": f"Patient/{rec.PATIENT}"},
              "code": {"coding": [{"system": "http://loinc.org", "code": "51969-4"}]},
              "result": [{"reference": "Observation/grouper"}]}
    results, _ = read(report, grouper, member)
    assert [(r.gene, r.alleles) for r in results] == [("TPMT", ("*1", "*3A"))]
