"""Note understanding: spelling, abbreviations and stages, modifiers, counselling and cures, section scope, codes."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from engine.models import fuzzy
from engine.models.concepts import ICD10CM, SNOMED, load_concepts
from engine.models.matcher import ConceptMatcher, concept_term_words
from engine.models.notes import extract_mentions, note_diagnosis_findings
from engine.models.sentences import split_sentences

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import eval_notes  # noqa: E402


@dataclass(frozen=True)
class Note:
    source: str
    date: date | None
    text: str


@pytest.fixture(scope="module")
def lexical():
    return ConceptMatcher(load_concepts())


def concepts_in(matcher, sentence: str) -> dict[str, str]:
    """concept id -> matched text, for one sentence."""
    mentions, _ = matcher.lexical(sentence)
    return {m.concept.id: m.text for m in mentions}


def suggestions(matcher, text: str) -> dict[str, str]:
    """concept id -> ICD-10-CM code of the suggestions for one note."""
    findings = note_diagnosis_findings([Note("DocumentReference/n", date(2024, 1, 1), text)], set(), date(2024, 6, 1),
                                       matcher=matcher)
    return {f.condition.id: next(c.code for c in f.condition.codings if c.system == ICD10CM) for f in findings}


# -- spelling ------------------------------------------------------------------------------------------------------

def test_misspelled_words_are_corrected_and_quoted_as_written(lexical):
    mentions, _ = lexical.lexical("Longstanding hypertention and atrial fibrilation.")
    by_id = {m.concept.id: m for m in mentions}
    assert by_id["hypertension"].text == "hypertention" and by_id["hypertension"].method == "fuzzy"
    assert by_id["atrial-fibrillation"].text == "atrial fibrilation"  # the note's own words, exact offsets
    assert 0 < by_id["hypertension"].score < 1


def test_real_words_near_a_condition_name_are_not_corrected(lexical):
    for sentence in ("Hypotension during dialysis.", "Migrant farm worker.", "Diverticulitis treated in June.",
                     "Anomia after the stroke."):
        assert concepts_in(lexical, sentence) == {}, sentence


def test_short_words_and_abbreviations_are_never_corrected(lexical):
    speller = lexical.speller
    assert speller.correct_word("gaut") is None  # four letters: too short to tell a typo
    assert speller.correct_word("diabetis") == ("diabetes", 1)  # the tie with "diabetic" goes to the same last letter
    assert speller.correct_word("chron's") == ("crohn's", 2)  # seven letters: two edits allowed
    assert fuzzy.max_distance("asthma") == 1 and fuzzy.max_distance("migraine") == 2


def test_corrected_text_maps_back_to_the_original_offsets():
    text = "Osteoporsis and diabeties noted."
    corrections = [fuzzy.Correction(0, 11, "osteoporosis", 1), fuzzy.Correction(16, 25, "diabetes", 1)]
    corrected, segments, fixed = fuzzy.apply(text, corrections)
    assert corrected == "osteoporosis and diabetes noted."
    start, end = fixed[1]
    assert text[fuzzy.to_original(start, segments):fuzzy.to_original(end, segments, end=True)] == "diabeties"


def test_the_guard_list_was_built_for_the_current_concept_list():
    guard = json.loads(fuzzy.GUARD_PATH.read_text())
    assert guard["term_words_sha256"] == fuzzy.words_digest(concept_term_words()), (
        "concept synonyms changed: run scripts/build_fuzzy_guard.py /usr/share/dict/american-english-huge")
    assert "hypotension" in guard["words"] and "migrant" in guard["words"]


# -- abbreviations, stages, modifiers -------------------------------------------------------------------------------

def test_abbreviations_in_any_case_except_common_words(lexical):
    assert set(concepts_in(lexical, "pmh: htn, hld, copd, dm")) == {
        "hypertension", "hyperlipidemia", "copd", "diabetes-mellitus"}
    assert concepts_in(lexical, "Dm type 1 on a pump") == {"type-1-diabetes": "Dm type 1"}
    # "pad", "add", "aids" and "Nash" are words or names in lower or title case; the upper case still counts
    assert concepts_in(lexical, "ECG pad placed; hearing aids; seen by Dr. Nash; add fiber") == {}
    assert "peripheral-arterial-disease" in concepts_in(lexical, "PAD with claudication")
    assert concepts_in(lexical, "GAD-7 score 3") == {}  # a questionnaire, not the disorder


@pytest.mark.parametrize("text,code", [
    ("Pt with CKD3, eGFR 48.", "N18.30"),
    ("ckd 3b, followed by nephrology", "N18.32"),
    ("CKD-3a, stable.", "N18.31"),
    ("CKD stage IV, discussing dialysis options.", "N18.4"),
    ("Stage 2 chronic kidney disease.", "N18.2"),
    ("CKD G3bA2 per KDIGO staging.", "N18.32"),
    ("ESRD on hemodialysis.", "N18.6"),
    ("CKD 5D on home hemodialysis.", "N18.6"),
    ("CKD stage 5 on peritoneal dialysis.", "N18.6"),
    ("CKD stage 5, not yet on dialysis.", "N18.5"),
    ("Chronic kidney disease, stage not documented.", "N18.9"),
    ("CKD for 2 years.", "N18.9"),  # a duration is not a stage
])
def test_ckd_stage_selects_the_icd10cm_code(lexical, text, code):
    assert suggestions(lexical, text)["chronic-kidney-disease"] == code


def test_ckd_stage_codes_carry_the_snomed_stage_concept(lexical):
    (finding,) = note_diagnosis_findings([Note("DocumentReference/n", date(2024, 1, 1), "CKD 3b, on losartan.")],
                                         set(), date(2024, 6, 1), matcher=lexical)
    assert finding.value == "Chronic kidney disease stage 3b"
    codings = {(c.system, c.code) for c in finding.condition.codings}
    assert codings == {(SNOMED, "700379002"), (ICD10CM, "N18.32")}
    assert any("N18.32" in a and "3B" in a for a in finding.assumptions)
    assert finding.mentions[0].code == "N18.32"


@pytest.mark.parametrize("text,expected", [
    ("T2DM with peripheral neuropathy, on gabapentin.", {"type-2-diabetes": "E11.42"}),
    ("Type 2 diabetes with autonomic neuropathy.", {"type-2-diabetes": "E11.43"}),
    ("Poorly controlled type 2 diabetes, A1c 10.4.", {"type-2-diabetes": "E11.65"}),
    ("Type 1 diabetes with recurrent hypoglycemia.", {"type-1-diabetes": "E10.649"}),
    ("T2DM with diabetic nephropathy.", {"type-2-diabetes": "E11.21"}),
    ("Type 2 diabetes with diabetic retinopathy and macular edema.", {"type-2-diabetes": "E11.311"}),
    ("Diabetes mellitus with peripheral neuropathy, type not documented.", {"diabetes-mellitus": "E11.42"}),
    ("T2DM with CKD stage 4.", {"type-2-diabetes": "E11.22", "chronic-kidney-disease": "N18.4"}),
    ("T2DM, no retinopathy on dilated exam.", {"type-2-diabetes": "E11.9"}),
    ("Type 2 diabetes and hypertension.", {"type-2-diabetes": "E11.9", "hypertension": "I10"}),
])
def test_diabetes_with_a_stated_complication_gets_the_combination_code(lexical, text, expected):
    assert suggestions(lexical, text) == expected


def test_combination_code_keeps_the_concept_snomed_code(lexical):
    (finding,) = note_diagnosis_findings(
        [Note("DocumentReference/n", date(2024, 1, 1), "T2DM with peripheral neuropathy.")], set(), date(2024, 6, 1),
        matcher=lexical)
    assert finding.value == "Type 2 diabetes mellitus with diabetic polyneuropathy"
    assert [(c.system, c.code) for c in finding.condition.codings] == [(SNOMED, "44054006"), (ICD10CM, "E11.42")]


@pytest.mark.parametrize("text", [
    "Portal hypertension with varices.", "Ocular HTN, on timolol.", "Idiopathic intracranial hypertension.",
    "Venous hypertension of the legs.", "Pseudo-gout of the knee.", "Central sleep apnea on the study.",
])
def test_a_modifier_makes_it_another_condition(lexical, text):
    assert concepts_in(lexical, text) == {}


def test_pulmonary_hypertension_is_its_own_concept(lexical):
    assert set(concepts_in(lexical, "Pulmonary HTN, WHO group 3.")) == {"pulmonary-hypertension"}
    assert set(concepts_in(lexical, "Malignant hypertension on three agents.")) == {"hypertension"}


# -- assertion: counselling, prevention, risk, cures ---------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Reviewed warning signs of heart failure to watch for at home.",
    "Discussed diabetes prevention with diet and exercise.",
    "Counseled on the risk of osteoporosis with long-term prednisone.",
    "DEXA ordered given her osteoporosis risk.",
    "Metformin discussed as a way to delay type 2 diabetes.",
    "Hepatitis C, SVR12 achieved after sofosbuvir-velpatasvir.",
    "Graves disease treated with RAI in 2015.",
    "No longer meets criteria for alcohol use disorder.",
    "She no longer has asthma per pulmonology.",
])
def test_counselling_prevention_risk_and_cures_are_not_suggested(lexical, text):
    assert suggestions(lexical, text) == {}


@pytest.mark.parametrize("text, concept", [
    ("Education given on gout flare prevention.", "gout"),
    ("Reviewed asthma attack prevention at school.", "asthma"),
    ("COPD exacerbation risk discussed before the winter.", "copd"),
])
def test_prevention_and_risk_reach_over_a_word_naming_an_episode(text, concept):
    assert eval_notes.predicted({"id": "x", "text": text, "category": "x", "expect": []},
                                ConceptMatcher(load_concepts()))[0] == {concept: "hypothetical"}


def test_prevention_does_not_reach_over_another_condition(lexical):
    # "stroke prevention" is about stroke; the hypertension before it is the patient's own
    assert suggestions(lexical, "Hypertension, stroke prevention with aspirin.") == {"hypertension": "I10"}


def test_a_direct_message_is_not_diabetes(lexical):
    for text in ("Daughter will send a dm on the portal.", "Asked him to DM me the readings.",
                 "Results sent by direct message."):
        assert concepts_in(lexical, text) == {}, text
    assert suggestions(lexical, "pmh: htn, dm, copd") == {"hypertension": "I10", "diabetes-mellitus": "E11.9",
                                                           "copd": "J44.9"}


@pytest.mark.parametrize("text, code", [
    ("Renovascular hypertension from fibromuscular dysplasia.", "I15.0"),
    ("Hypertension secondary to renal artery stenosis.", "I15.0"),
    ("Secondary hypertension, aldosteronism confirmed.", "I15.9"),
    ("Hypothyroidism 2/2 Hashimoto.", "E06.3"),
    ("Hashimoto's thyroiditis on levothyroxine.", "E06.3"),
    ("Essential hypertension, long standing.", "I10"),
    ("Hypertension, secondary hyperparathyroidism on cinacalcet.", "I10"),
])
def test_a_stated_cause_selects_its_own_code(lexical, text, code):
    assert list(suggestions(lexical, text).values())[:1] == [code]


def test_what_cures_one_condition_is_treatment_of_another(lexical):
    # RAI is definitive treatment of hyperthyroidism only; "secondary prevention" means the patient has the disease
    assert suggestions(lexical, "Hypertension treated with lisinopril, SVR not applicable.") == {"hypertension": "I10"}
    assert "coronary-artery-disease" in suggestions(lexical, "Statin for secondary prevention of coronary artery disease.")
    assert "psoriasis" in suggestions(lexical, "Sun protection to reduce psoriasis flares was not discussed.")


# -- sections --------------------------------------------------------------------------------------------------------

def test_family_history_ends_at_a_blank_line(lexical):
    text = "FAMILY HISTORY: Father had coronary artery disease.\n\nPatient has hyperlipidemia on atorvastatin."
    assert suggestions(lexical, text) == {"hyperlipidemia": "E78.5"}
    sections = [s.section for s in split_sentences(text)]
    assert sections == ["family history", None]


def test_heading_alone_on_its_line_and_relative_labelled_lines():
    text = "Family History\n  Mother: dementia\n\nMedications:\n  Metformin for type 2 diabetes"
    by_text = {s.text: s.section for s in split_sentences(text)}
    assert by_text == {"Mother: dementia": "family history", "Metformin for type 2 diabetes": "medications"}
    text = "PMH:\n- Mother: breast cancer\n- Asthma"
    assert {s.text: s.section for s in split_sentences(text)} == {
        "Mother: breast cancer": "family history", "Asthma": "past medical history"}


def test_a_heading_inside_a_line_and_the_patient_as_subject(lexical):
    assert suggestions(lexical, "FH: mother with COPD. PMH: asthma.") == {"asthma": "J45.909"}
    assert suggestions(lexical, "Family history: father with gout. Patient has psoriasis.") == {"psoriasis": "L40.9"}


# -- the evaluation set ------------------------------------------------------------------------------------------------

def test_evaluation_set_covers_every_category_and_meets_the_precision_target():
    rows = eval_notes.load("all")
    assert len(rows) >= 300
    assert {r["category"] for r in rows} == set(eval_notes.CATEGORIES)
    concepts = {c.id for c in load_concepts().concepts}
    assert all(e["concept"] in concepts for r in rows for e in r["expect"])
    for split in ("holdout", "blind", "all"):
        f = eval_notes.evaluate(eval_notes.load(split))["all"].figures()
        assert f["suggestion_precision"] >= 0.95, split  # the target, on every split
    # Figures reported in docs/models.md: a rule change that moves them must be noticed.
    tallies = eval_notes.evaluate(eval_notes.load("blind"))
    assert tallies["misspelling"].figures()["detection_recall"] == pytest.approx(5 / 7)
    assert tallies["abbreviation"].figures()["detection_recall"] == 1.0
    overall = eval_notes.evaluate(rows)
    assert overall["misspelling"].figures()["detection_recall"] >= 0.95
    assert overall["abbreviation"].figures()["detection_recall"] >= 0.95


def test_mentions_of_the_set_keep_exact_offsets(lexical):
    for row in eval_notes.load("all")[::7]:
        note = Note("DocumentReference/x", None, row["text"])
        for m in extract_mentions([note], lexical):
            assert row["text"][m.mention_start:m.mention_end] == m.matched_text
