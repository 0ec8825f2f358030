"""order-select and order-sign through the HTTP hook, as an EHR calls them: every order-time check with its positive
and negative cases and the boundaries of its thresholds, every response schema-valid (CheckedClient), every action a
valid CDS Hooks action on the drafted order and every proposed resource valid FHIR R4 (fhir.resources)."""
from __future__ import annotations

import pytest

from tests import order_requests as o
from tests.proposal_resources import validated
from tests.protocol.test_card_budget import all_engine_ids, budget_problems

SELECT, SIGN = "order-select-safety", "order-sign-safety"
HOOK = {SELECT: "order-select", SIGN: "order-sign"}
# Born 1946-01-01: 80 on the test date (2026-06-01). CrCl = (140 - 80) x 72 / (72 x creatinine) = 60 / creatinine.
DABIGATRAN_150 = ("1037045", "dabigatran etexilate 150 MG Oral Capsule")
METFORMIN_1000 = ("861004", "metformin hydrochloride 1000 MG Oral Tablet")


def crcl_record(crcl: float, *extra) -> list[dict]:
    """A male of 80 weighing 72 kg with the creatinine that gives this Cockcroft-Gault CrCl."""
    return [o.creatinine(round(60 / crcl, 6)), o.weight(72), *extra]


def call(client, service: str, drafts: list[dict], **kwargs) -> list[dict]:
    body = o.order_request(HOOK[service], drafts, **kwargs)
    resp = client.post(f"/cds-services/{service}", json=body)
    assert resp.status_code == 200, resp.get_json()
    cards = resp.get_json()["cards"]
    check_cards(cards, body)
    return cards


def check_cards(cards: list[dict], body: dict) -> None:
    """What every order card must be: within the card budget, actionable cards with override reasons, updates that
    send the whole drafted order with its id, deletes that name a drafted order, every resource valid FHIR R4."""
    drafted = {f"{e['resource']['resourceType']}/{e['resource']['id']}"
               for e in body["context"]["draftOrders"]["entry"]}
    for card in cards:
        assert not budget_problems(card, all_engine_ids()), (card["summary"], budget_problems(card, all_engine_ids()))
        if "suggestions" not in card:
            continue
        assert card["overrideReasons"] and all(r["display"] for r in card["overrideReasons"])
        for suggestion in card["suggestions"]:
            for action in suggestion["actions"]:
                assert action["description"]
                if action["type"] in ("update", "delete"):
                    assert action["resourceId"] in drafted
                if action["type"] == "update":
                    assert f"{action['resource']['resourceType']}/{action['resource']['id']}" == action["resourceId"]
                if "resource" in action:
                    model = validated(action["resource"])
                    assert model.subject.reference == f"Patient/{o.PATIENT_ID}"


def about(cards: list[dict], word: str) -> list[dict]:
    return [c for c in cards if word.lower() in c["summary"].lower()]


def actions(card: dict, kind: str) -> list[dict]:
    return [a for s in card.get("suggestions", []) for a in s["actions"] if a["type"] == kind]


def dose_of(resource: dict) -> tuple[float, int]:
    dosage = resource["dosageInstruction"][0]
    return dosage["doseAndRate"][0]["doseQuantity"]["value"], dosage["timing"]["repeat"]["frequency"]


# -- discovery and request validation ---------------------------------------------------------------------------------
def test_both_order_services_are_discoverable_with_their_hooks_and_prefetch(client):
    services = {s["id"]: s for s in client.get("/cds-services").get_json()["services"]}
    assert services[SELECT]["hook"] == "order-select" and services[SIGN]["hook"] == "order-sign"
    for service_id in (SELECT, SIGN):
        prefetch = services[service_id]["prefetch"]
        assert {"patient", "observations", "conditions", "medications", "allergies"} <= set(prefetch)
        assert "http://loinc.org|2160-0" in prefetch["observations"]  # creatinine
        assert "http://loinc.org|29463-7" in prefetch["observations"]  # weight, for Cockcroft-Gault
        assert prefetch["medications"].startswith("MedicationRequest?patient={{context.patientId}}&status=active")


def _bad(client, service, body) -> dict:
    resp = client.post(f"/cds-services/{service}", json=body)
    assert resp.status_code == 400, resp.get_json()
    return resp.get_json()


def test_a_selection_that_names_no_drafted_order_is_refused(client):
    body = o.order_request("order-select", [o.draft("d1", *DABIGATRAN_150, amount=150, per_day=2)],
                           selections=["MedicationRequest/d1", "MedicationRequest/elsewhere"])
    outcome = _bad(client, SELECT, body)
    assert [i["expression"] for i in outcome["issue"]] == [["context.selections[1]"]]
    assert "draftOrders" in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize("change", ["no-selections", "selections-empty", "selection-not-a-reference",
                                    "draft-orders-not-a-bundle", "draft-without-id", "entry-without-resource"])
def test_malformed_order_select_contexts_are_refused_with_an_operation_outcome(client, change):
    body = o.order_request("order-select", [o.draft("d1", *DABIGATRAN_150, amount=150, per_day=2)])
    context = body["context"]
    if change == "no-selections":
        del context["selections"]
    elif change == "selections-empty":
        context["selections"] = []
    elif change == "selection-not-a-reference":
        context["selections"] = ["d1"]
    elif change == "draft-orders-not-a-bundle":
        context["draftOrders"] = context["draftOrders"]["entry"][0]["resource"]
    elif change == "draft-without-id":
        del context["draftOrders"]["entry"][0]["resource"]["id"]
    else:
        context["draftOrders"]["entry"] = [{"fullUrl": "urn:uuid:1"}]
    assert _bad(client, SELECT, body)["resourceType"] == "OperationOutcome"


def test_order_sign_needs_draft_orders(client):
    body = o.order_request("order-sign", [])
    del body["context"]["draftOrders"]
    assert any(i["expression"] == ["context.draftOrders"] for i in _bad(client, SIGN, body)["issue"])


def test_no_drafts_and_unknown_drugs_give_no_cards(client):
    assert call(client, SIGN, [], record=crcl_record(20)) == []
    unknown = o.draft("d1", "999999999", "an unknown remedy 5 MG Oral Tablet", amount=5)
    assert call(client, SIGN, [unknown], record=crcl_record(20)) == []


# -- renal dosing: metformin by eGFR ---------------------------------------------------------------------------------
@pytest.mark.parametrize("egfr, severity", [(29, "critical"), (30, "warning"), (44, "warning"), (45, None)])
def test_starting_metformin_by_egfr_boundaries(client, egfr, severity):
    drafted = o.draft("d1", *METFORMIN_1000, amount=1000, per_day=2)
    cards = about(call(client, SIGN, [drafted], record=[o.egfr(egfr)]), "metformin")
    if severity is None:
        assert cards == []
        return
    (card,) = cards
    assert card["indicator"] == severity
    assert f"eGFR {egfr} mL/min/1.73m2" in card["summary"]
    assert f"eGFR {egfr} mL/min/1.73m2 (reported, 2026-05-02)" in card["detail"]
    assert actions(card, "delete")[0]["resourceId"] == "MedicationRequest/d1"
    if egfr < 30:  # contraindicated: cancel, or cancel and start linagliptin (one choice)
        assert card["selectionBehavior"] == "at-most-one"
        (created,) = actions(card, "create")
        assert created["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "1100702"
        assert created["resource"]["status"] == "draft" and created["resource"]["intent"] == "proposal"
        assert "contraindicated" in card["summary"]
    else:
        assert "do not start" in card["summary"]


def test_continuing_metformin_at_egfr_30_to_44_is_reduced_to_1000_mg_a_day(client):
    active = o.medication("m1", *METFORMIN_1000, amount=1000, per_day=2)
    renewal = o.draft("d1", *METFORMIN_1000, amount=1000, per_day=2)
    (card,) = about(call(client, SIGN, [renewal], record=[o.egfr(38), active]), "kidney function")
    (update,) = actions(card, "update")
    assert dose_of(update["resource"]) == (500.0, 2)
    assert update["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "861007"  # 500 mg tablets
    assert "eGFR 38 mL/min/1.73m2" in update["description"]
    three_times = o.draft("d3", "861010", "metformin hydrochloride 850 MG Oral Tablet", amount=850, per_day=3)
    (card,) = about(call(client, SIGN, [three_times], record=[o.egfr(38), active]), "kidney function")
    assert dose_of(actions(card, "update")[0]["resource"]) == (500.0, 2)  # 1000 mg a day in two doses
    already = o.draft("d2", *METFORMIN_1000, amount=500, per_day=2)
    assert about(call(client, SIGN, [already], record=[o.egfr(38), active]), "kidney function") == []


# -- renal dosing: the DOACs, enoxaparin, nitrofurantoin, gabapentin by Cockcroft-Gault ---------------------------------
@pytest.mark.parametrize("crcl, expected", [(31, None), (30, "75"), (29, "75"), (15, "75"), (14, "avoid")])
def test_dabigatran_in_atrial_fibrillation_by_crcl_boundaries(client, crcl, expected):
    drafted = o.draft("d1", *DABIGATRAN_150, amount=150, per_day=2)
    cards = about(call(client, SIGN, [drafted], record=crcl_record(crcl, o.atrial_fibrillation())), "dabigatran")
    if expected is None:
        assert cards == []
        return
    (card,) = cards
    assert f"CrCl {crcl} mL/min (Cockcroft–Gault, 2026-05-02)" in card["detail"]
    if expected == "avoid":
        assert card["indicator"] == "critical" and actions(card, "delete")
        return
    assert card["indicator"] == "warning"
    (update,) = actions(card, "update")
    assert dose_of(update["resource"]) == (75.0, 2)
    assert update["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "1037179"
    assert update["resource"]["id"] == "d1" and update["resource"]["status"] == "draft"
    assert f"CrCl {crcl} mL/min (Cockcroft–Gault, 2026-05-02)" in update["description"]


@pytest.mark.parametrize("crcl, fires", [(30, True), (31, False)])
def test_dabigatran_for_venous_thromboembolism_is_avoided_at_crcl_30_or_less(client, crcl, fires):
    drafted = o.draft("d1", *DABIGATRAN_150, amount=150, per_day=2,
                      reason=("128053003", "Deep venous thrombosis"))
    cards = about(call(client, SIGN, [drafted], record=crcl_record(crcl, o.atrial_fibrillation())), "dabigatran")
    assert bool(cards) is fires
    if fires:
        assert cards[0]["indicator"] == "critical" and actions(cards[0], "delete")
        assert "indication taken" not in cards[0]["detail"]  # the order names its reason


@pytest.mark.parametrize("crcl, fires", [(29, True), (30, False)])
def test_nitrofurantoin_is_avoided_below_crcl_30(client, crcl, fires):
    drafted = o.draft("d1", "7454", "nitrofurantoin", amount=100, per_day=2)
    cards = about(call(client, SIGN, [drafted], record=crcl_record(crcl)), "nitrofurantoin")
    assert bool(cards) is fires
    if fires:
        assert cards[0]["source"]["label"] == "AGS Beers Criteria 2023"
        assert actions(cards[0], "delete")[0]["resourceId"] == "MedicationRequest/d1"


@pytest.mark.parametrize("crcl, amount, expected", [(50, 20, (15.0, 1)), (51, 20, None), (40, 15, None)])
def test_rivaroxaban_in_atrial_fibrillation_is_15_mg_at_crcl_50_or_less(client, crcl, amount, expected):
    code = {20: ("1232086", "rivaroxaban 20 MG Oral Tablet"), 15: ("1232082", "rivaroxaban 15 MG Oral Tablet")}[amount]
    drafted = o.draft("d1", *code, amount=amount, per_day=1, reason=("49436004", "Atrial fibrillation"))
    cards = about(call(client, SIGN, [drafted], record=crcl_record(crcl)), "rivaroxaban")
    if expected is None:
        assert cards == []
        return
    (update,) = actions(cards[0], "update")
    assert dose_of(update["resource"]) == expected
    assert update["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "1232082"


def test_edoxaban_above_crcl_95_in_atrial_fibrillation_is_replaced_by_apixaban(client):
    drafted = o.draft("d1", "1599555", "edoxaban 60 MG Oral Tablet", amount=60, per_day=1)
    assert about(call(client, SIGN, [drafted], record=crcl_record(95, o.atrial_fibrillation())), "edoxaban") == []
    (card,) = about(call(client, SIGN, [drafted], record=crcl_record(96, o.atrial_fibrillation())), "edoxaban")
    assert card["selectionBehavior"] == "at-most-one"
    switch = [s for s in card["suggestions"] if len(s["actions"]) == 2]
    assert [a["type"] for a in switch[0]["actions"]] == ["delete", "create"]
    assert switch[0]["actions"][1]["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "1364445"
    (reduce,) = about(call(client, SIGN, [drafted], record=crcl_record(40)), "edoxaban")
    assert dose_of(actions(reduce, "update")[0]["resource"]) == (30.0, 1)


@pytest.mark.parametrize("record, expected", [
    ([o.weight(58), o.creatinine(1.0)], "reduce"),  # age 80 and weight 58 kg: two criteria
    ([o.weight(70), o.creatinine(1.0)], None),  # age alone
    ([], "data"),  # age 80 and nothing else known: the dose cannot be checked
])
def test_apixaban_dose_by_the_labels_criteria(client, record, expected):
    drafted = o.draft("d1", "1364445", "apixaban 5 MG Oral Tablet", amount=5, per_day=2)
    cards = about(call(client, SIGN, [drafted], record=[*record, o.atrial_fibrillation()]), "apixaban")
    if expected is None:
        assert cards == []
    elif expected == "data":
        (card,) = cards
        assert card["summary"].startswith("Data needed for Apixaban and kidney function")
    else:
        (card,) = cards
        assert "2 of 3 criteria" in card["summary"]
        (update,) = actions(card, "update")
        assert dose_of(update["resource"]) == (2.5, 2)
        assert update["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "1364435"
        assert "age 80 years, weight 58 kg" in update["description"]


@pytest.mark.parametrize("amount, per_day, expected", [(40, 1, (30.0, 1)), (80, 2, (80.0, 1)), (30, 1, None)])
def test_enoxaparin_below_crcl_30_is_given_once_daily(client, amount, per_day, expected):
    drafted = o.draft("d1", "67108", "enoxaparin", amount=amount, per_day=per_day, route="Subcutaneous route")
    cards = about(call(client, SIGN, [drafted], record=crcl_record(25)), "enoxaparin")
    if expected is None:
        assert cards == []
        return
    (update,) = actions(cards[0], "update")
    assert dose_of(update["resource"]) == expected
    assert "subcutaneously once daily" in update["resource"]["dosageInstruction"][0]["text"]
    assert about(call(client, SIGN, [drafted], record=crcl_record(30)), "enoxaparin") == []


@pytest.mark.parametrize("crcl, amount, per_day, expected", [
    (40, 600, 3, (400.0, 2)),  # 1800 mg/day -> the label's equivalent at CrCl 30-59
    (40, 300, 2, None),  # 600 mg/day in two doses: within 400-1400 mg/day
    (20, 300, 3, (200.0, 1)),  # 900 mg/day -> 200 mg once daily at CrCl 15-29
    (60, 600, 3, None),
])
def test_gabapentin_dose_by_crcl(client, crcl, amount, per_day, expected):
    drafted = o.draft("d1", "25480", "gabapentin", amount=amount, per_day=per_day)
    cards = about(call(client, SIGN, [drafted], record=crcl_record(crcl)), "gabapentin")
    if expected is None:
        assert cards == []
        return
    assert dose_of(actions(cards[0], "update")[0]["resource"]) == expected


def test_a_dose_change_never_keeps_a_product_that_cannot_give_the_dose(client):
    # No gabapentin product in the knowledge makes 200 mg: the dose is text only, the drafted capsule kept as it is.
    capsule = o.draft("d-gaba", "310431", "gabapentin 300 MG Oral Capsule", amount=300, per_day=3)
    (card,) = about(call(client, SIGN, [capsule], record=crcl_record(20)), "gabapentin")
    (update,) = actions(card, "update")
    resource = update["resource"]
    assert resource["medicationCodeableConcept"]["coding"][0]["code"] == "310431"
    dosage = resource["dosageInstruction"][0]
    assert "doseAndRate" not in dosage and dosage["timing"]["repeat"]["frequency"] == 1
    assert dosage["text"].startswith("200 mg orally once daily") and "whole 300 mg units do not make 200 mg" in dosage["text"]
    # An extended-release metformin of 750 mg lowered to 500 mg twice daily: the 500 mg tablet of the same form.
    extended = ("860981", "24 HR metformin hydrochloride 750 MG Extended Release Oral Tablet")
    active = o.medication("m-er", *extended, amount=750, per_day=2)
    renewal = o.draft("d-er", *extended, amount=750, per_day=2)
    (card,) = about(call(client, SIGN, [renewal], record=[o.egfr(38), active]), "kidney function")
    (update,) = actions(card, "update")
    assert dose_of(update["resource"]) == (500.0, 2)
    assert update["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "860975"


def test_a_dose_change_keeps_the_rest_of_the_drafted_dosage_and_drops_an_unreferenced_contained_medication(client):
    drafted = o.draft("d-contained", *DABIGATRAN_150, amount=150, per_day=2)
    concept = drafted.pop("medicationCodeableConcept")
    drafted["contained"] = [{"resourceType": "Medication", "id": "med1", "code": concept}]
    drafted["medicationReference"] = {"reference": "#med1"}
    dosage = drafted["dosageInstruction"][0]
    dosage["patientInstruction"] = "Swallow whole with water"
    dosage["asNeededBoolean"] = False
    dosage["timing"] = {"repeat": {"boundsPeriod": {"start": "2026-06-01"}, "frequency": 2, "period": 1,
                                   "periodUnit": "d", "when": ["MORN", "EVE"]},
                        "code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation",
                                             "code": "BID"}]}}
    (card,) = about(call(client, SIGN, [drafted], record=crcl_record(20, o.atrial_fibrillation())), "dabigatran")
    (update,) = actions(card, "update")
    resource = update["resource"]
    assert "contained" not in resource and "medicationReference" not in resource
    assert resource["medicationCodeableConcept"]["coding"][0]["code"] == "1037179"  # 75 mg capsules
    changed = resource["dosageInstruction"][0]
    assert dose_of(resource) == (75.0, 2)
    assert changed["route"] == dosage["route"] and changed["patientInstruction"] == "Swallow whole with water"
    assert changed["asNeededBoolean"] is False
    assert changed["timing"] == dosage["timing"]  # twice daily as drafted: its times of day and code stay
    # A new frequency replaces the drafted one (and its code), the timing bounds stay.
    thrice = o.draft("d-thrice", "310431", "gabapentin 300 MG Oral Capsule", amount=300, per_day=3)
    thrice["dosageInstruction"][0]["timing"] = {**dosage["timing"], "repeat": {**dosage["timing"]["repeat"],
                                                                               "frequency": 3}}
    (card,) = about(call(client, SIGN, [thrice], record=crcl_record(20)), "gabapentin")
    assert actions(card, "update")[0]["resource"]["dosageInstruction"][0]["timing"] == {
        "repeat": {"boundsPeriod": {"start": "2026-06-01"}, "frequency": 1, "period": 1, "periodUnit": "d"}}


def test_without_a_weight_the_egfr_stands_in_for_crcl_and_the_card_says_so(client):
    drafted = o.draft("d1", "7454", "nitrofurantoin", amount=100, per_day=2)
    (card,) = about(call(client, SIGN, [drafted], record=[o.egfr(25)]), "nitrofurantoin")
    assert "eGFR 25 mL/min/1.73m2 (reported, 2026-05-02) in place of CrCl" in card["detail"]
    assert "eGFR used in place of CrCl" in card["detail"]


def test_without_kidney_function_a_renally_dosed_draft_asks_for_a_creatinine(client):
    drafted = o.draft("d1", *DABIGATRAN_150, amount=150, per_day=2)
    (card,) = call(client, SIGN, [drafted], record=[o.weight(72)])
    assert card["summary"].startswith("Data needed for Dabigatran and kidney function")
    (order,) = actions(card, "create")
    assert order["resource"]["resourceType"] == "ServiceRequest"
    assert order["resource"]["code"]["coding"][0]["code"] == "2160-0"


# -- drug interactions ------------------------------------------------------------------------------------------------
WARFARIN = ("855332", "warfarin sodium 5 MG Oral Tablet")
IBUPROFEN = ("310965", "Ibuprofen 200 MG Oral Tablet")


def test_an_nsaid_drafted_for_a_patient_on_warfarin_offers_acetaminophen(client):
    cards = call(client, SIGN, [o.draft("d1", *IBUPROFEN, amount=400, per_day=3)],
                 record=[o.medication("m1", *WARFARIN, amount=5)])
    (card,) = about(cards, "warfarin")
    assert card["indicator"] == "warning"
    assert card["source"]["label"] == "Warfarin label (FDA 2022); HL7 PDDI CDS IG"
    assert "active warfarin sodium 5 MG Oral Tablet" in card["detail"]
    assert card["selectionBehavior"] == "at-most-one"
    switch = next(s for s in card["suggestions"] if len(s["actions"]) == 2)
    assert switch["actions"][0] == {**switch["actions"][0], "type": "delete", "resourceId": "MedicationRequest/d1"}
    assert switch["actions"][1]["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "313782"


def test_no_interaction_card_without_the_partner_or_for_a_topical_nsaid(client):
    assert call(client, SIGN, [o.draft("d1", *IBUPROFEN, amount=400, per_day=3)]) == []
    gel = o.draft("d1", "3355", "diclofenac sodium 10 MG/ML Topical Gel", amount=2, unit="g", route="Topical route")
    assert about(call(client, SIGN, [gel], record=[o.medication("m1", *WARFARIN, amount=5)]), "warfarin") == []


def test_simvastatin_with_a_strong_cyp3a4_inhibitor_is_critical_and_offers_pravastatin(client):
    cards = call(client, SIGN, [o.draft("d1", "198211", "simvastatin 40 MG Oral Tablet", amount=40)],
                 record=[o.medication("m1", "21212", "clarithromycin", amount=500, per_day=2)])
    (card,) = about(cards, "clarithromycin")
    assert card["indicator"] == "critical"
    assert card["source"]["label"] == "ONC high-priority DDI list (Phansalkar 2012)"
    created = actions(card, "create")
    assert created[0]["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "904475"


@pytest.mark.parametrize("amount, fires", [(40, True), (10, False)])
def test_simvastatin_with_diltiazem_is_lowered_to_10_mg(client, amount, fires):
    drafted = o.draft("d1", "198211" if amount == 40 else "314231", f"simvastatin {amount} MG Oral Tablet",
                      amount=amount)
    cards = about(call(client, SIGN, [drafted], record=[o.medication("m1", "3443", "diltiazem", amount=120)]),
                  "diltiazem")
    assert bool(cards) is fires
    if fires:
        (update,) = actions(cards[0], "update")
        assert dose_of(update["resource"]) == (10.0, 1)
        assert update["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "314231"
        # The dose change and the cancel act on the same draft: the clinician takes one of them.
        assert [a["resourceId"] for a in actions(cards[0], "delete")] == ["MedicationRequest/d1"]
        assert cards[0]["selectionBehavior"] == "at-most-one"
        assert [s["label"] for s in cards[0]["suggestions"] if s.get("isRecommended")] == \
            ["Change simvastatin to 10 mg orally once daily"]


def test_a_combination_product_is_never_swapped_for_one_of_its_ingredients(client):
    """A dose limit for one ingredient of a combination (simvastatin in ezetimibe/simvastatin, metformin in
    sitagliptin/metformin) offers to cancel the draft, with the dose in words, not an update to a single-ingredient
    product that would drop the other ingredient."""
    combination = o.draft("d1", "476350", "ezetimibe 10 MG / simvastatin 40 MG Oral Tablet", amount=1, unit="{tbl}")
    (card,) = about(call(client, SIGN, [combination], record=[o.medication("m1", "3443", "diltiazem", amount=120)]),
                    "diltiazem")
    assert actions(card, "update") == [] and actions(card, "create") == []
    assert [a["resourceId"] for a in actions(card, "delete")] == ["MedicationRequest/d1"]
    active = o.medication("m1", *METFORMIN_1000, amount=1000, per_day=2)
    combination = o.draft("d1", "861769", "sitagliptin 50 MG / metformin hydrochloride 1000 MG Oral Tablet", amount=1,
                          unit="{tbl}", per_day=2)
    (card,) = about(call(client, SIGN, [combination], record=[o.egfr(40), active]), "kidney function")
    assert actions(card, "update") == [] and actions(card, "create") == []
    (delete,) = actions(card, "delete")
    assert "combination product" in delete["description"] and "metformin 500 mg" in delete["description"]


def test_two_qt_prolonging_drugs_and_an_maoi_with_tramadol(client):
    cards = call(client, SIGN, [o.draft("d1", "2556", "citalopram", amount=20)],
                 record=[o.medication("m1", "26225", "ondansetron", amount=8, per_day=2)])
    (card,) = about(cards, "ondansetron")
    assert card["indicator"] == "warning" and "QT" in card["detail"]
    phenelzine = o.medication("m2", "0", "phenelzine 15 MG Oral Tablet", amount=15, per_day=3)
    phenelzine["medicationCodeableConcept"] = {"text": "phenelzine 15 MG Oral Tablet"}  # named, not coded
    cards = call(client, SIGN, [o.draft("d1", "10689", "tramadol", amount=50, per_day=4)], record=[phenelzine])
    (card,) = about(cards, "phenelzine")
    assert card["indicator"] == "critical" and "serotonin syndrome" in card["summary"]


def test_two_different_mao_inhibitors_are_critical_both_ways(client):
    """Procarbazine and tranylcypromine are both in the MAO-inhibitor group: the ONC list names the pair."""
    procarbazine = ("000001", "procarbazine hydrochloride 50 MG Oral Capsule")
    tranylcypromine = ("000002", "tranylcypromine 10 MG Oral Tablet")
    for drafted, active in ((procarbazine, tranylcypromine), (tranylcypromine, procarbazine)):
        cards = call(client, SIGN, [o.draft(f"d{drafted[0]}", *drafted, amount=10)],
                     record=[o.medication(f"m{active[0]}", *active, amount=10, per_day=2)])
        hits = [c for c in cards if c["source"]["label"] == "ONC high-priority DDI list (Phansalkar 2012)"]
        assert [c["indicator"] for c in hits] == ["critical"], cards
    control = call(client, SIGN, [o.draft("d-control", *tranylcypromine, amount=10)],
                   record=[o.medication("m-control", *tranylcypromine, amount=10, per_day=2)])
    assert not [c for c in control if "ONC" in c["source"]["label"]]


def test_two_drafted_interacting_drugs_give_one_card(client):
    drafts = [o.draft("d1", *WARFARIN, amount=5), o.draft("d2", *IBUPROFEN, amount=400, per_day=3)]
    cards = about(call(client, SIGN, drafts), "warfarin")
    assert len(cards) == 1
    assert actions(cards[0], "delete")[0]["resourceId"] == "MedicationRequest/d2"  # the NSAID, the side with a choice
    assert "drafted warfarin" in cards[0]["detail"]


def test_order_select_checks_the_selection_against_the_other_drafts(client):
    drafts = [o.draft("d1", *WARFARIN, amount=5), o.draft("d2", *IBUPROFEN, amount=400, per_day=3)]
    (card,) = call(client, SELECT, drafts, selections=["MedicationRequest/d2"])
    assert actions(card, "delete")[0]["resourceId"] == "MedicationRequest/d2"
    # The warfarin selected alone: its interaction with the unselected drafted ibuprofen is the warfarin's card (new
    # drafts: the alert about d1 and d2 was shown, and is not repeated whichever draft reports it).
    drafts = [o.draft("d3", *WARFARIN, amount=5), o.draft("d4", *IBUPROFEN, amount=400, per_day=3)]
    (card,) = call(client, SELECT, drafts, selections=["MedicationRequest/d3"])
    assert actions(card, "delete")[0]["resourceId"] == "MedicationRequest/d3"


# -- allergy and cross-reactivity -------------------------------------------------------------------------------------
PENICILLIN_CLASS = dict(code="373270004", system=o.SNOMED,
                        display="Substance with penicillin structure and antibacterial mechanism of action (substance)")


@pytest.mark.parametrize("drug, severity, level", [
    (("2180", "cefazolin"), "info", "low (about 1-2 %)"),
    (("29561", "meropenem"), "info", "very low (under 1 %)"),
    (("723", "amoxicillin"), "critical", "the same class"),
])
def test_penicillin_allergy_against_a_drafted_beta_lactam(client, drug, severity, level):
    cards = call(client, SIGN, [o.draft("d1", *drug, amount=1000, per_day=3)],
                 record=[o.allergy("a1", **PENICILLIN_CLASS)])
    (card,) = cards
    assert card["indicator"] == severity
    assert level in card["summary"]
    assert card["source"]["label"] == "Drug allergy practice parameter (Khan 2022)"
    assert actions(card, "delete")[0]["resourceId"] == "MedicationRequest/d1"


def test_a_severe_penicillin_reaction_raises_the_cephalosporin_card_and_a_shared_side_chain_is_high(client):
    severe = o.allergy("a1", **PENICILLIN_CLASS, reaction="Anaphylaxis", criticality="high")
    (card,) = call(client, SIGN, [o.draft("d1", "2180", "cefazolin", amount=1000, per_day=3)], record=[severe])
    assert card["indicator"] == "warning" and "severe reaction" in card["detail"]
    amoxicillin = o.allergy("a2", code="723", display="amoxicillin")
    (card,) = call(client, SIGN, [o.draft("d1", "2231", "cephalexin", amount=500, per_day=4)], record=[amoxicillin])
    assert card["indicator"] == "warning" and "high (shared R1 side chain)" in card["summary"]


def test_no_allergy_card_for_an_unrelated_drug_or_a_resolved_allergy(client):
    assert call(client, SIGN, [o.draft("d1", "18631", "azithromycin", amount=500)],
                record=[o.allergy("a1", **PENICILLIN_CLASS)]) == []
    assert call(client, SIGN, [o.draft("d1", "723", "amoxicillin", amount=500, per_day=3)],
                record=[o.allergy("a1", **PENICILLIN_CLASS, clinical="resolved")]) == []


def test_ace_inhibitor_angioedema_and_a_statin_allergy_cover_their_class(client):
    enalapril = o.allergy("a1", code="3827", display="enalapril", reaction="angioedema")
    (card,) = call(client, SIGN, [o.draft("d-lisinopril", "314076", "lisinopril 10 MG Oral Tablet", amount=10)],
                   record=[enalapril])
    assert card["indicator"] == "critical" and "enalapril" in card["summary"]
    assert card["source"]["label"] == "ACE-inhibitor labels (lisinopril, FDA 2020)"
    assert actions(card, "delete")[0]["resourceId"] == "MedicationRequest/d-lisinopril"
    atorvastatin = o.allergy("a2", code="83367", display="atorvastatin")
    (card,) = call(client, SIGN, [o.draft("d-rosuva", "859751", "rosuvastatin calcium 20 MG Oral Tablet", amount=20)],
                   record=[atorvastatin])
    assert card["indicator"] == "warning" and card["source"]["label"] == "Statin labels (atorvastatin, FDA 2022)"
    # A class rule is not a therapeutic group: an ACE-inhibitor allergy says nothing about a statin.
    assert call(client, SIGN, [o.draft("d-atorva", "617311", "atorvastatin 40 MG Oral Tablet", amount=40)],
                record=[enalapril]) == []


# -- duplicate therapy ------------------------------------------------------------------------------------------------
ATORVASTATIN = ("617311", "atorvastatin 40 MG Oral Tablet")


def test_a_second_statin_and_a_second_anticoagulant_are_duplicates(client):
    (card,) = call(client, SIGN, [o.draft("d1", "859751", "rosuvastatin calcium 20 MG Oral Tablet", amount=20)],
                   record=[o.medication("m1", *ATORVASTATIN, amount=40)])
    assert card["indicator"] == "warning" and "a second statin" in card["summary"]
    cards = call(client, SIGN, [o.draft("d1", *WARFARIN, amount=5)],
                 record=[o.medication("m1", "1364445", "apixaban 5 MG Oral Tablet", amount=5, per_day=2)])
    (card,) = about(cards, "duplicate")
    assert card["indicator"] == "critical" and "a second anticoagulant" in card["summary"]


def test_bridging_warfarin_with_enoxaparin_is_not_a_duplicate_and_a_renewal_is_information(client):
    cards = call(client, SIGN, [o.draft("d1", "67108", "enoxaparin", amount=80, per_day=2)],
                 record=[o.medication("m1", *WARFARIN, amount=5), *crcl_record(60)])
    assert about(cards, "duplicate") == []
    (card,) = call(client, SIGN, [o.draft("d1", *ATORVASTATIN, amount=40)],
                   record=[o.medication("m1", *ATORVASTATIN, amount=40)])
    assert card["indicator"] == "info" and "already ordered" in card["summary"]


def test_a_draft_is_never_on_the_medication_list(client):
    """A drafted statin is not a statin the patient takes: alone it is no duplicate, even when the EHR's medication
    search also returns it (as a draft); two drafted statins are."""
    drafted = o.draft("d1", *ATORVASTATIN, amount=40)
    assert call(client, SIGN, [drafted], record=[dict(drafted)]) == []
    second = o.draft("d2", "859751", "rosuvastatin calcium 20 MG Oral Tablet", amount=20)
    cards = call(client, SIGN, [drafted, second])
    assert len(about(cards, "duplicate")) == 1


# -- pregnancy --------------------------------------------------------------------------------------------------------
def test_an_ace_inhibitor_in_pregnancy_is_replaced_by_labetalol_or_nifedipine(client):
    woman = o.patient(gender="female", birth_date="1994-03-01")
    (card,) = call(client, SIGN, [o.draft("d1", "314076", "lisinopril 10 MG Oral Tablet", amount=10)],
                   record=[o.pregnancy()], pat=woman)
    assert card["indicator"] == "critical" and "contraindicated" in card["summary"]
    assert card["selectionBehavior"] == "at-most-one"
    started = {a["resource"]["medicationCodeableConcept"]["coding"][0]["code"] for a in actions(card, "create")}
    assert started == {"896758", "198034"}
    assert sum(1 for s in card["suggestions"] if s.get("isRecommended")) == 1


@pytest.mark.parametrize("drug, severity", [(("855332", "warfarin sodium 5 MG Oral Tablet"), "critical"),
                                            (ATORVASTATIN, "warning")])
def test_warfarin_and_statins_in_pregnancy(client, drug, severity):
    woman = o.patient(gender="female", birth_date="1994-03-01")
    cards = about(call(client, SIGN, [o.draft("d1", *drug, amount=5)], record=[o.pregnancy()], pat=woman),
                  "pregnancy")
    assert [c["indicator"] for c in cards] == [severity]
    assert call(client, SIGN, [o.draft("d1", *drug, amount=5)], pat=woman) == []


# -- selections, scope ------------------------------------------------------------------------------------------------
def test_order_select_checks_only_the_selected_drafts_and_order_sign_all(client):
    drafts = [o.draft("d1", *METFORMIN_1000, amount=1000, per_day=2),
              o.draft("d2", *DABIGATRAN_150, amount=150, per_day=2)]
    record = crcl_record(24, o.egfr(25), o.atrial_fibrillation())
    selected = call(client, SELECT, drafts, selections=["MedicationRequest/d2"], record=record)
    assert [c["summary"].split(" ")[0] for c in selected] == ["Dabigatran"]
    # Order-sign checks both drafts; the dabigatran alert was shown at selection and is not repeated.
    signed = call(client, SIGN, drafts, record=record)
    assert [c["summary"].split(" ")[0] for c in signed] == ["Metformin"]
    assert call(client, SIGN, drafts, record=record) == []


def test_a_draft_for_another_patient_is_not_checked(client):
    other = o.draft("d1", *DABIGATRAN_150, amount=150, per_day=2, subject="someone-else")
    assert call(client, SIGN, [other], record=crcl_record(20)) == []


# -- every interaction pair of the knowledge file, both ways ----------------------------------------------------------
def _interaction_data() -> dict:
    from engine.order_checks.interactions import knowledge

    return knowledge()


def _representatives(group: dict, avoid: str | None = None) -> str:
    """An ingredient of the group that the drug knowledge recognises by name (the first listed, else the first of a
    listed class), other than ``avoid``."""
    from fhir_adapter.terminology import drugs

    names = [n for n in group.get("ingredients", ()) if n != avoid]
    if names:
        return names[0]
    data = drugs._data()
    entries = [*data["ingredients"].values(), *data["ingredients_without_rxcui"].values()]
    return next(e["name"] for e in entries if e["name"] != avoid
                and set(drugs.classes_of(drugs.ingredients_by_text(e["name"]))) & set(group["classes"]))


def _named(mid: str, name: str, *, drafted: bool) -> dict:
    """A drug named by text only (no code): how the record often names a drug, and the way every ingredient of the
    knowledge, with or without an RxNorm code, is recognised."""
    resource = (o.draft if drafted else o.medication)(mid, "0", name, amount=40)
    resource["medicationCodeableConcept"] = {"text": name}
    return resource


@pytest.mark.parametrize("pair", _interaction_data()["pairs"], ids=lambda p: p["id"])
def test_every_interaction_pair_fires_both_ways_and_not_alone(client, pair):
    groups = _interaction_data()["groups"]
    first = _representatives(groups[pair["a"]])
    second = _representatives(groups[pair["b"]], avoid=first)
    for drafted_name, active_name in ((first, second), (second, first)):  # two drafts: each alerted once
        cards = call(client, SIGN, [_named(f"d-{drafted_name.replace(' ', '-')}", drafted_name, drafted=True)],
                     record=[_named(f"m-{pair['id']}", active_name, drafted=False)])
        hits = [c for c in cards if c["source"]["label"] == _interaction_data()["sources"][pair["source"]]["short"]
                and active_name in c["summary"].lower()]
        assert [c["indicator"] for c in hits] == [pair["severity"]], (drafted_name, active_name, cards)
        assert actions(hits[0], "delete") or actions(hits[0], "update")
    alone = call(client, SIGN, [_named("d-alone", first, drafted=True)])
    assert not [c for c in alone if c["source"]["label"] == _interaction_data()["sources"][pair["source"]]["short"]]


# -- the explainer page of an order card -------------------------------------------------------------------------------
def test_an_order_card_links_to_a_page_with_its_whole_rationale(client):
    drafted = o.draft("d1", *DABIGATRAN_150, amount=150, per_day=2)
    (card,) = call(client, SIGN, [drafted], record=crcl_record(24, o.atrial_fibrillation()))
    (link,) = card["links"]
    page = client.raw().get(link["url"].removeprefix("http://localhost"))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "CrCl 24 mL/min (Cockcroft–Gault, 2026-05-02)" in text
    assert "PRADAXA (dabigatran etexilate) prescribing information" in text
