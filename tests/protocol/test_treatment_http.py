"""Every treatment rule through the patient-view hook, as an EHR calls it: the record as FHIR R4 resources, the
prefetch the service declares (cds_hooks.evaluate.hook_request_from_resources), each response validated against the
CDS Hooks 2.0.1 response schema (tests/conftest.CheckedClient), each proposed resource against FHIR R4
(fhir.resources), and the recommendation with its guideline and class or grade on the card."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from cds_hooks.declaration import SERVICES
from cds_hooks.evaluate import hook_request_from_resources
from cds_hooks.services import load_all
from tests.conftest import TEST_AS_OF
from tests.proposal_resources import validated
from tests.protocol.test_card_budget import all_engine_ids, budget_problems

load_all()
PATIENT = "treat-1"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
AS_OF = date.fromisoformat(TEST_AS_OF)
_ids = iter(range(1, 10_000))


# -- the record, as FHIR R4 resources ----------------------------------------------------------------------------------
def patient(age: int, gender: str) -> dict:
    born = date(AS_OF.year - age, 1, 15)
    return {"resourceType": "Patient", "id": PATIENT, "gender": gender, "birthDate": born.isoformat(),
            "extension": [{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
                           "extension": [{"url": "ombCategory", "valueCoding": {
                               "system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3", "display": "White"}}]}]}


def when(days_ago: int) -> str:
    return f"{(AS_OF - timedelta(days=days_ago)).isoformat()}T09:00:00Z"


def lab(code: str, value: float, unit: str, days_ago: int = 20) -> dict:
    return {"resourceType": "Observation", "id": f"obs-{next(_ids)}", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]}, "subject": {"reference": f"Patient/{PATIENT}"},
            "effectiveDateTime": when(days_ago),
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}


def bp(sbp: float, dbp: float, days_ago: int = 20) -> dict:
    component = [{"code": {"coding": [{"system": LOINC, "code": code}]},
                  "valueQuantity": {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}}
                 for code, value in (("8480-6", sbp), ("8462-4", dbp))]
    return {"resourceType": "Observation", "id": f"bp-{next(_ids)}", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "85354-9"}]}, "subject": {"reference": f"Patient/{PATIENT}"},
            "effectiveDateTime": when(days_ago), "component": component}


def smoking(snomed: str = "449868002", display: str = "Smokes tobacco daily") -> dict:
    return {"resourceType": "Observation", "id": f"smk-{next(_ids)}", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "72166-2"}]}, "subject": {"reference": f"Patient/{PATIENT}"},
            "effectiveDateTime": when(20), "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": snomed,
                                                                                "display": display}]}}


def condition(system: str, code: str, display: str) -> dict:
    return {"resourceType": "Condition", "id": f"cond-{next(_ids)}", "subject": {"reference": f"Patient/{PATIENT}"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                               "code": "confirmed"}]},
            "code": {"coding": [{"system": system, "code": code, "display": display}]}, "onsetDateTime": "2019-03-01"}


def medication(code: str, display: str, per_day: int | None = None) -> dict:
    resource = {"resourceType": "MedicationRequest", "id": f"rx-{next(_ids)}", "status": "active", "intent": "order",
                "subject": {"reference": f"Patient/{PATIENT}"}, "authoredOn": "2025-06-01",
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": display}]}}
    if per_day:
        resource["dosageInstruction"] = [{"timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                                          "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}]
    return resource


def allergy(code: str, display: str) -> dict:
    return {"resourceType": "AllergyIntolerance", "id": f"alg-{next(_ids)}", "patient": {"reference": f"Patient/{PATIENT}"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": RXNORM, "code": code, "display": display}]}}


DIABETES = condition(SNOMED, "44054006", "Diabetes mellitus type 2")
HYPERTENSION = condition(SNOMED, "38341003", "Hypertensive disorder")
AF = condition(SNOMED, "49436004", "Atrial fibrillation")
ASCVD = condition(SNOMED, "22298006", "Myocardial infarction")
OBESITY = condition(SNOMED, "414916001", "Obesity")


def lipids(tc=230, hdl=42, ldl=150) -> list[dict]:
    return [lab("2093-3", tc, "mg/dL"), lab("2085-9", hdl, "mg/dL"), lab("13457-7", ldl, "mg/dL")]


# -- the hook --------------------------------------------------------------------------------------------------------
def cards(client, service_id: str, resources: list[dict]) -> list[dict]:
    body = hook_request_from_resources(resources, SERVICES.get(service_id))
    resp = client.post(f"/cds-services/{service_id}", data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]  # schema-valid: CheckedClient checked it
    found = resp.get_json()["cards"]
    for c in found:  # every card within the card budget (8 lines, 700 characters, clinical precision, no ids)
        assert not budget_problems(c, all_engine_ids()), (c["summary"], budget_problems(c, all_engine_ids()))
    return found


def card(found: list[dict], words: str) -> dict:
    matches = [c for c in found if words in c["summary"]]
    assert len(matches) == 1, [c["summary"] for c in found]
    return matches[0]


def resources_of(c: dict) -> list[dict]:
    """Every resource the card's suggestions create, each validated as FHIR R4."""
    out = []
    for suggestion in c.get("suggestions", []):
        for action in suggestion["actions"]:
            assert action["type"] == "create" and action["description"]
            validated(action["resource"])
            out.append(action["resource"])
    return out


def rxnorm(c: dict) -> list[str]:
    return [r["medicationCodeableConcept"]["coding"][0]["code"] for r in resources_of(c)
            if r["resourceType"] == "MedicationRequest"]


def assert_actionable(c: dict) -> None:
    """A card with a suggestion offers override reasons, each with a display, and links its guideline."""
    assert c["overrideReasons"] and all(r["display"] for r in c["overrideReasons"])
    assert c["selectionBehavior"] in ("any", "at-most-one")
    for r in resources_of(c):
        assert r["subject"] == {"reference": f"Patient/{PATIENT}"}
        if r["resourceType"] in ("MedicationRequest", "ServiceRequest"):
            assert (r["status"], r["intent"]) == ("draft", "proposal")


# -- statin --------------------------------------------------------------------------------------------------------------
def test_statin_on_the_card_of_the_pce_risk_it_follows_from(client):
    found = cards(client, "cardiovascular-risk",
                  [patient(60, "male"), *lipids(), bp(138, 82), bp(136, 80, 60), smoking("8517006", "Ex-smoker")])
    pce = card(found, "10-year ASCVD risk (Pooled Cohort Equations)")
    assert "(intermediate) → start a moderate-intensity statin" in pce["summary"] and len(pce["summary"]) < 140
    assert pce["indicator"] == "warning"
    assert ("**Recommendation:** start a moderate-intensity statin — 2018 AHA/ACC cholesterol guideline, Class I, "
            "LOE A" in pce["detail"])
    assert pce["selectionBehavior"] == "at-most-one"
    assert rxnorm(pce) == ["617310", "617312", "859747"]
    assert [s.get("isRecommended", False) for s in pce["suggestions"]] == [True, False, False]
    assert {link["label"] for link in pce["links"]} >= {"2018 AHA/ACC cholesterol guideline",
                                                       "How this was calculated"}
    assert_actionable(pce)
    assert not any(c["summary"].startswith("Statin therapy") for c in found)  # one card per topic


def test_statin_in_clinical_ascvd_is_a_card_of_its_own(client):
    found = cards(client, "cardiovascular-risk", [patient(60, "male"), *lipids(), bp(128, 78), ASCVD])
    statin = card(found, "Statin therapy")
    assert "clinical ASCVD, age 60 → high-intensity statin (Class I, LOE A)" in statin["summary"]
    assert statin["source"]["label"] == "Grundy 2019 (2018 AHA/ACC cholesterol guideline)"
    assert rxnorm(statin) == ["617311", "259255", "859751"]
    assert_actionable(statin)


def test_a_statin_allergy_stops_the_statin_suggestion(client):
    found = cards(client, "cardiovascular-risk", [patient(60, "male"), *lipids(), bp(128, 78), ASCVD,
                                                  allergy("83367", "atorvastatin")])
    assert not any("statin" in c["summary"].lower() for c in found)


def test_an_adequate_statin_is_shown_without_a_suggestion(client):
    found = cards(client, "cardiovascular-risk", [patient(60, "male"), *lipids(), bp(128, 78), ASCVD,
                                                  medication("617311", "atorvastatin 40 MG Oral Tablet", 1)])
    statin = card(found, "Statin therapy")
    assert "on a high-intensity statin" in statin["summary"] and "suggestions" not in statin


# -- blood pressure ------------------------------------------------------------------------------------------------------
def test_bp_drug_therapy_at_stage_2(client):
    found = cards(client, "cardiovascular-risk",
                  [patient(50, "female"), *lipids(tc=180, hdl=60, ldl=100), HYPERTENSION, bp(152, 96), bp(148, 94, 40)])
    therapy = card(found, "Blood-pressure drug therapy")
    assert "average 150/95 mmHg (stage 2, 2 occasions) → start BP-lowering medication" in therapy["summary"]
    assert "Class I, LOE C-LD" in therapy["summary"]
    assert therapy["selectionBehavior"] == "at-most-one"
    assert rxnorm(therapy) == ["197499", "197361", "314076", "979492"]
    assert_actionable(therapy)


def test_no_bp_drug_therapy_at_stage_1_and_low_risk(client):
    found = cards(client, "cardiovascular-risk",
                  [patient(45, "female"), *lipids(tc=180, hdl=60, ldl=100), HYPERTENSION, bp(132, 78), bp(134, 80, 40)])
    assert not any(c["summary"].startswith("Blood-pressure drug therapy") for c in found)


# -- tobacco ---------------------------------------------------------------------------------------------------------------
def test_tobacco_cessation_for_a_current_smoker(client):
    found = cards(client, "cardiovascular-risk", [patient(45, "male"), *lipids(), bp(128, 78), smoking()])
    quit_card = card(found, "Tobacco cessation")
    assert "(USPSTF grade A)" in quit_card["summary"]
    assert quit_card["selectionBehavior"] == "at-most-one"
    labels = [s["label"] for s in quit_card["suggestions"]]
    assert labels == ["Varenicline 1 mg twice daily for 12 weeks", "Nicotine patch 21 mg/24 h",
                      "Bupropion SR 150 mg twice daily", "Refer for tobacco cessation counselling only"]
    kinds = [[a["resource"]["resourceType"] for a in s["actions"]] for s in quit_card["suggestions"]]
    assert kinds[0] == ["MedicationRequest", "ServiceRequest"] and kinds[-1] == ["ServiceRequest"]
    assert rxnorm(quit_card) == ["636676", "198030", "993518"]
    assert_actionable(quit_card)


# -- atrial fibrillation ---------------------------------------------------------------------------------------------------
AF_RECORD = [patient(72, "female"), AF, HYPERTENSION, lab("2160-0", 0.9, "mg/dL"), lab("29463-7", 70, "kg")]


def test_anticoagulation_on_the_cha2ds2_vasc_card(client):
    found = cards(client, "risk-scores", AF_RECORD)
    score = card(found, "Stroke risk in atrial fibrillation (CHA2DS2-VASc): 3 points (high)")
    assert "→ start an oral anticoagulant (a DOAC) (Class 1, LOE A)" in score["summary"]
    assert "**Also:** Major bleeding risk in atrial fibrillation (HAS-BLED)" in score["detail"]
    assert not any(c["summary"].startswith("Major bleeding risk") for c in found)  # one card for AF
    assert score["selectionBehavior"] == "at-most-one"
    assert rxnorm(score) == ["1364445", "1232086", "1599555", "1037045"]  # apixaban, rivaroxaban, edoxaban, dabigatran
    assert score["suggestions"][0].get("isRecommended") is True
    assert_actionable(score)


def test_doac_doses_are_judged_by_cockcroft_gault_crcl_not_egfr(client):
    """85 years, 50 kg, creatinine 0.9 mg/dL: her eGFR (CKD-EPI 2021) is 63, but the labels dose by creatinine
    clearance, (140 - 85) x 50 / (72 x 0.9) x 0.85 = 36 mL/min: no rivaroxaban 20 mg or edoxaban 60 mg; apixaban
    2.5 mg (age >= 80 and weight <= 60 kg) and dabigatran 150 mg (CrCl > 30)."""
    record = [patient(85, "female"), AF, HYPERTENSION, lab("2160-0", 0.9, "mg/dL"), lab("29463-7", 50, "kg")]
    score = card(cards(client, "risk-scores", record), "CHA2DS2-VASc")
    assert rxnorm(score) == ["1364435", "1037045"]  # apixaban 2.5 mg, dabigatran 150 mg
    creatinine, weight = record[3]["id"], record[4]["id"]
    for suggestion in score["suggestions"]:  # the CrCl's inputs are the evidence of each option
        reasons = [r["reference"] for r in suggestion["actions"][0]["resource"]["reasonReference"]]
        assert {f"Observation/{creatinine}", f"Observation/{weight}"} <= set(reasons)
    assert_actionable(score)
    [explainer] = [link["url"] for link in score["links"] if link["label"] == "How this was calculated"]
    page = client.raw().get(explainer.removeprefix("http://localhost")).get_data(as_text=True)
    assert "rivaroxaban-20: CrCl 36 mL/min outside its standard-dose range" in page
    assert "edoxaban-60: CrCl 36 mL/min outside its standard-dose range" in page
    assert "CrCl 36 mL/min (Cockcroft–Gault, " in page


def test_already_anticoagulated_no_suggestion(client):
    found = cards(client, "risk-scores", [*AF_RECORD, medication("1364445", "apixaban 5 MG Oral Tablet", 2)])
    score = card(found, "CHA2DS2-VASc")
    assert "→ continue oral anticoagulation" in score["summary"] and "suggestions" not in score


def test_warfarin_with_a_mechanical_valve(client):
    found = cards(client, "risk-scores", [*AF_RECORD, condition(ICD10CM, "Z95.2", "Presence of prosthetic heart valve")])
    score = card(found, "CHA2DS2-VASc")
    assert rxnorm(score) == ["855332"] and "warfarin, not a DOAC" in score["summary"]


# -- type 2 diabetes with CKD ---------------------------------------------------------------------------------------------
def test_kidney_protective_therapy_in_type_2_diabetes_with_ckd(client):
    found = cards(client, "risk-scores",
                  [patient(64, "male"), DIABETES, HYPERTENSION, lab("33914-3", 40, "mL/min/{1.73_m2}"),
                   lab("33914-3", 43, "mL/min/{1.73_m2}", days_ago=140),  # CKD: eGFR < 60 for 120 days
                   lab("2160-0", 1.8, "mg/dL"), lab("9318-7", 120, "mg/g"),
                   medication("861004", "metformin hydrochloride 1000 MG Oral Tablet", 2)])
    ckd = [c for c in found if "→" in c["summary"] and "SGLT2" in c["summary"]]
    assert len(ckd) == 1, [c["summary"] for c in found]
    ckd = ckd[0]
    assert ("**Recommendation:** start an SGLT2 inhibitor — KDIGO 2022 diabetes-in-CKD guideline, KDIGO 1A; ADA grade A"
            in ckd["detail"])
    assert "**Recommendation:** review the metformin dose" in ckd["detail"]
    # Three independent therapies on one card: each its preferred agent, any of them may be accepted.
    assert ckd["selectionBehavior"] == "any"
    labels = [s["label"] for s in ckd["suggestions"]]
    assert "Start an SGLT2 inhibitor: Empagliflozin 10 mg daily" in labels
    assert "Start an ACE inhibitor or ARB: Lisinopril 10 mg daily" in labels
    assert "1545658" in rxnorm(ckd) and "314076" in rxnorm(ckd)
    assert_actionable(ckd)


@pytest.mark.parametrize("egfr, shown", [(19.6, "20"), (29.5, "30")])
def test_the_egfr_the_kidney_therapy_rule_compares_is_the_one_its_card_shows(client, egfr, shown):
    """Rounded half up to a whole number before any threshold, as at order-sign: eGFR 19.6 is 20 (an SGLT2 inhibitor
    is started), 29.5 is 30 (metformin is reviewed, not stopped), and the card says 20 and 30."""
    found = cards(client, "risk-scores",
                  [patient(64, "male"), DIABETES, HYPERTENSION, lab("33914-3", egfr, "mL/min/{1.73_m2}"),
                   lab("33914-3", 35, "mL/min/{1.73_m2}", days_ago=140), lab("9318-7", 120, "mg/g"),
                   medication("861007", "metformin hydrochloride 500 MG Oral Tablet", 1)])
    ckd = card(found, "SGLT2")
    assert "start an SGLT2 inhibitor" in ckd["detail"] and f"eGFR {shown} (>= 20)" in ckd["detail"]
    if shown == "30":
        assert "review the metformin dose" in ckd["detail"] and "Stop metformin" not in ckd["detail"]
        assert f"at eGFR {shown} (30-< 45)" in ckd["detail"]
    else:
        assert f"eGFR {shown} mL/min/1.73m2" in ckd["detail"]


def metformin_statement() -> dict:
    """Metformin as the patient reports it (a MedicationStatement, as many EHRs record home medications)."""
    return {"resourceType": "MedicationStatement", "id": f"ms-{next(_ids)}", "status": "active",
            "subject": {"reference": f"Patient/{PATIENT}"}, "effectiveDateTime": "2024-09-01",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "861007",
                                                      "display": "metformin hydrochloride 500 MG Oral Tablet"}]}}


def one_low_egfr_record(*extra: dict) -> list[dict]:
    """Type 2 diabetes (SNOMED), metformin in a MedicationStatement, SI units (creatinine in umol/L) and one eGFR, 59."""
    return [patient(62, "female"), DIABETES, metformin_statement(), lab("33914-3", 59, "mL/min/{1.73_m2}"),
            lab("2160-0", 92, "umol/L"), *extra]


def test_one_egfr_below_60_the_ckd_cards_of_both_services_agree(client):
    """The diagnosis card says CKD is not yet shown to persist > 90 days (KDIGO); the risk-scores service, given the
    same record, proposes no drug for CKD and says why on the explainer page rather than 'T2D, eGFR 59 -> SGLT2
    inhibitor'."""
    gaps = cards(client, "diagnosis-gaps", one_low_egfr_record())
    ckd = card(gaps, "Possible chronic kidney disease")
    assert "needs > 90 days" in ckd["summary"]
    risk = cards(client, "risk-scores", one_low_egfr_record())
    assert not [c for c in risk if "SGLT2" in c["summary"] or "SGLT2" in c.get("detail", "")], \
        [c["summary"] for c in risk]
    assert not [s for c in risk for s in c.get("suggestions", ()) if "SGLT2" in s["label"]]


def test_ckd_established_the_two_services_agree_too(client):
    """eGFR < 60 for 120 days: the diagnosis card offers to add CKD to the problem list, and the SGLT2 inhibitor is
    proposed; with CKD on the problem list the diagnosis card stays silent and the SGLT2 inhibitor is still proposed."""
    earlier = lab("33914-3", 57, "mL/min/{1.73_m2}", days_ago=140)
    gaps = cards(client, "diagnosis-gaps", one_low_egfr_record(earlier))
    assert "KDIGO criteria met" in card(gaps, "chronic kidney disease")["summary"] + \
        card(gaps, "chronic kidney disease").get("detail", "")
    assert "T2D, eGFR 59 → SGLT2 inhibitor" in card(cards(client, "risk-scores", one_low_egfr_record(earlier)),
                                                    "SGLT2")["summary"]
    listed = condition(SNOMED, "433144002", "Chronic kidney disease stage 3")
    assert not [c for c in cards(client, "diagnosis-gaps", one_low_egfr_record(listed)) if "kidney" in c["summary"]]
    assert "SGLT2" in card(cards(client, "risk-scores", one_low_egfr_record(listed)), "SGLT2")["summary"]


def uacr(value: float, days_ago: int = 20) -> dict:
    return lab("9318-7", value, "mg/g", days_ago)


def ckd_presented(found: list[dict]) -> list[str]:
    """Risk-scores cards that present CKD as established: a KDIGO CKD stage or heat-map risk, a kidney-failure risk."""
    return [c["summary"] for c in found
            if any(words in c["summary"] + c.get("detail", "") for words in (
                "CKD stage", "KDIGO 2012 GFR and albuminuria", "Kidney failure risk", "KFRE", "G3a A", "heat map"))]


@pytest.mark.parametrize("acr", [None, 10, 120])
def test_one_egfr_below_60_no_risk_scores_card_stages_ckd_or_scores_kidney_failure(client, acr):
    """The same record to both services: the diagnosis card says CKD needs > 90 days (KDIGO 2024 definition) and asks
    for the repeat eGFR, and for the UACR (or its repeat) unless a normal one is recorded; the risk-scores service
    presents no KDIGO stage and no KFRE (validated in CKD G3-G5, Tangri 2016), nor asks for a UACR to compute them -
    no card, no "data needed" line."""
    record = one_low_egfr_record(*([uacr(acr)] if acr else []))
    gaps = card(cards(client, "diagnosis-gaps", record), "Possible chronic kidney disease")
    assert "needs > 90 days" in gaps["summary"]
    asked = [s["label"] for s in gaps["suggestions"]]
    assert "Repeat serum creatinine / eGFR after 3 months" in asked
    assert any("albumin-to-creatinine" in label for label in asked) is (acr != 10)
    risk = cards(client, "risk-scores", record)
    assert not ckd_presented(risk), ckd_presented(risk)
    assert not [c for c in risk if "Urine albumin" in c["summary"] + c.get("detail", "")], [c["summary"] for c in risk]


@pytest.mark.parametrize("established_by", ["egfr-120-days", "ckd-condition"])
def test_established_ckd_the_kfre_and_the_stage_are_presented(client, established_by):
    """eGFR < 60 for 120 days: the diagnosis card has the stage ("KDIGO criteria met") and the risk-scores card the
    KFRE; with CKD on the problem list, the risk-scores card stages it too. Each says how CKD is established."""
    extra = (lab("33914-3", 57, "mL/min/{1.73_m2}", days_ago=140) if established_by == "egfr-120-days" else
             condition(SNOMED, "433144002", "Chronic kidney disease stage 3"))
    risk = cards(client, "risk-scores", one_low_egfr_record(extra, uacr(120)))
    kidney = card(risk, "SGLT2")
    assert "Kidney failure risk (KFRE, 4-variable): 0.6 % (low)" in kidney["summary"] + kidney["detail"]
    assert "Observation/" not in kidney["detail"] and "Condition/" not in kidney["detail"]
    if established_by == "egfr-120-days":
        assert "CKD established: eGFR abnormal for 120 days (> 3 months, KDIGO 2024 definition)" in kidney["detail"]
        gaps = cards(client, "diagnosis-gaps", one_low_egfr_record(extra, uacr(120)))
        assert "G3a A2: eGFR abnormal for 120 days (KDIGO criteria met, high risk)" in card(gaps, "chronic kidney")["summary"]
    else:
        assert kidney["summary"].startswith("CKD stage and risk (KDIGO 2012 GFR and albuminuria categories): G3a A2 (high)")
        assert "CKD established: CKD on the problem list" in kidney["detail"]


# -- weight --------------------------------------------------------------------------------------------------------------
def test_weight_management_on_the_obesity_diagnosis_card(client):
    found = cards(client, "diagnosis-gaps", [patient(50, "female"), lab("39156-5", 33.0, "kg/m2")])
    obesity = card(found, "Possible undocumented obesity")
    assert "→ refer to a behavioural weight-loss programme (USPSTF grade B)" in obesity["summary"]
    labels = [s["label"] for s in obesity["suggestions"]]
    assert labels == ["Add 'Obesity, class 1' to the problem list (provisional)",
                      "Refer to a weight-management programme"]
    assert obesity["selectionBehavior"] == "any"
    referral = [r for r in resources_of(obesity) if r["resourceType"] == "ServiceRequest"][0]
    assert referral["code"]["coding"][0]["code"] == "408289007"
    assert_actionable(obesity)


def test_weight_management_for_listed_obesity(client):
    found = cards(client, "diagnosis-gaps", [patient(50, "female"), lab("39156-5", 33.0, "kg/m2"), OBESITY])
    weight = card(found, "Weight management")
    assert weight["indicator"] == "info" and "USPSTF grade B" in weight["summary"]
    assert_actionable(weight)


# -- discovery and prefetch follow from the declarations ------------------------------------------------------------------
def test_discovery_prefetch_asks_for_what_the_rules_read(client):
    services = {s["id"]: s for s in client.get("/cds-services").get_json()["services"]}
    cv = services["cardiovascular-risk"]["prefetch"]
    assert "allergies" in cv and "procedures" in cv  # statin allergy, dialysis
    assert "http://loinc.org|13457-7" in cv["observations"]  # LDL-C
    risk = services["risk-scores"]["prefetch"]
    assert "medications" in risk and "http://loinc.org|29463-7" in risk["observations"]  # apixaban dose: weight
    assert "statin" in services["cardiovascular-risk"]["description"]
