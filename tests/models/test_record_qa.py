"""Record question answering from structure: concepts, question types, answers with sources, 'no' with what was
searched, guideline statements applied to the patient. Record questions need no model, so these run without torch."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from engine.models.qa import Answer, KnowledgeBase, answer_question, format_answer
from engine.models.record_qa.evaluation import mismatches
from engine.models.record_qa.intent import classify
from engine.models.record_qa.vocabulary import find_mentions, load_vocabulary
from fhir_adapter.record_view import read_record_view

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = ROOT / "fixtures" / "qa"
QUESTIONS = ROOT / "fixtures" / "eval" / "record_questions.jsonl"
AS_OF = date(2025, 6, 1)
NO_KB = KnowledgeBase("none", ())
# Question types answered from the record alone, and the resource types their sources may have.
RECORD_TYPES = {
    "value": {"Observation", "Patient"}, "trend": {"Observation"}, "smoking": {"Observation"},
    "medication": {"MedicationRequest", "MedicationStatement"}, "medication_list": {"MedicationRequest",
                                                                                   "MedicationStatement"},
    "dose": {"MedicationRequest", "MedicationStatement"}, "problem": {"Condition", "Procedure"},
    "allergy": {"AllergyIntolerance"}, "allergy_list": {"AllergyIntolerance"}, "procedure": {"Procedure", "Condition"},
    "procedure_list": {"Procedure"}, "immunization": {"Immunization"}, "immunization_list": {"Immunization"},
}


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary()


def bundle(name: str) -> dict:
    return json.loads((PATIENTS / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def views():
    return {p.stem: read_record_view(bundle(p.stem), as_of=AS_OF) for p in PATIENTS.glob("*.json")}


def ask(question: str, view) -> Answer:
    return answer_question(question, view, NO_KB, use_reader=False)


# -- concepts ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("phrase, key", [
    ("eGFR", "egfr_mlmin173m2"), ("Estimated Glomerular Filtration Rate", "egfr_mlmin173m2"),
    ("kidney function", "egfr_mlmin173m2"), ("A1c", "hba1c_pct"), ("hemoglobin A1c", "hba1c_pct"),
    ("HbA1c", "hba1c_pct"), ("LDL", "ldl_mgdl"), ("BP", "blood_pressure"), ("blood pressure", "blood_pressure"),
    ("cholestrol", "chol_total_mgdl"), ("uric acid", "urate"), ("Glucose", "glucose_random_mgdl"),
])
def test_test_names_meet_their_concept(vocab, phrase, key):
    targets = [t for m in find_mentions(phrase, vocab) for t in m.targets]
    assert [t.key for t in targets] == [key]


@pytest.mark.parametrize("phrase, kind, key", [
    ("statin", "drug_class", "statin"), ("blood thinner", "drug_class", "anticoagulant"),
    ("Lipitor", "drug", "atorvastatin"), ("metfromin", "drug", "metformin"), ("ARNI", "drug_class", "arni"),
    ("heart attack", "condition", "myocardial_infarction"), ("CKD", "condition", "chronic_kidney_disease"),
    ("colonoscopy", "procedure", "colonoscopy"), ("Shingrix", "vaccine", "zoster"), ("Tdap", "vaccine", "tetanus"),
])
def test_drugs_problems_procedures_and_vaccines_resolve(vocab, phrase, kind, key):
    assert (kind, key) in {(t.kind, t.key) for m in find_mentions(phrase, vocab) for t in m.targets}


def test_abbreviations_keep_their_case_and_disease_names_need_a_vaccine_word(vocab):
    assert [t.key for m in find_mentions("his AF", vocab) for t in m.targets][:1] == ["atrial_fibrillation"]
    assert find_mentions("as of today", vocab) == []  # "AS" (aortic stenosis) is never read from "as"
    assert classify("Has she had the flu?", vocab).type != "immunization"
    assert classify("Has she had the flu shot?", vocab).type == "immunization"


@pytest.mark.parametrize("question, expected", [
    ("What was her last A1c?", "value"), ("eGFR trend over the past year", "trend"),
    ("Is she on a statin?", "medication"), ("What blood pressure medicines is she on?", "medication_list"),
    ("What dose of lisinopril is she on?", "dose"), ("Does he have heart failure?", "problem"),
    ("Is she allergic to penicillin?", "allergy"), ("What is she allergic to?", "allergy_list"),
    ("Has she had a colonoscopy?", "procedure"), ("Flu shot this season?", "immunization"),
    ("Does she smoke?", "smoking"), ("At what A1c is diabetes diagnosed?", "guideline"),
    ("What is the LDL goal for this patient?", "guideline_patient"), ("Book him an MRI", "action"),
    ("Who won the 1966 World Cup?", "unknown"), ("Is he taking anything for gout?", "medication_list"),
])
def test_question_types(vocab, question, expected):
    assert classify(question, vocab).type == expected


# -- the record view -----------------------------------------------------------------------------------------------
def test_record_view_reads_every_entry_of_the_patient_only():
    data = bundle("walter")
    other = {"resourceType": "Observation", "id": "someone-else", "status": "final",
             "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3"}]},
             "subject": {"reference": "Patient/not-walter"}, "effectiveDateTime": "2025-05-30",
             "valueQuantity": {"value": 6.9, "unit": "mmol/L"}}
    erroneous = dict(other, id="error", subject={"reference": "Patient/qa-walter"}, status="entered-in-error")
    data["entry"] += [{"resource": other}, {"resource": erroneous}]
    view = read_record_view(data, as_of=AS_OF)
    assert view.searched["Observation"] == 13  # 12 of his, plus the entered-in-error one; not the other patient's
    assert {m.source for m in view.measurements}.isdisjoint({"Observation/someone-else", "Observation/error"})
    answer = ask("What's his potassium?", view)
    assert (answer.value, answer.sources) == ("4.9", ("Observation/walter-potassium-2025",))


def test_the_question_set_is_well_formed():
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines()]
    assert len({r["id"] for r in rows}) == len(rows) >= 60
    assert {r["patient"] for r in rows} - {None} <= {p.stem for p in PATIENTS.glob("*.json")}
    assert {r["split"] for r in rows} == {"dev", "holdout1", "holdout2", "holdout3", "holdout4", "holdout5"}


def test_fixture_patients_are_in_sync_with_their_builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_patients", PATIENTS / "build_patients.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, built in module.build().items():
        assert json.loads((PATIENTS / f"{name}.json").read_text()) == built, name


# -- answers -------------------------------------------------------------------------------------------------------
def test_value_with_unit_date_and_source(views):
    answer = ask("What was her last A1c?", views["rosa"])
    assert (answer.status, answer.method, answer.result) == ("answered", "record", "value")
    assert (answer.value, answer.unit, answer.date) == ("7.2", "%", "2024-11-20")
    assert answer.sources == ("Observation/rosa-a1c-2024b",)
    assert answer.supports[0].code == "LOINC 4548-4"
    assert "Previous: 7.6 % on 2024-01-15" in answer.answer


def test_si_units_are_reported_as_recorded_with_the_conversion(views):
    answer = ask("What's his A1c?", views["kenji"])
    assert (answer.value, answer.unit) == ("53", "mmol/mol")
    assert "53 mmol/mol (7.0 %)" in answer.answer


def test_blood_pressure_from_a_panel_and_from_separate_observations(views):
    panel = ask("What is her blood pressure?", views["rosa"])
    assert (panel.value, panel.unit, panel.sources) == ("138/86", "mmHg", ("Observation/rosa-bp-2025",))
    separate = ask("Blood pressure?", views["walter"])
    assert separate.value == "128/74"
    assert set(separate.sources) == {"Observation/walter-sbp-2025", "Observation/walter-dbp-2025"}
    systolic = ask("Systolic pressure?", views["kenji"])
    assert (systolic.value, systolic.sources) == ("134", ("Observation/kenji-bp-2025",))


def test_title_case_lab_names_are_values_not_headings(views):
    answer = ask("What is her glucose?", views["rosa"])
    assert (answer.value, answer.unit, answer.sources) == ("142", "mg/dL", ("Observation/rosa-glucose-2024",))


def test_no_with_what_was_searched(views):
    answer = ask("Is she on a statin?", views["rosa"])
    assert answer.result == "no" and answer.sources == ()
    assert answer.answer.startswith("No statin on the active medication list (searched 3 MedicationRequest, "
                                    "1 MedicationStatement).")
    assert "simvastatin 20 MG Oral Tablet (MedicationRequest/rosa-simvastatin, status 'stopped')" in answer.answer
    assert [s.source for s in answer.supports if s.kind == "related"] == ["MedicationRequest/rosa-simvastatin"]
    assert ask("Has she ever been on a statin?", views["rosa"]).sources == ("MedicationRequest/rosa-simvastatin",)
    missing = ask("What is her LDL?", views["amara"])
    assert missing.result == "not_found" and missing.answer == "No LDL cholesterol result in the record " \
                                                               "(searched 6 Observation)."


def test_coded_smoking_status(views):
    assert (ask("Does she smoke?", views["rosa"]).result, ask("Does she smoke?", views["rosa"]).value) == \
        ("no", "Ex-smoker")
    assert ask("Does he smoke?", views["kenji"]).result == "yes"
    assert ask("Is he a smoker?", views["walter"]).value == "Never smoker"


def test_procedures_allergies_and_immunizations(views):
    assert ask("Has she had a colonoscopy?", views["rosa"]).date == "2021-04-12"
    assert ask("Has he ever had a colonoscopy?", views["kenji"]).answer == \
        "No colonoscopy in the record (searched 0 Procedure)."
    assert ask("Is she allergic to penicillin?", views["rosa"]).sources == ("AllergyIntolerance/rosa-penicillin",)
    nkda = ask("Any drug allergies?", views["walter"])
    assert nkda.result == "no" and nkda.sources == ("AllergyIntolerance/walter-nkda",)
    flu = ask("Flu shot this season?", views["walter"])
    assert flu.result == "no" and "since 2024-08-01" in flu.answer and "2023-10-01" in flu.answer
    assert ask("Has she had a COVID booster?", views["ines"]).result == "no"  # the recorded dose was not done


def test_a_question_is_never_answered_with_a_value_of_another_type(views):
    dose = ask("Amoxicillin dose for otitis media?", views["rosa"])
    assert dose.status == "refused" and dose.value is None
    assert "glucose" not in (dose.message or "").lower()
    assert not [s for s in dose.supports if s.source and s.source.startswith("Observation/")]
    recorded = ask("What dose of apixaban is he taking?", views["walter"])
    assert (recorded.result, recorded.value) == ("yes", "1 tablet, 2 per day")


def test_every_record_answer_of_the_set_rests_only_on_entries_of_its_kind(views):
    for row in map(json.loads, QUESTIONS.read_text().splitlines()):
        if not row["patient"]:
            continue
        answer = ask(row["question"], views[row["patient"]])
        allowed = RECORD_TYPES.get(answer.question_type)
        if allowed is None:
            continue
        kinds = {s.source.split("/")[0] for s in answer.supports if s.kind in ("record", "related")}
        assert kinds <= allowed, (row["question"], answer.question_type, kinds)


def test_guideline_statement_with_the_patients_own_facts(views):
    answer = answer_question("What is the LDL goal for this patient?", views["rosa"], use_reader=False)
    assert answer.method == "record+guideline" and answer.statement_ids[0] == "lipid-diabetes"
    assert "Observation/rosa-ldl-2024" in answer.sources and "Condition/rosa-dm2" in answer.sources
    risk = [s for s in answer.supports if s.kind == "calculation"]
    assert risk and risk[0].source == "calculation:pce-2013" and risk[0].unit == "%"
    secondary = answer_question("What is his LDL goal?", views["walter"], use_reader=False)
    assert secondary.statement_ids == ("lipid-ascvd",) and "not calculated" in secondary.answer
    text = format_answer(answer)
    assert "Grundy 2019" in text and "Observation/rosa-ldl-2024" in text


def test_actions_and_record_questions_without_a_record_are_refused(views):
    action = ask("Order a chest X-ray for him.", views["oskar"])
    assert action.status == "refused" and action.question_type == "action"
    empty = ask("   ", views["oskar"])
    assert empty.status == "refused" and empty.message == "The question is empty."


def test_record_questions_of_the_evaluation_set_are_exact(views):
    """The questions answered from the record alone (no encoder needed); the full set runs in
    test_record_qa_evaluation with the sentence encoder."""
    failures = []
    for row in map(json.loads, QUESTIONS.read_text().splitlines()):
        if not row["patient"] or row["category"] in ("guideline", "out_of_scope"):
            continue
        view = read_record_view(bundle(row["patient"]), as_of=date.fromisoformat(row["as_of"]))
        answer = answer_question(row["question"], view, use_reader=False)
        problems = mismatches(answer.to_dict(), row["expect"])
        if problems:
            failures.append((row["id"], row["question"], problems))
    assert not failures


def test_synthea_records_are_answered_from_their_structure():
    """Optional: the Synthea bundles of ../shared/data (skipped when absent)."""
    synthea = ROOT.parent / "shared" / "data" / "synthea"
    files = sorted(synthea.glob("*.json")) if synthea.is_dir() else []
    if not files:
        pytest.skip("Synthea bundles not present (../shared/data/synthea)")
    for path in files:
        data = json.loads(path.read_text())
        view = read_record_view(data, as_of=date(2025, 6, 1))
        ids = {f"{e['resource']['resourceType']}/{e['resource'].get('id')}" for e in data["entry"]}
        colonoscopies = {f"Procedure/{e['resource']['id']}" for e in data["entry"]
                         if e["resource"]["resourceType"] == "Procedure"
                         and any(c.get("code") == "73761001" for c in e["resource"]["code"]["coding"])}
        answer = ask("Has the patient had a colonoscopy?", view)
        assert set(answer.sources) == colonoscopies and answer.result == ("yes" if colonoscopies else "no")
        for question in ("What was the last blood pressure?", "Is the patient on a statin?", "Latest eGFR?",
                         "Any allergies?", "Did the patient get a flu shot this season?", "Does the patient smoke?"):
            answer = ask(question, view)
            assert answer.status == "answered", (path.name, question, answer.message)
            assert set(answer.sources) <= ids, (path.name, question)
