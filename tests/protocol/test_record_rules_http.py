"""The record rules through the HTTP hook, as an EHR calls it: pregnancy, an active statin and LDL-C >= 190 mg/dL on the
PCE / PREVENT cards; same-day results without times; one eGFR on every card and a discordant lab-reported eGFR."""
from __future__ import annotations

import copy
import json

import pytest

from cds_hooks.app import create_app
from cds_hooks.config import load_config
from cds_hooks.evaluate import evaluate_document
from tests.conftest import TEST_AS_OF, CheckedClient, load_fixture

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PATIENT = "prevent-example-woman"  # woman 50, white: PCE 6.4 %, PREVENT 14.7 % in the fixture
CARDIOVASCULAR = "/cds-services/cardiovascular-risk"
RISK_SCORES = "/cds-services/risk-scores"


@pytest.fixture(scope="module")
def client():
    return CheckedClient(create_app({"AS_OF": TEST_AS_OF, "DEV_MODE": True, "WARM_MODELS": False}).test_client())


@pytest.fixture(scope="module")
def client_showing_not_applicable():
    """Not-applicable results are off the cards by default (they are on the explainer page); this opts in."""
    return CheckedClient(create_app({"AS_OF": TEST_AS_OF, "DEV_MODE": True, "WARM_MODELS": False,
                                     "SHOW_NOT_APPLICABLE": True}).test_client())


def base_request() -> dict:
    return copy.deepcopy(load_fixture("hooks/patient-view-prevent-example.json"))


def entry(resource: dict) -> dict:
    return {"fullUrl": f"https://ehr.example.org/fhir/{resource['resourceType']}/{resource['id']}",
            "resource": resource, "search": {"mode": "match"}}


def add(request: dict, key: str, *resources: dict) -> dict:
    bundle = request["prefetch"].setdefault(key, {"resourceType": "Bundle", "type": "searchset", "entry": []})
    bundle["entry"] += [entry(r) for r in resources]
    bundle["total"] = len(bundle["entry"])
    return request


def lab(oid: str, code: str, value: float, unit: str, when: str, ucum: str | None = None, **extra) -> dict:
    res = {"resourceType": "Observation", "id": oid, "status": "final",
           "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                     "code": "laboratory"}]}],
           "code": {"coding": [{"system": LOINC, "code": code}]}, "subject": {"reference": f"Patient/{PATIENT}"},
           "effectiveDateTime": when, "valueQuantity": {"value": value, "unit": unit, "system": UCUM,
                                                        "code": ucum or unit}}
    res.update(extra)
    return res


def pregnancy_status(answer: str, display: str) -> dict:
    return {"resourceType": "Observation", "id": "preg-status", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "82810-3", "display": "Pregnancy status"}]},
            "subject": {"reference": f"Patient/{PATIENT}"}, "effectiveDateTime": "2026-05-28T14:00:00Z",
            "valueCodeableConcept": {"coding": [{"system": LOINC, "code": answer, "display": display}]}}


def statin_request() -> dict:
    return {"resourceType": "MedicationRequest", "id": "rx-atorva", "status": "active", "intent": "order",
            "subject": {"reference": f"Patient/{PATIENT}"}, "authoredOn": "2025-09-01",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "83367", "display": "atorvastatin"}],
                                          "text": "atorvastatin 20 MG Oral Tablet"}}


def post(client, request: dict, path: str = CARDIOVASCULAR) -> list[dict]:
    resp = client.post(path, data=json.dumps(request), content_type="application/json")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return resp.get_json()["cards"]


def finding(request: dict, engine_id: str) -> dict:
    """A finding of the cardiovascular-risk service for ``request``, as the explainer page shows it."""
    result = evaluate_document(copy.deepcopy(request), service_id="cardiovascular-risk",
                               config=load_config({"AS_OF": TEST_AS_OF, "DEV_MODE": True, "WARM_MODELS": False}),
                               include_cards=False)
    return next(f for f in result["findings"] if f["engine_id"] == engine_id)


def card(cards: list[dict], starts: str) -> dict:
    matches = [c for c in cards if c["summary"].startswith(starts)]
    assert len(matches) == 1, [c["summary"] for c in cards]
    return matches[0]


# -- pregnancy ---------------------------------------------------------------------------------------------------------
def test_pregnancy_status_pregnant_makes_pce_and_prevent_not_applicable(client, client_showing_not_applicable):
    request = add(base_request(), "observations", pregnancy_status("LA15173-0", "Pregnant"))
    cards = post(client, request)
    assert not any(c["summary"].startswith(("10-year ASCVD risk", "10-year cardiovascular risk")) for c in cards)
    assert not any(c["summary"].startswith("Not applicable") for c in cards)  # off the cards by default
    cards = post(client_showing_not_applicable, request)
    not_applicable = card(cards, "Not applicable here")
    assert "10-year ASCVD risk (Pooled Cohort Equations)" in not_applicable["summary"]
    assert "Pooled Cohort Equations were not derived in pregnancy" in not_applicable["detail"]
    assert "PREVENT equations were not derived in pregnancy" in not_applicable["detail"]


def test_pregnancy_condition_makes_the_30_year_model_not_applicable(client_showing_not_applicable):
    client = client_showing_not_applicable
    condition = {"resourceType": "Condition", "id": "preg", "subject": {"reference": f"Patient/{PATIENT}"},
                 "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                "code": "active"}]},
                 "code": {"coding": [{"system": SNOMED, "code": "77386006", "display": "Pregnancy"}]},
                 "onsetDateTime": "2026-03-01"}
    cards = post(client, add(base_request(), "conditions", condition), RISK_SCORES)
    assert not any(c["summary"].startswith("PREVENT 30-year cardiovascular risk") for c in cards)
    # On the combined not-applicable card, one short row per score (the whole reason is on the explainer page).
    assert any("**PREVENT 30-year cardiovascular risk** — Pregnancy is recorded" in c.get("detail", "") for c in cards)


def test_not_pregnant_keeps_the_estimates(client):
    cards = post(client, add(base_request(), "observations", pregnancy_status("LA26683-5", "Not pregnant")))
    # Both estimates, on the one card of the statin her diabetes calls for (docs/treatment.md).
    pce = card(cards, "10-year ASCVD risk (Pooled Cohort Equations)")
    assert "6.4 % (borderline) → start a moderate-intensity statin" in pce["summary"]
    assert "**Also:** 10-year cardiovascular risk (AHA PREVENT): 14.7 %" in pce["detail"]


# -- statin ------------------------------------------------------------------------------------------------------------
def test_active_statin_is_named_on_the_risk_cards(client):
    cards = post(client, add(base_request(), "medications", statin_request()))
    pce = card(cards, "10-year ASCVD risk (Pooled Cohort Equations)")
    assert ("A statin is active: the Pooled Cohort Equations estimate risk without lipid-lowering treatment"
            in pce["detail"])
    assert "MedicationRequest/" not in pce["detail"]
    # The statin of unknown dose is the card's action; PREVENT is beside the PCE on it, its note on the explainer page.
    assert "→ check the statin dose" in pce["summary"]
    prevent = finding(add(base_request(), "medications", statin_request()), "prevent-2024-base")
    assert any("PREVENT includes statin use as a predictor" in a for a in prevent["assumptions"])
    assert any(ev["label"] == "On statin" and ev["value"] is True for ev in prevent["inputs"])


# -- LDL-C >= 190 mg/dL ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ldl, named", [(189, False), (190, True)])
def test_ldl_190_is_named_on_the_pce_card(client, ldl, named):
    cards = post(client, add(base_request(), "observations",
                             lab("b-ldl", "13457-7", ldl, "mg/dL", "2026-04-11T08:00:00Z")))
    pce = card(cards, "10-year ASCVD risk (Pooled Cohort Equations)")
    assert ("statin benefit group without risk estimation" in pce["detail"]) is named
    # The PCE finding's own severity (the card is a warning either way: her diabetes calls for a statin).
    request = add(base_request(), "observations", lab("b-ldl", "13457-7", ldl, "mg/dL", "2026-04-11T08:00:00Z"))
    assert finding(request, "pce-2013")["severity"] == ("warning" if named else "info")
    assert ("for LDL-C >= 190 mg/dL" in pce["summary"]) is named


# -- same-day results without times ------------------------------------------------------------------------------------
def test_two_cholesterol_results_on_one_day_without_times_name_the_conflict(client):
    request = add(base_request(), "observations",
                  lab("tc-a", "2093-3", 200, "mg/dL", "2026-05-02", issued="2026-05-02T09:00:00Z"),
                  lab("tc-b", "2093-3", 228, "mg/dL", "2026-05-02", issued="2026-05-02T11:30:00Z"))
    pce = card(post(client, request), "10-year ASCVD risk (Pooled Cohort Equations)")
    # The card uses the one issued last and says a value was set aside; the explainer page names the conflict.
    assert "Total cholesterol 228 mg/dL (2026-05-02)" in pce["detail"]
    assert "1 recorded value not used" in pce["detail"]
    result = evaluate_document(request, service_id="cardiovascular-risk",
                               config=load_config({"AS_OF": TEST_AS_OF, "DEV_MODE": True, "WARM_MODELS": False}),
                               include_cards=False)
    finding = next(f for f in result["findings"] if f["engine_id"] == "pce-2013")
    assert any("2 total cholesterol results on 2026-05-02 without times (200, 228 mg/dL); used 228 mg/dL "
               "(Observation/tc-b), the one issued last" in p["reason"] for p in finding["input_problems"])


def test_same_value_twice_on_one_day_is_not_a_conflict(client):
    request = add(base_request(), "observations", lab("tc-a", "2093-3", 200, "mg/dL", "2026-05-02"),
                  lab("tc-b", "2093-3", 200, "mg/dL", "2026-05-02"))
    pce = card(post(client, request), "10-year ASCVD risk (Pooled Cohort Equations)")
    assert "results on 2026-05-02" not in pce["detail"]


# -- one eGFR per patient ----------------------------------------------------------------------------------------------
def egfr_request(creatinine_mgdl: float) -> dict:
    # Same draw as the lab-reported eGFR 90 of the fixture (2026-04-11 08:00).
    return add(base_request(), "observations",
               lab("b-cr", "2160-0", creatinine_mgdl, "mg/dL", "2026-04-11T08:00:00Z"))


def test_egfr_card_and_prevent_show_the_same_lab_reported_egfr(client):
    # Albuminuria (A2) makes the G1 eGFR a card: without a criterion of CKD it is on the explainer page only.
    request = add(egfr_request(0.75), "observations", lab("b-acr", "9318-7", 45, "mg/g", "2026-04-11T08:00:00Z"))
    cards = post(client, request)  # CKD-EPI 2021: 96.9, within 10 % of 90
    egfr = card(cards, "eGFR (lab-reported)")
    assert egfr["summary"] == "eGFR (lab-reported): 90 mL/min/1.73m2 (G1)"
    # Every eGFR at its display precision (whole numbers), the comparison value included.
    assert ("For comparison only: CKD-EPI 2021 from the same-day creatinine 0.75 mg/dL gives 97 (G1)"
            in egfr["detail"])
    assert "differ by more than 10 %" not in egfr["detail"]
    prevent = finding(egfr_request(0.75), "prevent-2024-base")  # beside the PCE on the statin card
    assert [ev["value"] for ev in prevent["inputs"] if ev["name"] == "egfr_mlmin173m2"] == [90]


def test_a_discordant_lab_reported_egfr_gives_way_to_ckd_epi_2021_on_every_card(client):
    # New policy (docs/calculators.md, "One eGFR per patient"): beyond 10 % every card uses CKD-EPI 2021 from the
    # measured creatinine, and the eGFR card says both values and why, in full, first under the result.
    cards = post(client, egfr_request(2.6))  # CKD-EPI 2021 for a woman of 50: 21.8, lab says 90
    assert not [c for c in cards if c["summary"].startswith("eGFR (lab-reported)")]
    egfr = card(cards, "eGFR (CKD-EPI 2021 creatinine, race-free)")
    assert egfr["summary"].startswith("eGFR (CKD-EPI 2021 creatinine, race-free): 22 mL/min/1.73m2 (G4)")
    assert egfr["indicator"] == "warning"
    lines = [line for line in egfr["detail"].splitlines() if line.strip()]
    assert lines[1] == ("Lab-reported eGFR 90 vs CKD-EPI 2021 22 (G4) from the same-day creatinine 2.60 mg/dL "
                        "differ by over 10 %; CKD-EPI 2021 is used: the lab value may be from an older race-based "
                        "or different equation, or a data error.")
    prevent = finding(egfr_request(2.6), "prevent-2024-base")  # beside the PCE on the statin card
    assert [round(ev["value"]) for ev in prevent["inputs"] if ev["name"] == "egfr_mlmin173m2"] == [22]
    assert prevent["input_problems"]  # the lab value, listed on the explainer page
    assert not any("eGFR 90" in c["detail"] for c in cards if "eGFR (CKD-EPI" not in c["summary"])


