"""order-select and order-sign requests to the pharmacogenomics services, end to end through the HTTP hook: the card
changes the order as CPIC says (the whole draft updated with the new dose, or deleted and the alternative created),
a level A drug with no result on file gets the test suggested as a ServiceRequest, a normal phenotype gives no card,
an alert shown at order-select is not repeated at order-sign, and every proposed resource is valid FHIR R4."""
from __future__ import annotations

import pytest

from cds_hooks.declaration import SERVICES
from cds_hooks.services import load_all
from tests import pgx_records as rec
from tests.proposal_resources import validated
from tests.protocol.test_card_budget import all_engine_ids, budget_problems

load_all()
SELECT, SIGN = "pharmacogenomics-order-select", "pharmacogenomics-order-sign"
CLOPIDOGREL = ("clopidogrel 75 MG Oral Tablet", "309362")


def call(client, service: str, drafts: list[dict], record: list[dict], **kwargs) -> tuple[list[dict], dict]:
    body = rec.order_request(SERVICES.get(service), drafts, record, **kwargs)
    resp = client.post(f"/cds-services/{service}", json=body)
    assert resp.status_code == 200, resp.get_json()
    cards = resp.get_json()["cards"]
    drafted = {f"MedicationRequest/{d['id']}" for d in drafts}
    for card in cards:
        assert not budget_problems(card, all_engine_ids()), (card["summary"], budget_problems(card, all_engine_ids()))
        assert len(card["summary"]) < 140
        for suggestion in card.get("suggestions", []):
            for action in suggestion["actions"]:
                if action["type"] in ("update", "delete"):
                    assert action["resourceId"] in drafted
                if "resource" in action:
                    assert validated(action["resource"]).subject.reference == f"Patient/{rec.PATIENT}"
    return cards, body


def actions(card: dict, kind: str) -> list[dict]:
    return [a for s in card.get("suggestions", []) for a in s["actions"] if a["type"] == kind]


def dose_of(resource: dict) -> tuple[float, int]:
    dosage = resource["dosageInstruction"][0]
    return dosage["doseAndRate"][0]["doseQuantity"]["value"], dosage["timing"]["repeat"]["frequency"]


def test_discovery_lists_both_order_services_with_the_genomic_prefetch(client):
    services = {s["id"]: s for s in client.get("/cds-services").get_json()["services"]}
    assert services[SELECT]["hook"] == "order-select" and services[SIGN]["hook"] == "order-sign"
    assert "84413-4" in services[SELECT]["prefetch"]["genomic_observations"]


# -- the README worked example ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("service", [SELECT, SIGN])
def test_cyp2c19_poor_metabolizer_drafting_clopidogrel(client, service):
    drafted = rec.draft(*CLOPIDOGREL, amount=75, did="draft-clopidogrel")
    [card], _ = call(client, service, [drafted], rec.ig_genotype("CYP2C19", "*2/*2"))
    assert card["indicator"] == "critical"
    assert card["summary"] == ("Clopidogrel with CYP2C19 poor metabolizer (*2/*2): prasugrel or ticagrelor instead "
                               "(CPIC strong)")
    assert "**Recommendation:** avoid clopidogrel if possible. Use prasugrel or ticagrelor" in card["detail"]
    assert "CPIC 2022 clopidogrel guideline, CPIC strong" in card["detail"]
    assert card["selectionBehavior"] == "at-most-one"
    labels = [s["label"] for s in card["suggestions"]]
    assert labels[0] == "Cancel the clopidogrel order"
    assert any(label.startswith("Cancel clopidogrel; start prasugrel 10 mg") for label in labels)
    assert any(label.startswith("Cancel clopidogrel; start ticagrelor 90 mg orally twice daily") for label in labels)
    assert not any(s.get("isRecommended") for s in card["suggestions"])  # CPIC states no preference
    switch = next(s for s in card["suggestions"] if "ticagrelor" in s["label"])
    delete, create = switch["actions"]
    assert (delete["type"], delete["resourceId"]) == ("delete", "MedicationRequest/draft-clopidogrel")
    assert create["type"] == "create" and create["resource"]["status"] == "draft"
    assert create["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "1116632"
    assert dose_of(create["resource"]) == (90, 2)
    assert card["source"]["url"] == "https://cpicpgx.org/guidelines/guideline-for-clopidogrel-and-cyp2c19/"


def test_an_alert_shown_at_order_select_is_not_repeated_at_order_sign(client):
    drafted = rec.draft(*CLOPIDOGREL, amount=75, did="draft-once")
    record = rec.ig_genotype("CYP2C19", "*2/*2")
    assert len(call(client, SELECT, [drafted], record)[0]) == 1
    assert call(client, SIGN, [drafted], record)[0] == []


def test_a_normal_metabolizer_drafting_clopidogrel_gets_no_card(client):
    drafted = rec.draft(*CLOPIDOGREL, amount=75)
    assert call(client, SIGN, [drafted], rec.ig_genotype_in_report("CYP2C19", "*1/*17"))[0] == []


# -- dose changes as updates ------------------------------------------------------------------------------------------
def test_dpyd_intermediate_metabolizer_capecitabine_is_halved_as_an_update(client):
    drafted = rec.draft("capecitabine 500 MG Oral Tablet", amount=1500, per_day=2, did="draft-cape")
    [card], _ = call(client, SIGN, [drafted], rec.variants_in_report("DPYD", [("c.1905+1G>A", "heterozygous")]))
    assert card["indicator"] == "warning" and "DPYD intermediate metabolizer" in card["summary"]
    [update] = actions(card, "update")
    assert update["resourceId"] == "MedicationRequest/draft-cape" and update["resource"]["id"] == "draft-cape"
    # 750 mg is not whole 500 mg tablets and the knowledge lists no other capecitabine tablet: the dose is text only,
    # the drafted product kept, so that no structured 750 mg rests on a 500 mg tablet.
    dosage = update["resource"]["dosageInstruction"][0]
    assert "doseAndRate" not in dosage and dosage["timing"]["repeat"]["frequency"] == 2
    assert dosage["text"].startswith("750 mg twice daily (whole 500 mg units do not make 750 mg")
    assert "CPIC 2017 fluoropyrimidine guideline, CPIC strong" in card["detail"]


def test_dpyd_poor_metabolizer_fluorouracil_is_cancelled(client):
    drafted = rec.draft("fluorouracil 50 MG/ML Injectable Solution", amount=800, per_day=1)
    [card], _ = call(client, SIGN, [drafted], rec.hgvs_genotype("DPYD", "c.[1905+1G>A];[2846A>T]"))
    assert card["indicator"] == "critical" and actions(card, "delete") and not actions(card, "create")


@pytest.mark.parametrize("amount, change", [(40, 10), (20, 10), (10, None)])
def test_simvastatin_with_decreased_slco1b1_function_is_limited_below_20_mg(client, amount, change):
    drafted = rec.draft("simvastatin 40 MG Oral Tablet", "198211", amount=amount)
    [card], _ = call(client, SIGN, [drafted], rec.stu1_panel("SLCO1B1", "*1/*5"))
    if change is None:
        assert card["indicator"] == "info" and "within CPIC's limit" in card["detail"] and not actions(card, "update")
    else:
        assert card["indicator"] == "warning" and dose_of(actions(card, "update")[0]["resource"]) == (change, 1)


def test_hla_b_5701_positive_abacavir_is_cancelled(client):
    drafted = rec.draft("abacavir 300 MG Oral Tablet", amount=300, per_day=2)
    # A laboratory's own HLA-B*57:01 code is found through the report that lists it (not by a LOINC search).
    [card], _ = call(client, SELECT, [drafted], rec.in_report(rec.hla_presence("HLA-B*57:01", True)))
    assert card["indicator"] == "critical" and card["summary"].startswith("Abacavir with HLA-B*57:01 positive")
    assert actions(card, "delete")


def test_codeine_for_a_cyp2d6_ultrarapid_metabolizer_with_a_gene_duplication(client):
    drafted = rec.draft("codeine phosphate 30 MG Oral Tablet", amount=30, per_day=4)
    [card], _ = call(client, SIGN, [drafted], rec.ig_genotype("CYP2D6", "*1/*2x2"))
    assert card["indicator"] == "critical" and "ultrarapid" in card["summary"] and actions(card, "delete")


# -- no result on file: the test as a ServiceRequest -------------------------------------------------------------------
def test_a_level_a_drug_without_a_result_gets_the_test_suggested(client):
    drafted = rec.draft(*CLOPIDOGREL, amount=75)
    [card], _ = call(client, SIGN, [drafted], [])
    assert card["indicator"] == "info"
    assert card["summary"] == "No CYP2C19 result for clopidogrel: genotyping suggested (CPIC level A)"
    [create] = actions(card, "create")
    request = create["resource"]
    assert request["resourceType"] == "ServiceRequest" and request["status"] == "draft"
    assert request["code"]["coding"][0]["code"] == "51969-4" and request["code"]["text"] == "CYP2C19 genotype"
    assert not actions(card, "delete")  # the drafted order is left as it is


def test_a_thiopurine_with_tpmt_on_file_but_no_nudt15_asks_for_nudt15(client):
    drafted = rec.draft("azathioprine 50 MG Oral Tablet", amount=100)
    [card], _ = call(client, SIGN, [drafted], rec.ig_genotype("TPMT", "*1/*1"))
    assert card["summary"].startswith("No NUDT15 result for azathioprine")
    assert [a["resource"]["code"]["text"] for a in actions(card, "create")] == ["NUDT15 genotype"]


def test_an_unreadable_result_is_reported_and_the_test_suggested(client):
    [unreadable] = rec.ig_genotype("CYP2C19", "*1/*2")
    unreadable["valueCodeableConcept"] = {"text": "see scanned report"}
    [card], _ = call(client, SIGN, [rec.draft(*CLOPIDOGREL, amount=75)], [unreadable])
    assert "1 recorded value not used" in card["detail"] and actions(card, "create")


# -- selections and warfarin -------------------------------------------------------------------------------------------
def test_order_select_checks_the_selected_draft_and_order_sign_every_draft(client):
    clopidogrel = rec.draft(*CLOPIDOGREL, amount=75, did="d-clop")
    codeine = rec.draft("codeine 30 mg tablet", amount=30, per_day=4, did="d-cod")
    record = [*rec.ig_genotype("CYP2C19", "*2/*2"), *rec.ig_genotype("CYP2D6", "*4/*4")]
    selected, _ = call(client, SELECT, [clopidogrel, codeine], record, selections=["MedicationRequest/d-cod"])
    assert [c["summary"].split(" ")[0] for c in selected] == ["Codeine"]
    signed, _ = call(client, SIGN, [rec.draft(*CLOPIDOGREL, amount=75, did="d-clop2"),
                                    rec.draft("codeine 30 mg tablet", amount=30, per_day=4, did="d-cod2")], record)
    assert sorted(c["summary"].split(" ")[0] for c in signed) == ["Clopidogrel", "Codeine"]


def test_drafted_warfarin_gets_the_iwpc_dose_next_to_the_clinical_dose(client):
    height = {"resourceType": "Observation", "id": "ht", "status": "final", "effectiveDateTime": "2026-01-02",
              "subject": {"reference": f"Patient/{rec.PATIENT}"},
              "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
              "valueQuantity": {"value": 170, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"}}
    weight = {**height, "id": "wt", "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
              "valueQuantity": {"value": 70, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}
    record = [height, weight, *rec.ig_genotype("CYP2C9", "*1/*1"), *rec.snp_genotype("VKORC1", "rs9923231 C/T")]
    [card], _ = call(client, SIGN, [rec.draft("warfarin sodium 5 MG Oral Tablet", "855332", amount=5)], record)
    # Born 1961-04-02: 65 on 2026-06-01; white race not recorded -> 'missing or mixed' (-0.1032):
    # 5.6044 - 1.5684 + 1.479 + 0.896 - 0.8677 - 0.1032 = 5.4401 -> 29.6 mg/week
    assert card["summary"].startswith("Warfarin dose (IWPC pharmacogenetic algorithm): 29.6 mg/week")
    assert "Clinical-only weekly dose" in card["detail"] and "CPIC strong" in card["detail"]
