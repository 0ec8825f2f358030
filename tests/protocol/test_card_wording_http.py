"""What the cards say, through the HTTP hook as an EHR calls it: a normal eGFR stays off the cards, "data needed" only
where the assessment is indicated (the same for population scoring), numbers never rounded across a threshold the
engine used, readable sentences (HAS-BLED), one mention of each missing input, and the recommendation line.

Each test builds a small record (a 60-year-old woman with one day of results) and posts it to a patient-view service
with the services' own prefetch keys (cds_hooks.evaluate.hook_request_from_resources)."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date

import pytest

from cds_hooks.declaration import SERVICES, find_engine
from cds_hooks.evaluate import hook_request_from_resources
from cds_hooks.pipeline import evaluate_resources
from cds_hooks.services import load_all
from engine.finding import Recommendation, Status
from tests.conftest import CheckedClient
from tests.explainer.conftest import Clock, explainer_app, explainer_links
from tests.protocol.test_card_budget import all_engine_ids, budget_problems

load_all()

PATIENT = "wording-patient"
DAY = "2026-05-04"
AS_OF = "2026-06-01"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


def patient(gender: str = "female", birth: str = "1966-01-01") -> dict:
    return {"resourceType": "Patient", "id": PATIENT, "gender": gender, "birthDate": birth}


def obs(code: str, value: float, unit: str, *, oid: str | None = None, when: str = DAY) -> dict:
    return {"resourceType": "Observation", "id": oid or f"o-{code}", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]}, "subject": {"reference": f"Patient/{PATIENT}"},
            "effectiveDateTime": when, "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                                                         "code": unit}}


def never_smoker() -> dict:
    return {"resourceType": "Observation", "id": "o-smoke", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "72166-2"}]}, "subject": {"reference": f"Patient/{PATIENT}"},
            "effectiveDateTime": DAY,
            "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "266919005", "display": "Never smoked"}]}}


def condition(code: str, display: str) -> dict:
    def coded(system, value):
        return {"coding": [{"system": system, "code": value}]}
    return {"resourceType": "Condition", "id": f"c-{code}", "subject": {"reference": f"Patient/{PATIENT}"},
            "clinicalStatus": coded("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
            "verificationStatus": coded("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"),
            "category": [coded("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")],
            "code": {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display},
            "onsetDateTime": "2019-04-02"}


def risk_record(*extra: dict, bmi: float = 27.0, creatinine: float | None = 0.73) -> list[dict]:
    """Lipids, blood pressure, smoking and BMI for the PCE and PREVENT, and a creatinine unless None."""
    resources = [patient(), obs("2093-3", 213, "mg/dL"), obs("2085-9", 50, "mg/dL"), obs("8480-6", 124, "mm[Hg]"),
                 obs("8462-4", 76, "mm[Hg]"), obs("39156-5", bmi, "kg/m2"), never_smoker()]
    if creatinine is not None:
        resources.append(obs("2160-0", creatinine, "mg/dL"))
    return resources + list(extra)


@pytest.fixture
def xclient(tmp_path) -> CheckedClient:
    return CheckedClient(explainer_app(tmp_path, Clock(), AS_OF=AS_OF, WARM_MODELS=False).test_client())


def cards_of(client, service_id: str, resources: list[dict]) -> list[dict]:
    body = hook_request_from_resources(resources, SERVICES.get(service_id))
    resp = client.post(f"/cds-services/{service_id}", data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 200, resp.get_json()
    cards = resp.get_json()["cards"]
    for card in cards:
        assert budget_problems(card, all_engine_ids()) == [], card
    return cards


def page_of(client: CheckedClient, card: dict) -> str:
    """The card's explainer page (HTML)."""
    [url] = explainer_links({"cards": [card]})
    resp = client.raw().get(re.sub(r"^https?://[^/]+", "", url))
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def text_of(cards: list[dict]) -> str:
    return "\n".join(f"{c['summary']}\n{c.get('detail', '')}" for c in cards)


# -- a normal eGFR is on the explainer page, not a card ------------------------------------------------------------
def test_a_normal_egfr_without_a_ckd_criterion_is_no_card_but_is_on_the_explainer_page(xclient):
    cards = cards_of(xclient, "cardiovascular-risk", risk_record(creatinine=0.73))  # CKD-EPI 2021: 94, G1
    assert not [c for c in cards if c["summary"].startswith("eGFR")], [c["summary"] for c in cards]
    assert "eGFR 94 mL/min/1.73m2" in text_of(cards)  # PREVENT still shows the eGFR it used
    page = page_of(xclient, cards[0])
    assert "eGFR (CKD-EPI 2021 creatinine, race-free): 94 mL/min/1.73m2 (G1)" in page  # "Other results of this call"


@pytest.mark.parametrize("marker", [obs("9318-7", 45, "mg/g"), condition("709044004", "Chronic kidney disease")],
                         ids=["albuminuria", "ckd-on-problem-list"])
def test_a_normal_egfr_with_a_ckd_criterion_is_still_a_card(xclient, marker):
    cards = cards_of(xclient, "cardiovascular-risk", risk_record(marker, creatinine=0.73))
    assert [c for c in cards if c["summary"].startswith("eGFR (CKD-EPI 2021 creatinine, race-free): 94")]


# -- "data needed" only where the assessment is indicated, in the hook and in population scoring alike ---------------
@pytest.mark.parametrize("indication, needed", [((), False),
                                                 ((condition("44054006", "Type 2 diabetes mellitus"),), True),
                                                 ((condition("38341003", "Hypertension"),), True)],
                         ids=["no-indication", "diabetes", "hypertension"])
def test_a_missing_creatinine_is_data_needed_only_where_an_egfr_is_indicated(xclient, indication, needed):
    resources = [patient(), *indication]  # no results at all: neither the PCE nor PREVENT can run either
    cards = cards_of(xclient, "cardiovascular-risk", resources)
    assert ("Serum creatinine" in text_of(cards)) is needed, text_of(cards)
    # Population scoring (population.scoring) runs the same engines through cds_hooks.pipeline.evaluate_resources.
    engines = SERVICES.get("cardiovascular-risk").engine_objects()
    population = evaluate_resources(engines, resources, as_of=date.fromisoformat(AS_OF), patient_id=PATIENT)
    [egfr] = [f for f in population if f.engine_id == "ckd-epi-2021-cr"]
    assert egfr.status is (Status.INSUFFICIENT_DATA if needed else Status.NOT_APPLICABLE)


# -- numbers never rounded across a threshold the engine used ----------------------------------------------------------
def test_bmi_and_egfr_just_below_a_threshold_are_not_shown_on_or_above_it(xclient):
    # BMI 29.996: not obese (WHO class 1 from 30.0, compared unrounded); lab eGFR 59.96: G3a (from 60 is G2).
    resources = risk_record(obs("33914-3", 59.96, "mL/min/{1.73_m2}"), condition("38341003", "Hypertension"),
                            bmi=29.996, creatinine=None)
    everything = []
    for service in ("cardiovascular-risk", "diagnosis-gaps", "risk-scores"):
        everything += cards_of(xclient, service, resources)
    shown = text_of(everything)
    assert "BMI 29.9 kg/m2" in shown and "BMI 30.0" not in shown
    assert "eGFR 59 mL/min/1.73m2" in shown and "eGFR 60 " not in shown
    assert not [c for c in everything if "obesity" in c["summary"].lower()]


def test_hba1c_and_ldl_just_below_a_threshold_are_not_shown_on_it(xclient):
    resources = risk_record(obs("4548-4", 6.449, "%"), obs("13457-7", 189.6, "mg/dL"),
                            condition("44054006", "Type 2 diabetes mellitus"))
    everything = []
    for service in ("cardiovascular-risk", "diagnosis-gaps", "risk-scores"):
        everything += cards_of(xclient, service, resources)
    shown = text_of(everything)
    assert "HbA1c 6.4 %" in shown and "HbA1c 6.5" not in shown
    assert "LDL-C 190" not in shown and ">= 190" not in shown  # 189.6 is no severe hypercholesterolaemia


# -- readable sentences and one mention of each missing input ---------------------------------------------------------
def test_has_bled_says_its_bleeding_rate_as_a_sentence(xclient):
    resources = [patient(birth="1950-01-01"), obs("8480-6", 126, "mm[Hg]"),
                 condition("49436004", "Atrial fibrillation")]
    # HAS-BLED is on the CHA2DS2-VASc card with the anticoagulant it calls for (docs/treatment.md), its rate in words.
    [card] = [c for c in cards_of(xclient, "risk-scores", resources) if "HAS-BLED" in c["detail"]]
    assert "About 1.0 major bleeds per 100 patient-years at a score of 1 (Pisters 2010)." in card["detail"]
    assert "at score 1 1.0" not in card["detail"] and "/100 patient-years" not in card["detail"]
    assert "patient-years" not in card["summary"]


def test_the_kdigo_data_needed_card_names_the_missing_uacr_once(xclient):
    resources = [patient(), obs("2160-0", 0.73, "mg/dL"), condition("38341003", "Hypertension")]
    [card] = [c for c in cards_of(xclient, "risk-scores", resources) if c["summary"].startswith("Data needed")]
    assert "KDIGO" in card["detail"]
    assert card["detail"].count("Urine albumin/creatinine ratio") == 1, card["detail"]
    assert "Cannot place on the KDIGO heat map" not in card["detail"]


# -- the recommendation line ------------------------------------------------------------------------------------------
def test_a_finding_with_a_recommendation_has_one_line_on_its_card_and_its_page(xclient, monkeypatch):
    engine = find_engine("pce-2013")
    recommendation = Recommendation(text="Start a moderate-intensity statin",
                                    guideline="2018 AHA/ACC cholesterol guideline", strength="Class I")
    original = type(engine).evaluate
    monkeypatch.setattr(type(engine), "evaluate", lambda self, features: [
        replace(f, recommendation=recommendation) if f.computed else f for f in original(self, features)])
    cards = cards_of(xclient, "cardiovascular-risk", risk_record())
    [card] = [c for c in cards if "Pooled Cohort Equations" in c["summary"]]
    line = ("**Recommendation:** start a moderate-intensity statin — 2018 AHA/ACC cholesterol guideline, Class I")
    assert line in card["detail"].splitlines()
    page = page_of(xclient, card)
    assert "Start a moderate-intensity statin" in page and "2018 AHA/ACC cholesterol guideline, Class I" in page
