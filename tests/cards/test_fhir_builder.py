"""cards/fhir.py: proposals → FHIR R4 resources (validated with fhir.resources R4B) and CDS Hooks 2.0.1 actions,
through the card renderer and the response schema."""
from __future__ import annotations

import copy

import pytest

from cards.fhir import (
    DIAGNOSIS_OVERRIDE_REASONS,
    DRAFT_ORDER_OVERRIDE_REASONS,
    MEDICATION_OVERRIDE_REASONS,
    ORDER_OVERRIDE_REASONS,
    BuildContext,
    action_for,
)
from cards.render import RenderOptions, render_cards
from cds_hooks.validation import validate_response
from engine.finding import Citation, Finding, Kind, Severity, Status
from engine.proposals import (
    LOINC,
    RXNORM,
    SNOMED,
    AddProblem,
    CancelDraftOrder,
    ChangeDraftOrder,
    Coding,
    ConditionRef,
    Dose,
    MedicationOption,
    OrderTest,
    SelectionBehavior,
    StartMedication,
    suggest,
)
from tests.proposal_resources import validated

CITATION = Citation(short="Test 2026", full="Test citation.")
CONTEXT = BuildContext(patient_id="p1")
AF = ConditionRef("atrial-fibrillation", "Atrial fibrillation", (Coding(SNOMED, "49436004", "Atrial fibrillation"),))
APIXABAN_5 = MedicationOption(Coding(RXNORM, "1364445", "apixaban 5 MG Oral Tablet"),
                              Dose("5 mg orally twice daily", 5, "mg", 2), "Start apixaban 5 mg twice daily")
APIXABAN_2_5 = MedicationOption(Coding(RXNORM, "1364435", "apixaban 2.5 MG Oral Tablet"),
                                Dose("2.5 mg orally twice daily", 2.5, "mg", 2), "Start apixaban 2.5 mg twice daily")
WARFARIN = MedicationOption(Coding(RXNORM, "855332", "warfarin sodium 5 MG Oral Tablet"),
                            Dose("5 mg orally once daily, adjusted to INR 2-3", 5, "mg", 1), "Start warfarin")
DRAFT_WARFARIN = {
    "resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
    "subject": {"reference": "Patient/p1"},
    "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "855332"}]},
    "dosageInstruction": [{"text": "10 mg daily"}],
    "note": [{"text": "entered by Dr Lee"}],
}
DRAFTS = {"MedicationRequest/draft-1": DRAFT_WARFARIN}


def finding(fid="f", *, suggestions=(), kind=Kind.TREATMENT, severity=Severity.WARNING, condition=None,
            selection=SelectionBehavior.ANY, status=Status.COMPUTED):
    return Finding(id=fid, engine_id="engine-a", engine_version="1.0.0", kind=kind, status=status, title="Title",
                   citation=CITATION, value="x", severity=severity, suggestions=tuple(suggestions),
                   condition=condition, selection=selection)


def card_of(*findings, **options):
    rendered = render_cards(list(findings), RenderOptions(patient_id="p1", hook_instance="hook-1", **options))
    assert not validate_response({"cards": [rc.card for rc in rendered]})
    return rendered[0].card


# -- resources ---------------------------------------------------------------------------------------------------------
def test_a_problem_becomes_a_provisional_problem_list_condition_citing_its_evidence():
    action = action_for(AddProblem(AF, description="Adds AF", note="from ECG", evidence=("Observation/ecg1",),
                                   text="Atrial fibrillation (paroxysmal)"), CONTEXT)
    condition = validated(action["resource"])
    assert action["type"] == "create" and action["description"] == "Adds AF"
    assert condition.subject.reference == "Patient/p1"
    assert condition.clinicalStatus.coding[0].code == "active"
    assert condition.verificationStatus.coding[0].code == "provisional"
    assert condition.category[0].coding[0].code == "problem-list-item"
    assert (condition.code.coding[0].code, condition.code.text) == ("49436004", "Atrial fibrillation (paroxysmal)")
    assert condition.evidence[0].detail[0].reference == "Observation/ecg1"
    assert condition.note[0].text == "from ECG"


def test_a_test_becomes_a_draft_proposal_service_request_with_its_reasons():
    order = OrderTest(Coding(LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"), "HbA1c",
                      reason="confirm diabetes", reason_codings=(Coding(SNOMED, "73211009", "Diabetes mellitus"),),
                      reason_references=("Observation/g1",))
    request = validated(action_for(order, CONTEXT)["resource"])
    assert (request.status, request.intent, request.subject.reference) == ("draft", "proposal", "Patient/p1")
    assert request.category[0].coding[0].code == "108252007"  # laboratory: a LOINC test
    assert request.reasonCode[0].text == "confirm diabetes" and request.reasonCode[0].coding[0].code == "73211009"
    assert request.reasonReference[0].reference == "Observation/g1"
    procedure = action_for(OrderTest(Coding(SNOMED, "164783007", "Ambulatory blood pressure recording"), "ABPM",
                                     reason="confirm"), CONTEXT)["resource"]
    assert "category" not in procedure  # not a laboratory procedure
    validated(procedure)


def test_a_medication_becomes_a_draft_proposal_medication_request_with_a_structured_dose():
    start = StartMedication((APIXABAN_5,), reason="CHA2DS2-VASc 3", reason_codings=AF.codings)
    action = action_for(start, CONTEXT)
    request = validated(action["resource"])
    assert (request.status, request.intent, request.subject.reference) == ("draft", "proposal", "Patient/p1")
    assert request.medicationCodeableConcept.coding[0].system == RXNORM
    assert request.medicationCodeableConcept.coding[0].code == "1364445"
    dosage = request.dosageInstruction[0]
    assert dosage.text == "5 mg orally twice daily"
    assert (dosage.timing.repeat.frequency, dosage.timing.repeat.period, dosage.timing.repeat.periodUnit) == (2, 1, "d")
    assert (float(dosage.doseAndRate[0].doseQuantity.value), dosage.doseAndRate[0].doseQuantity.code) == (5.0, "mg")
    assert request.reasonCode[0].coding[0].code == "49436004"
    assert "apixaban" in action["description"] and "CHA2DS2-VASc 3" in action["description"]


def test_a_change_sends_the_whole_draft_with_its_id_and_only_the_proposed_fields_changed():
    change = ChangeDraftOrder("MedicationRequest/draft-1", description="Lower the dose", reason="eGFR 25",
                              code=APIXABAN_2_5.medication, dose=APIXABAN_2_5.dose)
    before = copy.deepcopy(DRAFT_WARFARIN)
    action = action_for(change, BuildContext("p1", DRAFTS))
    assert DRAFT_WARFARIN == before  # the hook's draft is not modified in place
    assert (action["type"], action["resourceId"]) == ("update", "MedicationRequest/draft-1")
    resource = action["resource"]
    validated(resource)
    assert (resource["id"], resource["intent"]) == ("draft-1", "order")
    assert resource["subject"] == {"reference": "Patient/p1"}
    assert resource["medicationCodeableConcept"]["coding"][0]["code"] == "1364435"
    assert resource["dosageInstruction"][0]["text"] == "2.5 mg orally twice daily"
    assert [n["text"] for n in resource["note"]] == ["entered by Dr Lee", "Changed on precision-cds advice: eGFR 25"]


def test_a_cancellation_is_a_delete_with_the_relative_reference_of_the_draft():
    action = action_for(CancelDraftOrder("MedicationRequest/draft-1", "Remove the warfarin order", "duplicate"),
                        CONTEXT)
    assert action == {"type": "delete", "description": "Remove the warfarin order",
                      "resourceId": "MedicationRequest/draft-1"}  # 2.0.1: a string "Type/id", no resource


# -- suggestions on a card ---------------------------------------------------------------------------------------------
def test_medication_alternatives_are_at_most_one_with_the_preferred_one_recommended():
    start = StartMedication((WARFARIN, APIXABAN_5), reason="AF, CHA2DS2-VASc 3", recommended=1)
    card = card_of(finding(suggestions=[suggest("Start anticoagulation", start)]))
    assert card["selectionBehavior"] == "at-most-one"
    assert [s["label"] for s in card["suggestions"]] == ["Start warfarin", "Start apixaban 5 mg twice daily"]
    assert [s.get("isRecommended", False) for s in card["suggestions"]] == [False, True]
    for s in card["suggestions"]:
        (action,) = s["actions"]
        validated(action["resource"])
    assert [r["code"] for r in card["overrideReasons"]] == [r["code"] for r in MEDICATION_OVERRIDE_REASONS]


def test_replace_a_draft_is_one_suggestion_of_two_actions_per_alternative():
    cancel = CancelDraftOrder("MedicationRequest/draft-1", "Remove the drafted warfarin", "a DOAC is preferred")
    start = StartMedication((APIXABAN_5, APIXABAN_2_5), reason="DOAC preferred in non-valvular AF")
    card = card_of(finding(suggestions=[suggest("Replace warfarin", cancel, start)]), draft_orders=DRAFTS)
    assert card["selectionBehavior"] == "at-most-one"
    assert len(card["suggestions"]) == 2 and card["suggestions"][0]["isRecommended"] is True
    for s in card["suggestions"]:
        assert [a["type"] for a in s["actions"]] == ["delete", "create"]
        assert s["actions"][0]["resourceId"] == "MedicationRequest/draft-1"
    codes = {r["code"] for r in card["overrideReasons"]}
    assert {r["code"] for r in MEDICATION_OVERRIDE_REASONS + DRAFT_ORDER_OVERRIDE_REASONS} == codes


def test_independent_suggestions_are_any_and_each_keeps_its_recommendation():
    add = suggest("Add AF to the problem list", AddProblem(AF, "Adds AF", "n"), recommended=True)
    order = suggest("Order an ECG", OrderTest(Coding(SNOMED, "29303009", "Electrocardiographic procedure"), "ECG", "r"),
                    recommended=True)
    card = card_of(finding(suggestions=[add, order], kind=Kind.DIAGNOSIS, condition=AF))
    assert card["selectionBehavior"] == "any"
    assert [s.get("isRecommended") for s in card["suggestions"]] == [True, True]
    assert [r["code"] for r in card["overrideReasons"]] == [
        "already-addressed", "not-applicable", "patient-declined", "data-error", "already-done", "defer"]


def test_a_finding_may_ask_for_at_most_one_and_then_only_one_suggestion_is_recommended():
    one = suggest("Order HbA1c", OrderTest(Coding(LOINC, "4548-4"), "HbA1c", "r"), recommended=True)
    other = suggest("Order fasting glucose", OrderTest(Coding(LOINC, "1558-6"), "FPG", "r"), recommended=True)
    card = card_of(finding(suggestions=[one, other], selection=SelectionBehavior.AT_MOST_ONE))
    assert card["selectionBehavior"] == "at-most-one"
    assert [s.get("isRecommended", False) for s in card["suggestions"]] == [True, False]


def test_a_change_to_a_draft_the_hook_did_not_send_is_left_out_not_sent_half():
    change = suggest("Lower the dose", ChangeDraftOrder("MedicationRequest/not-sent", "Lower", "eGFR 25",
                                                        dose=APIXABAN_2_5.dose))
    cancel = suggest("Cancel", CancelDraftOrder("MedicationRequest/not-sent", "Cancel", "eGFR 12"))
    card = card_of(finding(suggestions=[change, cancel]), draft_orders=DRAFTS)
    assert [s["label"] for s in card["suggestions"]] == ["Cancel"]
    assert card["suggestions"][0]["actions"][0]["type"] == "delete"


def test_update_and_delete_actions_pass_the_response_schema_and_uuids_are_stable():
    change = suggest("Lower the dose", ChangeDraftOrder("MedicationRequest/draft-1", "Lower", "eGFR 25",
                                                        dose=APIXABAN_2_5.dose))
    first = card_of(finding(suggestions=[change]), draft_orders=DRAFTS)
    again = card_of(finding(suggestions=[change]), draft_orders=DRAFTS)
    (action,) = first["suggestions"][0]["actions"]
    assert action["type"] == "update" and action["resource"]["id"] == "draft-1"
    assert first["suggestions"][0]["uuid"] == again["suggestions"][0]["uuid"]
    assert [r["code"] for r in first["overrideReasons"]] == [r["code"] for r in DRAFT_ORDER_OVERRIDE_REASONS]


def test_every_card_with_a_suggestion_offers_override_reasons_data_needed_included():
    lipids = suggest("Order a lipid panel", OrderTest(Coding(LOINC, "57698-3"), "Lipid panel", "needed"))
    needed = [finding(f"n{i}", kind=Kind.RISK, status=Status.INSUFFICIENT_DATA, suggestions=[lipids])
              for i in range(2)]
    card = card_of(*needed)
    assert [s["label"] for s in card["suggestions"]] == ["Order a lipid panel"]  # once, not once per score
    assert [r["code"] for r in card["overrideReasons"]] == [r["code"] for r in ORDER_OVERRIDE_REASONS]
    assert "overrideReasons" not in card_of(finding(kind=Kind.RISK, severity=Severity.INFO))


def test_merged_findings_keep_one_problem_list_entry_and_the_diagnosis_reasons_first():
    labs = finding("labs", kind=Kind.DIAGNOSIS, condition=AF, suggestions=[
        suggest("Add AF (labs)", AddProblem(AF, "d", "n")),
        suggest("Order an ECG", OrderTest(Coding(SNOMED, "29303009"), "ECG", "r"))])
    notes = finding("notes", kind=Kind.DIAGNOSIS, severity=Severity.INFO, condition=AF,
                    suggestions=[suggest("Add AF (notes)", AddProblem(AF, "d", "n"))])
    card = card_of(labs, notes)
    assert [s["label"] for s in card["suggestions"]] == ["Add AF (labs)", "Order an ECG"]
    assert card["overrideReasons"][:4] == [dict(r) for r in DIAGNOSIS_OVERRIDE_REASONS]


@pytest.mark.parametrize("patient_id", [None, "p1"])
def test_subject_is_the_patient_of_the_call(patient_id):
    resource = action_for(AddProblem(AF, "d", "n"), BuildContext(patient_id))["resource"]
    assert resource.get("subject") == ({"reference": "Patient/p1"} if patient_id else None)
