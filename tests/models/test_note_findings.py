from dataclasses import dataclass
from datetime import date, datetime

import pytest

from cards.fhir import BuildContext, action_for
from engine.finding import Kind, Status
from engine.models.concepts import ICD10CM, SNOMED, load_concepts
from engine.models.matcher import ConceptMatcher
from engine.models.notes import NoteDiagnosisEngine, extract_mentions, note_diagnosis_findings
from fhir_adapter.notes import active_condition_codes, extract_notes


@dataclass(frozen=True)
class Note:
    source: str
    date: date | datetime | None
    text: str


@pytest.fixture(scope="module")
def lexical():
    return ConceptMatcher(load_concepts())  # no encoder: lexical rules only


def test_fixture_record_suggestions(notes_bundle, lexical):
    notes = extract_notes(notes_bundle)
    findings = note_diagnosis_findings(notes, active_condition_codes(notes_bundle), date(2024, 3, 15), matcher=lexical)
    by_concept = {f.condition.id: f for f in findings}
    # Affirmed and absent from the problem list:
    assert set(by_concept) == {"atrial-fibrillation", "obesity", "type-2-diabetes"}
    # Not suggested: hypertension (SNOMED on list), hyperlipidemia (ICD-10-CM E78.5 on list), OSA (rule out),
    # CAD (family / negated), heart failure (hypothetical, negated), asthma (later note denies, resolved),
    # COPD (negated), gestational diabetes (blocked), epilepsy (entered-in-error note).
    f = by_concept["type-2-diabetes"]
    assert f.kind is Kind.DIAGNOSIS and f.status is Status.COMPUTED and f.engine_id == "note-diagnosis"
    assert f.id == "note-diagnosis:type-2-diabetes"
    note_text = next(n.text for n in notes if n.source == "DocumentReference/note-pc-2024")
    for ev in f.inputs:
        assert ev.source == "DocumentReference/note-pc-2024"
        assert ev.effective.date() == date(2024, 3, 12)
        m = next(x for x in f.mentions if x.sentence == ev.value)
        assert note_text[m.sentence_start:m.sentence_end] == ev.value  # exact sentence span
        assert note_text[m.mention_start:m.mention_end].lower().replace("\n", " ").startswith("type 2 diabetes")
        assert f"chars {m.sentence_start}-{m.sentence_end}" in ev.note


def test_action_is_a_valid_provisional_r4_condition(notes_bundle, lexical):
    from fhir.resources.R4B.condition import Condition

    findings = note_diagnosis_findings(extract_notes(notes_bundle), set(), date(2024, 3, 15), matcher=lexical)
    af = next(f for f in findings if f.condition.id == "atrial-fibrillation")
    (suggestion,) = af.suggestions
    action = action_for(suggestion.proposals[0], BuildContext(patient_id="pt-notes-1"))
    resource = action["resource"]
    assert action["type"] == "create" and resource["subject"] == {"reference": "Patient/pt-notes-1"}
    Condition.model_validate(resource)
    assert resource["verificationStatus"]["coding"][0]["code"] == "provisional"
    assert resource["clinicalStatus"]["coding"][0]["code"] == "active"
    assert [(c["system"], c["code"]) for c in resource["code"]["coding"]] == [(SNOMED, "49436004"), (ICD10CM, "I48.91")]
    assert resource["evidence"] == [{"detail": [{"reference": "DocumentReference/note-cardio-2023"}]}]


def test_later_negation_or_resolution_withdraws_a_suggestion(lexical):
    early = Note("DocumentReference/1", date(2020, 1, 1), "Asthma, on inhaled steroids.")
    later = Note("DocumentReference/2", date(2023, 1, 1), "Asthma resolved, off all inhalers.")
    assert note_diagnosis_findings([early], set(), date(2024, 1, 1), matcher=lexical)
    assert note_diagnosis_findings([early, later], set(), date(2024, 1, 1), matcher=lexical) == []
    # ...but an older negation does not cancel a newer affirmation
    assert note_diagnosis_findings([later, Note("DocumentReference/3", date(2023, 6, 1), "Asthma flare today.")],
                                   set(), date(2024, 1, 1), matcher=lexical)


def test_future_notes_are_ignored_and_generic_duplicates_dropped(lexical):
    future = Note("DocumentReference/f", date(2030, 1, 1), "Patient has epilepsy.")
    assert note_diagnosis_findings([future], set(), date(2024, 1, 1), matcher=lexical) == []
    both = Note("DocumentReference/d", date(2023, 1, 1), "Type 2 diabetes. Her diabetes is well controlled.")
    ids = [f.condition.id for f in note_diagnosis_findings([both], set(), date(2024, 1, 1), matcher=lexical)]
    assert ids == ["type-2-diabetes"]


def test_documented_by_any_related_code_is_not_suggested(lexical):
    note = Note("DocumentReference/x", date(2023, 1, 1), "CKD stage 3b.")
    assert note_diagnosis_findings([note], {(SNOMED, "433144002")}, date(2024, 1, 1), matcher=lexical) == []
    assert note_diagnosis_findings([note], {(ICD10CM, "N18.32")}, date(2024, 1, 1), matcher=lexical) == []
    assert len(note_diagnosis_findings([note], {(ICD10CM, "I10")}, date(2024, 1, 1), matcher=lexical)) == 1


def test_bad_notes_do_not_raise(lexical):
    junk = [Note("DocumentReference/a", None, ""), Note("DocumentReference/b", None, None),
            Note("", None, "COPD."), object()]
    findings = note_diagnosis_findings(junk, set(), date(2024, 1, 1), matcher=lexical)
    assert [f.condition.id for f in findings] == ["copd"]
    engine = NoteDiagnosisEngine(matcher=lexical)
    assert engine.evaluate(None) == []
    assert engine.evaluate_notes([Note("DocumentReference/c", None, "Gout.")], set(), date(2024, 1, 1))[0].value == "Gout"
    assert engine.evaluate_notes(None, set(), date(2024, 1, 1))[0].status is Status.ERROR  # type error contained


def test_mentions_cover_all_assertions(notes_bundle, lexical):
    labels = {m.assertion.label.value for m in extract_mentions(extract_notes(notes_bundle), lexical)}
    assert labels == {"affirmed", "negated", "family", "historical", "hypothetical"}
