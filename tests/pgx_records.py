"""FHIR pharmacogenomic results in the encodings EHRs and laboratories send, for the tests.

Each builder returns a list of resources (a report and its results, or one Observation). The shapes follow the HL7
Genomics Reporting IG examples (genotype 84413-4 with a 48018-6 gene component coded in HGNC, PharmVar-coded or text
values; variant 69548-6 with c.HGVS and allelic state; the therapeutic-implication code; the STU1 81247-9 panel).
"""
from __future__ import annotations

import itertools
from typing import Callable

LOINC = "http://loinc.org"
HGNC = "http://www.genenames.org/geneId"
PHARMVAR = "http://www.pharmvar.org"
TBD = "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LAB = "http://lab.example.org/test-codes"  # a laboratory's own code for an HLA allele test
PATIENT = "pgx-patient"
HGNC_IDS = {"CYP2C19": "HGNC:2621", "CYP2C9": "HGNC:2623", "CYP2D6": "HGNC:2625", "CYP3A5": "HGNC:2638",
            "DPYD": "HGNC:3012", "TPMT": "HGNC:12014", "NUDT15": "HGNC:23063", "SLCO1B1": "HGNC:10959",
            "VKORC1": "HGNC:23663", "CYP4F2": "HGNC:2645", "HLA-A": "HGNC:4931", "HLA-B": "HGNC:4932"}
PHENOTYPE_ANSWERS = {"Ultrarapid Metabolizer": "LA10315-2", "Rapid Metabolizer": "LA25390-8",
                     "Normal Metabolizer": "LA25391-6", "Intermediate Metabolizer": "LA10317-8",
                     "Poor Metabolizer": "LA9657-3"}
_ids = itertools.count(1)
DATE = "2024-03-05"


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def _coding(system: str, code: str, display: str | None = None) -> dict:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _concept(system: str, code: str, display: str | None = None) -> dict:
    return {"coding": [_coding(system, code, display)]}


def gene_component(gene: str) -> dict:
    return {"code": _concept(LOINC, "48018-6", "Gene studied [ID]"),
            "valueCodeableConcept": _concept(HGNC, HGNC_IDS[gene], gene)}


def _observation(code: dict, *, value: dict | None = None, components: list[dict] | None = None,
                 subject: bool = True, oid: str | None = None, **extra) -> dict:
    obs = {"resourceType": "Observation", "id": oid or _id("obs"), "status": "final",
           "category": [{"coding": [_coding("http://terminology.hl7.org/CodeSystem/observation-category",
                                            "laboratory")]}],
           "code": code, "effectiveDateTime": DATE}
    if subject:
        obs["subject"] = {"reference": f"Patient/{PATIENT}"}
    if value:
        obs.update(value)
    if components:
        obs["component"] = components
    obs.update(extra)
    return obs


def _report(*results: dict, contained: bool) -> list[dict]:
    report = {"resourceType": "DiagnosticReport", "id": _id("report"), "status": "final",
              "category": [{"coding": [_coding("http://terminology.hl7.org/CodeSystem/v2-0074", "GE")]}],
              "code": _concept(LOINC, "51969-4", "Genetic analysis report"),
              "subject": {"reference": f"Patient/{PATIENT}"}, "effectiveDateTime": DATE}
    if contained:
        report["contained"] = [{k: v for k, v in r.items() if k != "subject"} for r in results]
        report["result"] = [{"reference": f"#{r['id']}"} for r in results]
        return [report]
    report["result"] = [{"reference": f"Observation/{r['id']}"} for r in results]
    return [report, *results]


# -- genotypes ------------------------------------------------------------------------------------------------------------
def ig_genotype(gene: str, value: str) -> list[dict]:
    """Genomics Reporting genotype, value as a PharmVar coding ('CYP2C19 *2/*17' as display), standalone."""
    return [_observation(_concept(LOINC, "84413-4", "Genotype display name"),
                         value={"valueCodeableConcept": _concept(PHARMVAR, gene, f"{gene} {value}")},
                         components=[gene_component(gene)])]


def ig_genotype_in_report(gene: str, value: str) -> list[dict]:
    """Genotype with a text value, contained in a genomic DiagnosticReport (no subject on the Observation)."""
    obs = _observation(_concept(LOINC, "84413-4"), value={"valueString": value},
                       components=[gene_component(gene)], subject=False)
    return _report(obs, contained=True)


def stu1_panel(gene: str, value: str) -> list[dict]:
    """The STU1 master panel: 81247-9 with gene, genotype-display-name components, in a report as a separate entry."""
    obs = _observation(_concept(LOINC, "81247-9", "Master HL7 genetic variant reporting panel"),
                       components=[gene_component(gene),
                                   {"code": _concept(LOINC, "84413-4"), "valueCodeableConcept": {"text": value}}])
    return _report(obs, contained=False)


def hgvs_genotype(gene: str, value: str) -> list[dict]:
    """A genotype written as an HGVS genotype ('c.[1905+1G>A];[=]')."""
    return [_observation(_concept(LOINC, "84413-4"), value={"valueString": value},
                         components=[gene_component(gene)])]


def variants_in_report(gene: str, variants: list[tuple[str, str]]) -> list[dict]:
    """Variant Observations (c.HGVS, allelic state) of one gene in a report; an empty list: every variant absent."""
    results = []
    for change, zygosity in variants or [("c.1905+1G>A", "absent")]:
        present = zygosity != "absent"
        components = [gene_component(gene),
                      {"code": _concept(LOINC, "48004-6"), "valueCodeableConcept": _concept(
                          "http://varnomen.hgvs.org", f"NM_000110.4:{change}")}]
        if present:
            components.append({"code": _concept(LOINC, "53034-5"), "valueCodeableConcept": _concept(
                LOINC, "LA6706-1" if zygosity == "heterozygous" else "LA6705-3", zygosity)})
        results.append(_observation(_concept(LOINC, "69548-6", "Genetic variant assessment"),
                                    value={"valueCodeableConcept": _concept(
                                        LOINC, "LA9633-4" if present else "LA9634-2",
                                        "Present" if present else "Absent")},
                                    components=components))
    return _report(*results, contained=False)


def in_report(observations: list[dict]) -> list[dict]:
    """Observations as the results of a genomic DiagnosticReport (separate entries, referenced by id)."""
    return _report(*observations, contained=False)


def snp_genotype(gene: str, value: str) -> list[dict]:
    """A single-variant genotype ('rs9923231 C/T') as a genotype Observation."""
    return ig_genotype(gene, value)


# -- HLA ----------------------------------------------------------------------------------------------------------------
def hla_presence(allele: str, positive: bool) -> list[dict]:
    """An allele tested for presence under a laboratory's own code whose display names the allele (as gene-specific
    presence codes do), valued with the LOINC answers Positive / Negative."""
    return [_observation({"coding": [_coding(LAB, f"hla-{allele[4:].lower()}",
                                             f"{allele} [Presence] in Blood or Tissue by Molecular genetics method")],
                          "text": f"{allele} [Presence]"},
                         value={"valueCodeableConcept": _concept(
                             LOINC, "LA6576-8" if positive else "LA6577-6", "Positive" if positive else "Negative")})]


def hla_typing(gene: str, alleles: str) -> list[dict]:
    """A full typing of the gene as a genotype ('HLA-B*57:01:01+HLA-B*08:01')."""
    return [_observation(_concept(LOINC, "84413-4"),
                         value={"valueCodeableConcept": {"coding": [_coding("http://glstring.org", alleles)],
                                                         "text": alleles}},
                         components=[gene_component(gene)])]


# -- phenotypes ----------------------------------------------------------------------------------------------------------
def phenotype_observation(gene: str, phenotype: str) -> list[dict]:
    """53040-2 'Genetic variation's effect on drug metabolism', valued with the LOINC answer, gene component."""
    return [_observation(_concept(LOINC, "53040-2"), value={"valueCodeableConcept": _concept(
        LOINC, PHENOTYPE_ANSWERS[phenotype], phenotype)}, components=[gene_component(gene)])]


def therapeutic_implication(drug_code: str, drug: str, phenotype: str, derived_from: dict | None = None) -> list[dict]:
    """The IG's therapeutic implication: medication assessed, the phenotype as the implication."""
    obs = _observation(_concept(TBD, "therapeutic-implication"),
                       components=[{"code": _concept(LOINC, "51963-7"), "valueCodeableConcept": _concept(
                           RXNORM, drug_code, drug)},
                                   {"code": _concept(TBD, "therapeutic-implication"),
                                    "valueCodeableConcept": _concept(LOINC, PHENOTYPE_ANSWERS[phenotype],
                                                                     phenotype)}])
    if derived_from is not None:
        obs["derivedFrom"] = [{"reference": f"Observation/{derived_from['id']}"}]
    return [obs]


# -- the rest of the record ----------------------------------------------------------------------------------------------
def patient(**extra) -> dict:
    return {"resourceType": "Patient", "id": PATIENT, "gender": "male", "birthDate": "1961-04-02", **extra}


def medication(text: str, code: str | None = None, status: str = "active", **dosage) -> dict:
    concept = {"text": text}
    if code:
        concept["coding"] = [_coding(RXNORM, code, text)]
    med = {"resourceType": "MedicationRequest", "id": _id("med"), "status": status, "intent": "order",
           "subject": {"reference": f"Patient/{PATIENT}"}, "authoredOn": "2024-04-01",
           "medicationCodeableConcept": concept}
    if dosage:
        med["dosageInstruction"] = [dosage]
    return med


# Encodings by the kind of result, each a function of (gene, value) -> resources.
STAR_ENCODINGS: dict[str, Callable[[str, str], list[dict]]] = {
    "ig-genotype": ig_genotype, "genotype-in-report": ig_genotype_in_report, "stu1-panel": stu1_panel}


def draft(text: str, code: str | None = None, *, amount: float | None = None, per_day: int | None = 1,
          did: str | None = None) -> dict:
    """A drafted MedicationRequest (status draft), as order-select / order-sign send it in context.draftOrders."""
    order = medication(text, code, status="draft")
    order["id"] = did or order["id"].replace("med", "draft")
    order.pop("authoredOn")
    if amount is not None:
        dosage: dict = {"text": f"{amount:g} mg", "doseAndRate": [{"doseQuantity": {
            "value": amount, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}]}
        if per_day is not None:
            dosage["timing"] = {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}}
        order["dosageInstruction"] = [dosage]
    return order


def order_request(definition, drafts: list[dict], record: list[dict], *, selections: list[str] | None = None) -> dict:
    """An order-select / order-sign request as the offline EHR (cds_hooks.evaluate) builds it: the record answers the
    prefetch, the drafts are context.draftOrders (on order-select all of them selected, unless ``selections``)."""
    from cds_hooks.evaluate import hook_request_from_resources

    body = hook_request_from_resources([patient(), *record, *drafts], definition)
    if selections is not None:
        body["context"]["selections"] = selections
    return body
