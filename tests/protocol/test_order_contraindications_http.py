"""A DOAC drafted for a patient with a mechanical heart valve or, in atrial fibrillation, mitral stenosis, through
order-select and order-sign as an EHR calls them: the drafted MedicationRequest in ``context.draftOrders`` with its
RxNorm product code, the valve or stenosis on the problem list in the ``conditions`` prefetch. Every response is
schema-valid and every card passes the order cards' checks (``check_cards``: budget, override reasons, valid
actions on the drafted order)."""
from __future__ import annotations

import pytest

from tests import order_requests as o
from tests.protocol.test_order_checks_http import SELECT, SIGN, about, actions, call, crcl_record

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
APIXABAN_5 = ("1364445", "apixaban 5 MG Oral Tablet", 5, 2)
DOACS = [APIXABAN_5, ("1232086", "rivaroxaban 20 MG Oral Tablet", 20, 1),
         ("1599555", "edoxaban 60 MG Oral Tablet", 60, 1), ("1037045", "dabigatran etexilate 150 MG Oral Capsule", 150, 2)]
WARFARIN_5 = ("855332", "warfarin sodium 5 MG Oral Tablet", 5, 1)


def valve(code: str = "Z95.2", display: str = "Presence of mechanical prosthetic heart valve") -> dict:
    condition = o.condition("valve-1", code, display, onset="2019-03-04")
    condition["code"]["coding"][0]["system"] = ICD10CM
    return condition


def drafted(drug: tuple, did: str = "d1", **kwargs) -> dict:
    code, display, amount, per_day = drug
    return o.draft(did, code, display, amount=amount, per_day=per_day, **kwargs)


def valve_cards(cards: list[dict]) -> list[dict]:
    return about(cards, "mechanical heart valve")


# A record where the renal checks have what they need (CrCl 80 mL/min, 72 kg) and say nothing.
KIDNEYS_FINE = crcl_record(80)


@pytest.mark.parametrize("service", [SELECT, SIGN])
@pytest.mark.parametrize("drug", DOACS, ids=lambda d: d[1].split()[0])
def test_a_doac_drafted_with_a_mechanical_valve_is_a_critical_card_offering_warfarin(client, service, drug):
    cards = call(client, service, [drafted(drug)], record=[*KIDNEYS_FINE, valve(), o.atrial_fibrillation()])
    (card,) = valve_cards(cards)
    ingredient = drug[1].split()[0]
    assert card["indicator"] == "critical"
    level = "B-R" if ingredient == "dabigatran" else "C-EO"
    assert card["summary"] == f"{ingredient.capitalize()} with mechanical heart valve: contraindicated (Class 3: Harm, LOE {level})"
    assert len(card["summary"]) < 140 and "heparin bridging" in card["detail"]
    assert "ICD-10-CM Z95.2" in card["detail"] and "2019-03-04" in card["detail"] and "use warfarin" in card["detail"]
    assert card["source"]["label"].startswith("2020 ACC/AHA valvular heart disease guideline")
    assert card["selectionBehavior"] == "at-most-one" and card["overrideReasons"]
    assert [a["resourceId"] for a in actions(card, "delete")] == ["MedicationRequest/d1", "MedicationRequest/d1"]
    (started,) = actions(card, "create")
    assert started["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "855332"
    assert started["resource"]["status"] == "draft" and started["resource"]["intent"] == "proposal"
    recommended = [s for s in card["suggestions"] if s.get("isRecommended")]
    assert len(recommended) == 1 and "warfarin" in recommended[0]["label"]


def test_a_prosthetic_valve_of_uncoded_type_is_a_warning_to_confirm_it(client):
    record = [*KIDNEYS_FINE, valve("Z95.2", "Presence of prosthetic heart valve"), o.atrial_fibrillation()]
    (card,) = about(call(client, SIGN, [drafted(DOACS[3])], record=record), "prosthetic heart valve (type not coded)")
    assert card["indicator"] == "warning"
    assert card["summary"] == ("Dabigatran with prosthetic heart valve (type not coded): confirm the valve type "
                               "(Class 3: Harm if mechanical)")
    assert "confirm the valve type; a bioprosthetic valve allows a DOAC" in card["detail"]


def test_warfarin_a_bioprosthetic_valve_and_an_entered_in_error_valve_give_no_card(client):
    record = [*KIDNEYS_FINE, o.atrial_fibrillation()]
    assert valve_cards(call(client, SIGN, [drafted(WARFARIN_5)], record=[*record, valve()])) == []
    assert call(client, SIGN, [drafted(APIXABAN_5)], record=[*record, valve("Z95.3", "Presence of xenogenic heart valve")]) == []
    in_error = valve()
    in_error["verificationStatus"]["coding"][0]["code"] = "entered-in-error"
    assert call(client, SIGN, [drafted(APIXABAN_5)], record=[*record, in_error]) == []


def test_a_resolved_valve_entry_still_counts(client):
    resolved = valve()
    resolved["clinicalStatus"]["coding"][0]["code"] = "resolved"
    cards = call(client, SIGN, [drafted(APIXABAN_5)], record=[*KIDNEYS_FINE, resolved])
    assert [c["indicator"] for c in valve_cards(cards)] == ["critical"]


def test_mitral_stenosis_in_atrial_fibrillation_is_a_warning_and_not_for_another_indication(client):
    stenosis = valve("I05.0", "Rheumatic mitral stenosis")
    stenosis["id"] = "ms-1"
    af = ("49436004", "Atrial fibrillation")
    cards = about(call(client, SIGN, [drafted(APIXABAN_5, reason=af)], record=[*KIDNEYS_FINE, stenosis]),
                  "mitral stenosis")
    (card,) = cards
    assert card["indicator"] == "warning" and "warfarin recommended over a DOAC" in card["summary"]
    assert "moderate or severe" in card["detail"]
    dvt = ("128053003", "Deep venous thrombosis")
    assert call(client, SIGN, [drafted(APIXABAN_5, reason=dvt)], record=[*KIDNEYS_FINE, stenosis]) == []


def test_a_snomed_coded_mitral_stenosis_of_uncoded_type_is_a_warning_to_confirm_it(client):
    stenosis = o.condition("ms-1", "79619009", "Mitral valve stenosis", onset="2018-05-06")
    record = [*KIDNEYS_FINE, stenosis, o.atrial_fibrillation()]
    (card,) = about(call(client, SIGN, [drafted(APIXABAN_5)], record=record), "mitral stenosis of uncoded type")
    assert card["indicator"] == "warning"
    assert card["summary"] == ("Apixaban with mitral stenosis of uncoded type: confirm the type and severity "
                               "(Class 1, LOE B-R if rheumatic, moderate or severe)")
    assert len(card["summary"]) < 140 and "SNOMED 79619009" in card["detail"]
    assert ("if rheumatic and moderate or severe, warfarin is recommended over a DOAC (2023 ACC/AHA/ACCP/HRS AF)"
            in card["detail"])
    assert card["selectionBehavior"] == "at-most-one" and card["overrideReasons"]
    assert [a["resourceId"] for a in actions(card, "delete")] == ["MedicationRequest/d1", "MedicationRequest/d1"]
    (started,) = actions(card, "create")
    assert started["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "855332"


def test_order_select_checks_the_selected_doac_and_order_sign_does_not_repeat_it(client):
    drafts = [drafted(WARFARIN_5, "d1"), drafted(APIXABAN_5, "d2")]
    record = [*KIDNEYS_FINE, valve()]
    assert valve_cards(call(client, SELECT, drafts, selections=["MedicationRequest/d1"], record=record)) == []
    (card,) = valve_cards(call(client, SELECT, drafts, selections=["MedicationRequest/d2"], record=record))
    assert {a["resourceId"] for a in actions(card, "delete")} == {"MedicationRequest/d2"}
    assert valve_cards(call(client, SIGN, drafts, record=record)) == []  # shown at selection already


def test_the_card_links_to_a_page_with_the_valve_the_draft_and_the_citation(client):
    (card,) = valve_cards(call(client, SIGN, [drafted(APIXABAN_5)], record=[*KIDNEYS_FINE, valve()]))
    (link,) = card["links"]
    page = client.raw().get(link["url"].removeprefix("http://localhost"))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Condition/valve-1" in text and "apixaban 5 MG Oral Tablet" in text
    assert "RE-ALIGN" in text and "Class 3: Harm" in text


def test_the_order_services_read_the_problem_list_the_check_needs(client):
    services = {s["id"]: s for s in client.get("/cds-services").get_json()["services"]}
    for service_id in (SELECT, SIGN):
        assert services[service_id]["prefetch"]["conditions"] == "Condition?patient={{context.patientId}}"
        assert "mechanical heart valve" in services[service_id]["description"]
