"""Record questions that need more than a lookup: may a drug be given (the allergies lead), judgement questions
(need / due / should / allow / too high) answered with the applicable statement and the patient's facts, risk scores
from the project's calculators, the time asked about, doses of drugs known by name or brand, past tense and
remission. Record answers need no model, so these run without torch."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from engine.models.qa import KnowledgeBase, answer_question
from engine.models.record_qa.intent import classify
from engine.models.record_qa.vocabulary import find_mentions, load_vocabulary, record_drug_terms
from engine.models.record_qa.when import parse_time, resolve
from engine.order_checks.allergy import knowledge, relation_to_drug
from fhir_adapter.record_view import read_record_view

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = ROOT / "fixtures" / "qa"
AS_OF = date(2025, 6, 1)
NO_KB = KnowledgeBase("none", ())


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary()


@pytest.fixture(scope="module")
def views():
    return {p.stem: read_record_view(json.loads(p.read_text()), as_of=AS_OF) for p in PATIENTS.glob("*.json")}


def ask(question: str, view, kb=NO_KB):
    return answer_question(question, view, kb, use_reader=False)


def with_kb(question: str, view):
    return answer_question(question, view, use_reader=False)


# -- may a drug be given: the allergies first ----------------------------------------------------------------------
@pytest.mark.parametrize("patient, question, allergy, relation", [
    ("rosa", "Is it safe to give her penicillin?", "AllergyIntolerance/rosa-penicillin", "the same class"),
    ("rosa", "Can she take amoxicillin?", "AllergyIntolerance/rosa-penicillin", "the same class (penicillin)"),
    ("rosa", "Would piperacillin be OK for her?", "AllergyIntolerance/rosa-penicillin", "the same class"),
    ("rosa", "Can we start her on cefazolin?", "AllergyIntolerance/rosa-penicillin", "low (about 1-2 %)"),
    ("rosa", "Is it safe to give her meropenem?", "AllergyIntolerance/rosa-penicillin", "very low"),
    ("kenji", "Can he take aspirin?", "AllergyIntolerance/kenji-aspirin", "the same drug (aspirin)"),
    ("kenji", "Could he have naproxen for his knee?", "AllergyIntolerance/kenji-aspirin", "COX-1"),
    ("ines", "Is lisinopril safe for her?", "AllergyIntolerance/ines-lisinopril", "the same drug"),
    ("ines", "Can she take ramipril?", "AllergyIntolerance/ines-lisinopril", "the same class (ACE inhibitor)"),
    ("amara", "Can she take Septra?", "AllergyIntolerance/amara-sulfa", "sulfonamide"),
    ("oskar", "Can I give him oxycodone?", "AllergyIntolerance/oskar-codeine", "opioid"),
])
def test_a_drug_named_in_a_can_safe_give_question_leads_with_the_allergy(views, patient, question, allergy,
                                                                         relation):
    answer = ask(question, views[patient])
    assert (answer.question_type, answer.result) == ("drug_safety", "allergy"), answer.answer
    assert answer.answer.startswith("Allergy recorded - ") and relation in answer.answer
    assert answer.sources == (allergy,)
    assert "does not decide whether a drug may be given" in answer.answer


def test_a_question_by_the_clinician_about_the_record_is_about_the_patient(views, vocab):
    assert classify("Can we add losartan?", vocab).type == "drug_safety"
    answer = ask("Should I add Tylenol?", views["walter"])
    assert (answer.question_type, answer.result) == ("drug_safety", "no_allergy")


def test_no_allergy_says_what_was_searched_and_decides_nothing(views):
    answer = ask("Can he take amoxicillin?", views["walter"])
    assert (answer.question_type, answer.result) == ("drug_safety", "no_allergy")
    assert answer.answer.startswith("No recorded allergy covers amoxicillin or its class (searched 1 "
                                    "AllergyIntolerance; recorded: No known drug allergy, AllergyIntolerance/walter-nkda")
    assert "Amoxicillin is not on the medication list." in answer.answer
    # A drug the patient already takes, and one of another allergy's class that is not cross-reactive.
    on_it = ask("Is it safe to keep her on metformin?", views["rosa"])
    assert on_it.result == "no_allergy" and "Already on the active list: metformin" in on_it.answer
    unrelated = ask("Can she take methotrexate with her sulfasalazine allergy?", views["beatriz"])
    assert unrelated.result != "allergy"  # sharing a use (DMARDs) is not cross-reactivity


def test_drug_safety_shows_the_statement_about_the_drug_with_the_patients_value(views):
    answer = with_kb("Can he take metformin?", views["walter"])
    assert answer.result == "no_allergy" and answer.method == "record+guideline"
    assert "dm-metformin-egfr" in answer.statement_ids
    assert "eGFR 44" in answer.answer and "30 to 44: starting metformin is not recommended" in answer.answer
    assert "Observation/walter-egfr-2025" in answer.sources


def test_a_medication_question_about_a_drug_the_patient_is_allergic_to_says_so(views):
    answer = ask("Is he taking aspirin?", views["kenji"])
    assert answer.result == "no" and "Allergy recorded: aspirin (AllergyIntolerance/kenji-aspirin)" in answer.answer
    assert [s.source for s in answer.supports if s.kind == "related"] == ["AllergyIntolerance/kenji-aspirin"]


def test_the_order_check_and_record_questions_share_the_cross_reactivity_rules(views):
    data = knowledge()
    aspirin = next(a for a in views["kenji"].allergies if a.source.endswith("kenji-aspirin"))
    assert relation_to_drug(("ibuprofen",), ("nsaid",), aspirin, data)["rule"] == "aspirin->nsaid"
    codeine = next(a for a in views["oskar"].allergies if a.source.endswith("oskar-codeine"))
    # Not graded by the practice parameter: reported to record questions only, never as an order-time alert.
    assert relation_to_drug(("morphine",), ("opioid",), codeine, data) is None
    assert relation_to_drug(("morphine",), ("opioid",), codeine, data, shared_class=True)["level"].startswith(
        "not graded")


# -- judgement questions -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("patient, question, statement, fact", [
    ("oskar", "Should he be on a statin?", "lipid-high-risk", "calculation:pce-2013"),
    ("oskar", "Does he need a statin?", "lipid-high-risk", "Observation/oskar-ldl-2025"),
    ("rosa", "Does she need a statin?", "lipid-diabetes", "Observation/rosa-ldl-2024"),
    ("rosa", "Is she due for a colonoscopy?", "screen-crc-interval", "Procedure/rosa-colonoscopy"),
    ("ines", "Is her potassium too high for spironolactone?", "hf-mra-potassium", "Observation/ines-potassium-2025"),
    ("walter", "Does his kidney function allow metformin?", "dm-metformin-egfr", "Observation/walter-egfr-2025"),
    ("oskar", "Is he eligible for AAA screening?", "screen-aaa", "Observation/oskar-smoking-2025"),
])
def test_judgement_questions_get_the_applicable_statement_and_the_patients_facts(views, patient, question,
                                                                                statement, fact):
    answer = with_kb(question, views[patient])
    assert (answer.question_type, answer.result, answer.method) == ("guideline_patient", "guideline",
                                                                     "record+guideline"), answer.answer
    assert statement in answer.statement_ids
    assert fact in {s.source for s in answer.supports}
    assert not answer.answer.startswith(("Yes", "No "))  # never a yes/no about something else


def test_the_pce_risk_selects_the_primary_prevention_band_and_is_shown(views):
    answer = with_kb("Should he be on a statin?", views["oskar"])
    assert answer.statement_ids[0] == "lipid-high-risk" and "statin-uspstf-b" in answer.statement_ids
    assert "10-year ASCVD risk (Pooled Cohort Equations) 32.6 %" in answer.answer
    risk = [s for s in answer.supports if s.kind == "calculation"]
    assert risk and (risk[0].value, risk[0].unit, risk[0].note) == ("32.6", "%", "high")


def test_band_and_interval_facts_say_what_the_statement_means_for_this_patient(views):
    potassium = with_kb("Is her potassium too high for spironolactone?", views["ines"])
    assert "Potassium 5.3 mmol/L on 2025-03-10" in potassium.answer
    assert "5.0 to 5.4: at or above the limit for starting an MRA" in potassium.answer
    colonoscopy = with_kb("Is she due for a colonoscopy?", views["rosa"])
    assert "last colonoscopy 2021-04-12 (Procedure/rosa-colonoscopy)" in colonoscopy.answer
    assert "the next is due 2031-04-12" in colonoscopy.answer


def test_a_statement_that_does_not_apply_is_shown_with_why(views):
    answer = with_kb("Does she need a colonoscopy?", views["amara"])
    assert answer.result == "guideline" and "does not apply to this patient: Age 34 years" in answer.answer


def test_a_judgement_no_statement_covers_is_refused_clearly(views):
    answer = with_kb("Is she fit enough to need a knee replacement?", views["beatriz"])
    assert answer.status == "refused" and answer.question_type == "judgement"
    assert "does not make the judgement" in answer.message
    # Still shows what the record holds about what it names, as related entries, never as a "yes".
    vaccine = with_kb("Does she need a pneumonia vaccine?", views["ines"])
    assert vaccine.status == "refused" and "What the record holds: Yes: pneumococcal polysaccharide" in vaccine.message
    assert [s.source for s in vaccine.supports] == ["Immunization/ines-ppsv23-2014"]
    assert {s.kind for s in vaccine.supports} == {"related"}


def test_due_for_a_vaccine_and_stopping_smoking_are_judgements_with_the_record(views):
    flu = with_kb("Is he due for a flu shot?", views["walter"])
    assert (flu.question_type, flu.statement_ids) == ("guideline_patient", ("flu-vaccine",))
    assert "No influenza vaccine since 2024-08-01 (start of this season)" in flu.answer
    assert not flu.answer.startswith("Yes")
    smoking = with_kb("Should he stop smoking?", views["kenji"])
    assert smoking.statement_ids == ("tobacco-cessation",) and "Observation/kenji-smoking-2025" in smoking.sources
    keep = ask("Is it OK to continue naproxen?", views["beatriz"])
    assert (keep.question_type, keep.result) == ("drug_safety", "no_allergy")


# -- risk scores ---------------------------------------------------------------------------------------------------
def test_risk_scores_come_from_the_calculators_with_their_inputs(views):
    pce = ask("What is his 10-year ASCVD risk?", views["oskar"])
    assert (pce.question_type, pce.result, pce.value, pce.unit, pce.date) == ("score", "value", "32.6", "%",
                                                                              "2025-06-01")
    assert "Observation/oskar-ldl-2025" not in pce.sources  # the PCE reads total and HDL cholesterol, not LDL
    assert {"Observation/oskar-chol-2025", "Observation/oskar-hdl-2025"} <= set(pce.sources)
    vasc = ask("What is his CHA2DS2-VASc score?", views["walter"])
    assert (vasc.result, vasc.value) == ("value", "2") and "Condition/walter-af" in vasc.sources
    missing = ask("What's her 10-year ASCVD risk?", views["ines"])
    assert missing.result == "not_computed" and "missing" in missing.answer.lower()
    out_of_range = ask("ASCVD risk?", views["amara"])
    assert out_of_range.result == "not_computed" and "outside the validated range" in out_of_range.answer


# -- the time asked about ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, start, end", [
    ("BP in June 2024?", date(2024, 6, 1), date(2024, 6, 30)),
    ("on 2024-06-10?", date(2024, 6, 10), date(2024, 6, 10)),
    ("eGFR in Feb 2024?", date(2024, 2, 1), date(2024, 2, 29)),
    ("in the last 5 years", date(2020, 6, 1), None),
    ("since March 2023", date(2023, 3, 1), None),
    ("before 2025", None, date(2024, 12, 31)),
    ("between June 2024 and March 2025", date(2024, 6, 1), date(2025, 3, 31)),
    ("last fall", date(2024, 9, 1), date(2024, 11, 30)),
    ("A1c on 6/10/2024", date(2024, 6, 10), date(2024, 6, 10)),
])
def test_time_windows_are_read(text, start, end):
    asked, unread = parse_time(text)
    period = resolve(asked, AS_OF)
    assert (period.start, period.end, unread) == (start, end, None)


def test_a_window_with_nothing_inside_says_so_and_one_not_understood_is_never_dropped(views):
    june = ask("What was her BP in June 2024?", views["rosa"])
    assert (june.value, june.date, june.sources) == ("152/94", "2024-06-10", ("Observation/rosa-bp-2024a",))
    empty = ask("LDL in March 2025?", views["rosa"])
    assert empty.result == "not_found" and empty.answer.startswith("No LDL cholesterol result in March 2025")
    assert "Latest: 128 mg/dL on 2024-11-20" in empty.answer
    colonoscopy = ask("Has he had a colonoscopy in the last 5 years?", views["oskar"])
    assert colonoscopy.result == "no" and "Last: Colonoscopy on 2019-06-20" in colonoscopy.answer
    unread = ask("What was his A1c 3 months ago?", views["oskar"])
    assert unread.answer.startswith("The time asked about ('3 months ago') was not understood")
    not_applied = ask("Was he on a statin in 2020?", views["walter"])
    assert not_applied.answer.startswith("The time asked about (in 2020) is not applied to this kind of answer")


# -- doses ---------------------------------------------------------------------------------------------------------
def test_doses_of_drugs_known_by_name_or_brand_and_no_dosing_advice(views):
    assert ask("What dose of levothyroxine?", views["amara"]).value == "75 mcg once daily"
    assert ask("How much Synthroid does she take?", views["amara"]).value == "75 mcg once daily"
    assert ask("Fosamax dose?", views["ines"]).value == "70 mg once weekly"
    flare = ask("Prednisone dose for a gout flare?", views["rosa"])
    assert flare.status == "refused" and flare.question_type == "dose"
    assert "does not give dosing advice" in flare.message and "gout" not in flare.message.lower()
    increase = ask("Should I increase her lisinopril dose?", views["rosa"])
    assert (increase.result, increase.value) == ("yes", "1 tablet, 1 per day")
    assert "does not give dosing advice" in increase.answer


def test_a_drug_only_the_record_names_is_found_by_its_text(vocab):
    terms = record_drug_terms(["mycophenolate mofetil 500 mg tablet", "24 HR metoprolol succinate 50 MG"], vocab)
    assert ("mycophenolate",) in terms and ("metoprolol",) not in terms  # metoprolol is known already
    mentions = find_mentions("Is she on mycophenolate?", vocab, extra=terms)
    assert [t.key for m in mentions for t in m.targets] == ["record:mycophenolate"]


# -- past tense, remission, vocabulary -----------------------------------------------------------------------------
def test_past_tense_and_inactive_problems(views):
    did = ask("Did he have a kidney stone?", views["oskar"])
    ever = ask("Has he ever had kidney stones?", views["oskar"])
    assert (did.result, did.sources) == (ever.result, ever.sources) == ("yes", ("Condition/oskar-kidney-stone",))
    cancer = ask("Does she have cancer?", views["beatriz"])
    assert cancer.result == "yes" and cancer.answer.startswith("Yes, not active (remission)")
    pneumonia = ask("Has she had pneumonia?", views["ines"])
    assert (pneumonia.question_type, pneumonia.result) == ("problem", "yes")
    assert ask("Does she still have pneumonia?", views["ines"]).result == "no"


@pytest.mark.parametrize("patient, question, source", [
    ("ines", "Is she on a bisphosphonate?", "MedicationStatement/ines-alendronate"),
    ("ines", "Is she taking Fosamax?", "MedicationStatement/ines-alendronate"),
    ("beatriz", "Is she on a DMARD?", "MedicationRequest/beatriz-methotrexate"),
    ("amara", "Is she on Synthroid?", "MedicationStatement/amara-levothyroxine"),
    ("walter", "Is he on a xanthine oxidase inhibitor?", "MedicationRequest/walter-allopurinol"),
])
def test_class_words_and_brands_resolve_through_the_drug_knowledge(views, patient, question, source):
    answer = ask(question, views[patient])
    assert (answer.result, answer.sources) == ("yes", (source,))


def test_question_types_of_the_new_forms(vocab):
    cases = {"Can she take amoxicillin?": "drug_safety", "Does he need a statin?": "guideline_patient",
             "What is his CHA2DS2-VASc score?": "score", "Change his apixaban to 2.5 mg.": "action",
             "Change in eGFR over the past year?": "trend", "When did she start metformin?": "medication",
             "Does she use an inhaler?": "medication", "Did he have a kidney stone?": "problem"}
    assert {q: classify(q, vocab).type for q in cases} == cases
