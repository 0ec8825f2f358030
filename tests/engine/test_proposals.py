"""Typed proposals refuse what could not become a valid resource or action (engine/proposals.py)."""
from __future__ import annotations

import pytest

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
    ProposalError,
    StartMedication,
    Suggestion,
    suggest,
)

ATORVASTATIN = MedicationOption(Coding(RXNORM, "617310", "atorvastatin 20 MG Oral Tablet"),
                                Dose("20 mg orally once daily", 20, "mg", 1), "Start atorvastatin 20 mg daily")
ROSUVASTATIN = MedicationOption(Coding(RXNORM, "859747", "rosuvastatin calcium 10 MG Oral Tablet"),
                                Dose("10 mg orally once daily", 10, "mg", 1), "Start rosuvastatin 10 mg daily")


def test_a_problem_needs_a_code_and_references_without_blanks():
    with pytest.raises(ProposalError):
        AddProblem(ConditionRef("x", "X"), description="d", note="n")
    with pytest.raises(ProposalError):
        AddProblem(ConditionRef("x", "X", (Coding(SNOMED, "1"),)), description="d", note="n",
                   evidence=("Observation/a b",))
    ok = AddProblem(ConditionRef("x", "X", (Coding(SNOMED, "1"),)), description="d", note="n",
                    evidence=("Observation/a1", "urn:uuid:2f1c"))
    assert ok.verification.value == "provisional"


def test_drafts_are_relative_references_to_an_order():
    for bad in ("MedicationRequest", "Patient/p1", "MedicationRequest/a/b", "medicationrequest/x", ""):
        with pytest.raises(ProposalError):
            CancelDraftOrder(bad, description="d", reason="r")
    assert CancelDraftOrder("ServiceRequest/procedure-request-1", "d", "r").draft.startswith("ServiceRequest/")


def test_a_change_changes_something_and_only_a_medication_has_a_dose():
    with pytest.raises(ProposalError):
        ChangeDraftOrder("MedicationRequest/d1", description="d", reason="r")
    with pytest.raises(ProposalError):
        ChangeDraftOrder("ServiceRequest/d1", description="d", reason="r", dose=Dose("x", 1, "mg"))
    assert ChangeDraftOrder("ServiceRequest/d1", "d", "r", code=Coding(LOINC, "4548-4")).code.code == "4548-4"


@pytest.mark.parametrize("kwargs", [dict(quantity=5), dict(unit="mg"), dict(quantity=0, unit="mg"),
                                    dict(times_per_day=0)])
def test_a_dose_is_whole(kwargs):
    with pytest.raises(ProposalError):
        Dose("text", **kwargs)


def test_medication_alternatives_have_distinct_labels_and_a_real_recommended_index():
    with pytest.raises(ProposalError):
        StartMedication((), reason="r")
    with pytest.raises(ProposalError):
        StartMedication((ATORVASTATIN, ROSUVASTATIN), reason="r", recommended=2)
    with pytest.raises(ProposalError):
        StartMedication((ATORVASTATIN, ATORVASTATIN), reason="r")
    choice = suggest("Start a statin", StartMedication((ATORVASTATIN, ROSUVASTATIN), reason="r"))
    assert choice.is_choice and not choice.adds_problem


def test_a_suggestion_proposes_something_and_offers_one_choice_at_most():
    with pytest.raises(ProposalError):
        Suggestion("Nothing", ())
    with pytest.raises(ProposalError):
        suggest(" ", OrderTest(Coding(LOINC, "4548-4"), "HbA1c", "r"))
    two_choices = StartMedication((ATORVASTATIN, ROSUVASTATIN), reason="r")
    with pytest.raises(ProposalError):
        suggest("Two choices", two_choices, two_choices)
