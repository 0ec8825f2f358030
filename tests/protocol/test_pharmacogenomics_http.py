"""The pharmacogenomics service over HTTP, as an EHR calls it: prefetch derived from the declaration, one summary card
within the card budget, its explainer page with the diplotype, the phenotype derivation, the CPIC table row and its
source; no card without an actionable result; unreadable results named on the card."""
from __future__ import annotations

import json
import re

import pytest

from cds_hooks.declaration import SERVICES
from cds_hooks.evaluate import hook_request_from_resources
from cds_hooks.services import load_all
from tests import pgx_records as rec
from tests.explainer.conftest import Clock, explainer_app, explainer_links
from tests.protocol.test_card_budget import all_engine_ids, budget_problems

load_all()
SERVICE = "pharmacogenomics"
PATH = f"/cds-services/{SERVICE}"


def request_for(*resources: dict) -> dict:
    return hook_request_from_resources([rec.patient(), *resources], SERVICES.get(SERVICE))


def cards_for(client, *resources: dict) -> list[dict]:
    resp = client.post(PATH, data=json.dumps(request_for(*resources)), content_type="application/json")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["cards"]


def test_discovery_declares_the_genomic_and_medication_prefetch(client):
    services = {s["id"]: s for s in client.get("/cds-services").get_json()["services"]}
    prefetch = services[SERVICE]["prefetch"]
    assert "84413-4" in prefetch["genomic_observations"] and "69548-6" in prefetch["genomic_observations"]
    assert "_include=DiagnosticReport:result" in prefetch["genomic_reports"]
    assert prefetch["medications"].startswith("MedicationRequest?patient={{context.patientId}}&status=active")
    assert "8302-2" in prefetch["observations"]  # height, for the IWPC warfarin dose


def test_cyp2c19_poor_metabolizer_on_clopidogrel(client):
    [card] = cards_for(client, *rec.ig_genotype("CYP2C19", "*2/*2"),
                       rec.medication("clopidogrel 75 MG Oral Tablet", "309362"))
    assert card["indicator"] == "critical"
    assert card["summary"] == "Pharmacogenomics: CYP2C19 poor metabolizer (clopidogrel)"
    assert "clopidogrel (on the list): prasugrel or ticagrelor instead (CPIC strong)" in card["detail"]
    assert "**Recommendation:** avoid clopidogrel if possible" in card["detail"]
    assert "CPIC 2022 clopidogrel guideline, CPIC strong" in card["detail"]
    assert "CYP2C19 \\*2/\\*2" in card["detail"]  # star alleles escaped, not emphasis
    assert card["source"]["url"] == "https://cpicpgx.org/guidelines/"
    assert not budget_problems(card, all_engine_ids())


def test_no_card_without_a_genomic_result_or_with_normal_results_only(client):
    assert cards_for(client, rec.medication("clopidogrel 75 MG Oral Tablet")) == []
    assert cards_for(client, *rec.ig_genotype("CYP2C19", "*1/*1"), *rec.hla_presence("HLA-B*57:01", False),
                     rec.medication("clopidogrel 75 MG Oral Tablet")) == []


def test_an_actionable_result_without_an_affected_medication_is_an_info_card(client):
    [card] = cards_for(client, *rec.stu1_panel("SLCO1B1", "*5/*5"))
    assert card["indicator"] == "info"
    assert card["summary"] == "Pharmacogenomics: SLCO1B1 poor function"
    assert "affects simvastatin, atorvastatin, rosuvastatin; none on the medication list" in card["detail"]


def test_many_results_keep_to_the_card_budget(client):
    resources = [*rec.ig_genotype("CYP2C19", "*2/*2"), *rec.ig_genotype_in_report("CYP2D6", "*1/*1xN"),
                 *rec.stu1_panel("SLCO1B1", "*1/*5"), *rec.hgvs_genotype("DPYD", "c.[1905+1G>A];[=]"),
                 *rec.hla_typing("HLA-B", "HLA-B*57:01:01+HLA-B*58:01"), *rec.ig_genotype("TPMT", "*3A/*3A"),
                 rec.medication("clopidogrel 75 mg"), rec.medication("codeine 30 mg"),
                 rec.medication("simvastatin 40 mg"), rec.medication("abacavir 300 mg")]
    [card] = cards_for(client, *resources)
    assert card["indicator"] == "critical" and len(card["summary"]) < 140
    assert not budget_problems(card, all_engine_ids()), card["detail"]
    assert "more (see how this was calculated)" in card["detail"] and "**Recommendation:**" in card["detail"]


def test_an_unreadable_result_is_named_on_the_card(client):
    [unreadable] = rec.ig_genotype("CYP2C9", "*1/*2")
    unreadable["valueCodeableConcept"] = {"text": "see scanned report"}
    [card] = cards_for(client, *rec.ig_genotype("CYP2C19", "*2/*2"), unreadable)
    assert "1 recorded value not used" in card["detail"]


def test_the_explainer_page_shows_diplotype_derivation_table_row_and_source(tmp_path):
    app = explainer_app(tmp_path, Clock())
    body = request_for(*rec.ig_genotype("CYP2C19", "*2/*2"), rec.medication("clopidogrel 75 MG Oral Tablet"))
    resp = app.test_client().post(PATH, json=body)
    [url] = explainer_links(resp.get_json())
    page = app.test_client().get(re.sub(r"^https?://[^/]+", "", url)).get_data(as_text=True)
    for expected in ("*2/*2", "HL7 Genomics Reporting genotype", "2024-03-05",  # the diplotype, how and when
                     "No function", "No function + No function → Poor Metabolizer",  # the derivation
                     "CPIC allele functionality"):  # the table it came from
        assert expected in page, expected
    others = re.findall(r'href="(/explain/[^"]+)"', page)
    pages = [app.test_client().get(link).get_data(as_text=True) for link in others]
    drug_page = next(p for p in pages if "Recommendation table" in p and "▶" in p)
    for expected in ("▶ CYP2C19 likely poor metabolizer or poor metabolizer: Avoid clopidogrel if possible",
                     "(Strong)", "CYP2C19 ultrarapid metabolizer or rapid metabolizer or normal metabolizer",
                     "Lee CR, Luzum JA", "10.1002/cpt.2526", "Table 2, classification for ACS and/or PCI",
                     "MedicationRequest/"):
        assert expected in drug_page, expected


@pytest.mark.parametrize("missing, status", [("genomic_reports", 200), ("medications", 412)])
def test_optional_and_required_prefetch(client, missing, status):
    body = request_for(*rec.ig_genotype("CYP2C19", "*2/*2"))
    del body["prefetch"][missing]
    resp = client.post(PATH, data=json.dumps(body), content_type="application/json")
    assert resp.status_code == status
