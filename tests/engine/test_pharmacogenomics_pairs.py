"""Every gene-drug pair of the pharmacogenomics service, with a normal, an intermediate and a poor (or a positive and
a negative) result, each in at least two FHIR encodings, read from FHIR through the adapter and looked up in the CPIC
tables.

The expected classification and action of each case are written here from the CPIC guidelines (docs/
pharmacogenomics.md lists them with their tables), not read from the data file: a transcription error in
engine/data/pharmacogenomics/guidelines.json, or a result read wrongly, fails a case.
"""
from __future__ import annotations

from datetime import date

import pytest

from engine.pharmacogenomics import knowledge
from engine.pharmacogenomics.phenotype import gene_phenotypes
from engine.pharmacogenomics.recommendations import lookups_for_drug
from engine.pharmacogenomics.summary import PharmacogenomicSummary
from fhir_adapter.features import extract_features
from tests import pgx_records as rec

AS_OF = date(2026, 6, 1)

STAR = "star"
DPYD = "dpyd"
HLA = "hla"

# (result kind, encodings): each encoding turns a gene and its value into FHIR resources.
ENCODINGS = {
    STAR: [("ig-genotype", rec.ig_genotype), ("genotype-in-report", rec.ig_genotype_in_report),
           ("stu1-panel", rec.stu1_panel)],
    DPYD: [("hgvs-genotype", lambda g, v: rec.hgvs_genotype(g, _hgvs_text(v))),
           ("variants-in-report", rec.variants_in_report)],
    HLA: [("presence-test", lambda g, v: rec.hla_presence(v[0], v[1])),
          ("typing", lambda g, v: rec.hla_typing(g, _typing(v)))],
}


def _hgvs_text(variants: list[tuple[str, str]]) -> str:
    sides = ["=", "="]
    calls = []
    for change, zygosity in variants:
        body = change.removeprefix("c.")
        calls += [body] * (2 if zygosity == "homozygous" else 1)
    sides[: len(calls)] = calls[:2]
    return f"NM_000110.4(DPYD):c.[{sides[0]}];[{sides[1]}]"


def _typing(value: tuple[str, bool]) -> str:
    allele, positive = value
    gene = allele.split("*")[0]
    filler = {"HLA-B": ("HLA-B*08:01", "HLA-B*44:02"), "HLA-A": ("HLA-A*02:01", "HLA-A*03:01")}[gene]
    return f"{allele}:01+{filler[0]}" if positive else f"{filler[0]}+{filler[1]}"


def star(value: str):
    return (STAR, value)


def dpyd(*variants: tuple[str, str]):
    return (DPYD, list(variants))


def hla(allele: str, positive: bool):
    return (HLA, (allele, positive))


# drug, {gene: result}, expected CPIC classification, expected action (standard / advice / dose / avoid / replace)
CYP2C19_NM, CYP2C19_IM, CYP2C19_PM = star("*1/*1"), star("*1/*2"), star("*2/*2")
CASES = []
CASES += [("clopidogrel", {"CYP2C19": CYP2C19_NM}, "Strong", "standard"),
          ("clopidogrel", {"CYP2C19": CYP2C19_IM}, "Strong", "replace"),
          ("clopidogrel", {"CYP2C19": CYP2C19_PM}, "Strong", "replace"),
          ("clopidogrel", {"CYP2C19": star("*1/*17")}, "Strong", "standard")]
for ppi in ("omeprazole", "lansoprazole", "pantoprazole"):
    CASES += [(ppi, {"CYP2C19": CYP2C19_NM}, "Moderate", "standard"),
              (ppi, {"CYP2C19": CYP2C19_IM}, "Optional", "advice"),
              (ppi, {"CYP2C19": CYP2C19_PM}, "Moderate", "advice"),
              (ppi, {"CYP2C19": star("*17/*17")}, "Optional", "dose")]
CASES += [("dexlansoprazole", {"CYP2C19": CYP2C19_NM}, "Optional", "standard"),
          ("dexlansoprazole", {"CYP2C19": CYP2C19_IM}, "Optional", "advice"),
          ("dexlansoprazole", {"CYP2C19": CYP2C19_PM}, "Optional", "advice")]
for ssri in ("citalopram", "escitalopram"):
    CASES += [(ssri, {"CYP2C19": CYP2C19_NM}, "Strong", "standard"),
              (ssri, {"CYP2C19": CYP2C19_IM}, "Moderate", "advice"),
              (ssri, {"CYP2C19": CYP2C19_PM}, "Moderate", "advice")]
CASES += [("sertraline", {"CYP2C19": CYP2C19_NM}, "Strong", "standard"),
          ("sertraline", {"CYP2C19": CYP2C19_IM}, "Optional", "advice"),
          ("sertraline", {"CYP2C19": CYP2C19_PM}, "Moderate", "advice")]
SLCO1B1_NORMAL, SLCO1B1_DECREASED, SLCO1B1_POOR = star("*1/*1"), star("*1/*5"), star("*5/*15")
CASES += [("simvastatin", {"SLCO1B1": SLCO1B1_NORMAL}, "Strong", "standard"),
          ("simvastatin", {"SLCO1B1": SLCO1B1_DECREASED}, "Strong", "dose"),
          ("simvastatin", {"SLCO1B1": SLCO1B1_POOR}, "Strong", "avoid"),
          ("atorvastatin", {"SLCO1B1": SLCO1B1_NORMAL}, "Strong", "standard"),
          ("atorvastatin", {"SLCO1B1": SLCO1B1_DECREASED}, "Moderate", "dose"),
          ("atorvastatin", {"SLCO1B1": SLCO1B1_POOR}, "Moderate", "dose"),
          ("rosuvastatin", {"SLCO1B1": SLCO1B1_NORMAL}, "Strong", "standard"),
          ("rosuvastatin", {"SLCO1B1": SLCO1B1_DECREASED}, "Strong", "standard"),
          ("rosuvastatin", {"SLCO1B1": SLCO1B1_POOR}, "Moderate", "dose")]
CYP2C9_NM, CYP2C9_IM15, CYP2C9_IM1, CYP2C9_PM = star("*1/*1"), star("*1/*2"), star("*1/*3"), star("*3/*3")
for nsaid in ("celecoxib", "flurbiprofen", "ibuprofen", "lornoxicam"):
    CASES += [(nsaid, {"CYP2C9": CYP2C9_NM}, "Strong", "standard"),
              (nsaid, {"CYP2C9": CYP2C9_IM15}, "Moderate", "standard"),
              (nsaid, {"CYP2C9": CYP2C9_IM1}, "Moderate", "advice"),
              (nsaid, {"CYP2C9": CYP2C9_PM}, "Moderate", "advice")]
CASES += [("meloxicam", {"CYP2C9": CYP2C9_NM}, "Strong", "standard"),
          ("meloxicam", {"CYP2C9": CYP2C9_IM1}, "Moderate", "advice"),
          ("meloxicam", {"CYP2C9": CYP2C9_PM}, "Moderate", "avoid")]
for oxicam in ("piroxicam", "tenoxicam"):
    CASES += [(oxicam, {"CYP2C9": CYP2C9_NM}, "Strong", "standard"),
              (oxicam, {"CYP2C9": CYP2C9_IM1}, "Moderate", "avoid"),
              (oxicam, {"CYP2C9": star("*2/*3")}, "Moderate", "avoid")]
B1502_NEG, B1502_POS = hla("HLA-B*15:02", False), hla("HLA-B*15:02", True)
for hydantoin in ("phenytoin", "fosphenytoin"):
    CASES += [(hydantoin, {"HLA-B": B1502_NEG, "CYP2C9": CYP2C9_NM}, "Strong", "standard"),
              (hydantoin, {"HLA-B": B1502_NEG, "CYP2C9": CYP2C9_IM15}, "Moderate", "standard"),
              (hydantoin, {"HLA-B": B1502_NEG, "CYP2C9": CYP2C9_IM1}, "Moderate", "dose"),
              (hydantoin, {"HLA-B": B1502_NEG, "CYP2C9": CYP2C9_PM}, "Strong", "dose"),
              (hydantoin, {"HLA-B": B1502_POS, "CYP2C9": CYP2C9_NM}, "Strong", "avoid")]
CASES += [("abacavir", {"HLA-B": hla("HLA-B*57:01", False)}, "Strong", "standard"),
          ("abacavir", {"HLA-B": hla("HLA-B*57:01", True)}, "Strong", "avoid"),
          ("allopurinol", {"HLA-B": hla("HLA-B*58:01", False)}, "Strong", "standard"),
          ("allopurinol", {"HLA-B": hla("HLA-B*58:01", True)}, "Strong", "avoid"),
          ("carbamazepine", {"HLA-B": B1502_NEG, "HLA-A": hla("HLA-A*31:01", False)}, "Strong", "standard"),
          ("carbamazepine", {"HLA-B": B1502_POS, "HLA-A": hla("HLA-A*31:01", False)}, "Strong", "avoid"),
          ("carbamazepine", {"HLA-B": B1502_NEG, "HLA-A": hla("HLA-A*31:01", True)}, "Strong", "avoid"),
          ("oxcarbazepine", {"HLA-B": B1502_NEG}, "Strong", "standard"),
          ("oxcarbazepine", {"HLA-B": B1502_POS}, "Strong", "avoid")]
TPMT_NM, NUDT15_NM = star("*1/*1"), star("*1/*1")
for thiopurine in ("azathioprine", "mercaptopurine", "thioguanine"):
    im_strength = "Moderate" if thiopurine == "thioguanine" else "Strong"
    CASES += [(thiopurine, {"TPMT": TPMT_NM, "NUDT15": NUDT15_NM}, "Strong", "standard"),
              (thiopurine, {"TPMT": star("*1/*3A"), "NUDT15": NUDT15_NM}, im_strength, "advice"),
              (thiopurine, {"TPMT": star("*3A/*3C"), "NUDT15": NUDT15_NM}, "Strong", "avoid"),
              (thiopurine, {"TPMT": TPMT_NM, "NUDT15": star("*1/*3")}, im_strength, "advice"),
              (thiopurine, {"TPMT": TPMT_NM, "NUDT15": star("*3/*3")}, "Strong",
               "dose" if thiopurine == "thioguanine" else "avoid")]
for fluoropyrimidine in ("fluorouracil", "capecitabine"):
    CASES += [(fluoropyrimidine, {"DPYD": dpyd()}, "Strong", "standard"),
              (fluoropyrimidine, {"DPYD": dpyd(("c.2846A>T", "heterozygous"))}, "Moderate", "dose"),
              (fluoropyrimidine, {"DPYD": dpyd(("c.1905+1G>A", "heterozygous"))}, "Strong", "dose"),
              (fluoropyrimidine, {"DPYD": dpyd(("c.1905+1G>A", "heterozygous"), ("c.2846A>T", "heterozygous"))},
               "Strong", "avoid"),
              (fluoropyrimidine, {"DPYD": dpyd(("c.1679T>G", "homozygous"))}, "Strong", "avoid")]
CYP2D6_UM, CYP2D6_NM, CYP2D6_IM, CYP2D6_PM = star("*1/*2x2"), star("*1/*1"), star("*4/*41"), star("*4/*5")
CASES += [("codeine", {"CYP2D6": CYP2D6_UM}, "Strong", "avoid"),
          ("codeine", {"CYP2D6": CYP2D6_NM}, "Strong", "standard"),
          ("codeine", {"CYP2D6": CYP2D6_IM}, "Moderate", "advice"),
          ("codeine", {"CYP2D6": CYP2D6_PM}, "Strong", "avoid"),
          ("tramadol", {"CYP2D6": CYP2D6_UM}, "Strong", "avoid"),
          ("tramadol", {"CYP2D6": CYP2D6_NM}, "Strong", "standard"),
          ("tramadol", {"CYP2D6": CYP2D6_IM}, "Optional", "advice"),
          ("tramadol", {"CYP2D6": CYP2D6_PM}, "Optional", "avoid"),
          ("ondansetron", {"CYP2D6": CYP2D6_UM}, "Moderate", "replace"),
          ("ondansetron", {"CYP2D6": CYP2D6_NM}, "Strong", "standard"),
          ("ondansetron", {"CYP2D6": CYP2D6_IM}, "Optional", "standard"),
          ("ondansetron", {"CYP2D6": CYP2D6_PM}, "Optional", "standard")]
CASES += [("tacrolimus", {"CYP3A5": star("*1/*1")}, "Strong", "advice"),
          ("tacrolimus", {"CYP3A5": star("*1/*3")}, "Strong", "advice"),
          ("tacrolimus", {"CYP3A5": star("*3/*3")}, "Strong", "standard")]
CASES += [("warfarin", {"CYP2C9": CYP2C9_NM, "VKORC1": star("rs9923231 C/C")}, "Strong", "advice"),
          ("warfarin", {"CYP2C9": CYP2C9_IM1, "VKORC1": star("rs9923231 C/T")}, "Strong", "advice"),
          ("warfarin", {"CYP2C9": CYP2C9_PM, "VKORC1": star("rs9923231 T/T")}, "Strong", "advice")]


def _cases():
    for drug, genes, strength, action in CASES:
        kinds = {kind for kind, _ in genes.values()}
        count = min(len(ENCODINGS[k]) for k in kinds)
        for index in range(count):
            names = "+".join(dict.fromkeys(ENCODINGS[kind][index][0] for kind, _ in genes.values()))
            label = ",".join(f"{g}={v if isinstance(v, str) else v}" for g, (_, v) in genes.items())
            yield pytest.param(drug, genes, strength, action, index, id=f"{drug}-{label}-{names}")


def resources_for(genes: dict, index: int) -> list[dict]:
    out = []
    for gene, (kind, value) in genes.items():
        name, build = ENCODINGS[kind][index]
        out += build(gene, value)
    return out


def test_every_gene_drug_pair_has_normal_intermediate_and_poor_or_positive_and_negative_cases():
    """Each drug of the tables has three results or more (two for an HLA-only drug), each read in two encodings or
    more, and at least one case that changes the prescription and one that does not (warfarin: always dosed)."""
    results: dict[str, set] = {}
    actions: dict[str, set] = {}
    for drug, genes, _strength, action in CASES:
        results.setdefault(drug, set()).add(repr(sorted(genes.items())))
        actions.setdefault(drug, set()).add(action != "standard")
    assert set(results) == set(knowledge.guideline_drugs())
    for drug, found in results.items():
        hla_only = all(kind == HLA for d, genes, _s, _a in CASES if d == drug for kind, _v in genes.values())
        assert len(found) >= (2 if hla_only else 3), drug
        assert drug == "warfarin" or actions[drug] == {True, False}, drug
    assert all(len(ENCODINGS[kind]) >= 2 for kind in ENCODINGS)


@pytest.mark.parametrize("drug, genes, strength, action, index", list(_cases()))
def test_gene_drug_pair_from_fhir(drug, genes, strength, action, index):
    resources = [rec.patient(), rec.medication(f"{drug} tablet"), *resources_for(genes, index)]
    features = extract_features(resources, as_of=AS_OF, patient_id=rec.PATIENT)
    assert not [p.reason for p in features.problems if p.name == "gene_results"]
    phenotypes = gene_phenotypes(features.gene_results)
    lookups = lookups_for_drug(drug, phenotypes)
    assert len(lookups) == 1 and lookups[0].row is not None, lookups[0].why_none
    assert (lookups[0].strength, lookups[0].row.action) == (strength, action)
    findings = {f.id: f for f in PharmacogenomicSummary().evaluate(features)}
    drug_finding = findings[f"pgx-summary:{drug}"]
    assert drug_finding.recommendation.strength == f"CPIC {strength.lower()}"
    assert drug_finding.recommendation.citation.doi
    assert any(t.startswith("▶ ") for t in drug_finding.thresholds)  # the table row that applies is marked
    summary = findings["pgx-summary:summary"]
    if lookups[0].row.indicator:  # an alert row: the card names the drug
        assert not summary.explainer_only and drug in summary.value
