"""Retrieval over the guideline statements (the part of question answering that uses the encoder), with a fake
encoder; record questions are tested in test_record_qa.py."""
import dataclasses
import json
from datetime import date
from pathlib import Path

from engine.models.qa import Answer, KnowledgeBase, answer_question, format_answer, load_knowledge_base
from engine.models.settings import ModelSettings
from fhir_adapter.record_view import read_record_view

ROOT = Path(__file__).resolve().parents[2]


def settings(threshold: float = 0.3) -> ModelSettings:
    return dataclasses.replace(ModelSettings.from_env(), qa_min_similarity=threshold, qa_dir=None)


def test_knowledge_base_is_cited_and_its_applicability_names_known_features():
    from engine.feature_catalog import FEATURE_SPECS

    kb = load_knowledge_base()
    assert len(kb) >= 30
    names: set[str] = set()

    def collect(expr):
        if isinstance(expr, dict):
            if "feature" in expr:
                names.add(expr["feature"])
            for value in expr.values():
                collect(value)
        elif isinstance(expr, list):
            for value in expr:
                collect(value)

    for s in kb.statements:
        assert s.text and s.citation.full and (s.citation.doi or s.citation.url)
        collect(s.applies)
    assert names and names <= set(FEATURE_SPECS)


def test_answers_from_the_knowledge_base(fake_encoder):
    answer = answer_question("what is the treatment of choice for hypothyroidism", None, None, encoder=fake_encoder,
                             settings=settings(), use_reader=False)
    assert isinstance(answer, Answer) and answer.answered and answer.method == "retrieval"
    assert answer.question_type == "guideline" and answer.supports[0].statement_id == "thyroid-levothyroxine"
    assert answer.supports[0].citation.short.startswith("Jonklaas 2014")
    assert "Jonklaas 2014" in format_answer(answer)


def test_refuses_below_threshold_and_on_empty_input(fake_encoder):
    answer = answer_question("capital of france", None, None, encoder=fake_encoder, settings=settings(0.3),
                             use_reader=False)
    assert answer.status == "refused" and answer.answer is None and answer.supports == ()
    assert answer.question_type == "out_of_scope" and "best similarity" in answer.message
    assert answer.best_similarity < 0.3
    assert answer_question("   ", None, encoder=fake_encoder).status == "refused"
    assert answer_question("who should be screened", None, KnowledgeBase("t", ()), encoder=fake_encoder).status == \
        "refused"


def test_record_questions_do_not_load_the_encoder(fake_encoder):
    view = read_record_view(json.loads((ROOT / "fixtures" / "qa" / "rosa.json").read_text()), as_of=date(2025, 6, 1))
    answer = answer_question("does she have diabetes", view, encoder=fake_encoder, settings=settings())
    assert answer.answered and answer.method == "record" and fake_encoder.calls == 0
    assert answer.sources == ("Condition/rosa-dm2",)


def test_extractive_reader_returns_a_verbatim_span(tiny_qa_dir, model_env, fake_encoder):
    model_env(qa=tiny_qa_dir)
    s = dataclasses.replace(ModelSettings.from_env(), qa_min_similarity=0.3)
    answer = answer_question("what is the treatment of choice for hypothyroidism", None, encoder=fake_encoder,
                             settings=s)
    assert answer.answered and answer.models.get("reader")
    if answer.method == "extractive-qa":  # a random head may prefer "no answer"; either way the contract holds
        assert answer.answer == answer.answer_source.text[answer.answer_start:answer.answer_end]
    else:
        assert answer.method == "retrieval"


def test_reader_spans(tiny_qa_dir):
    from engine.models.loader import import_torch, import_transformers
    from engine.models.reader import ExtractiveReader

    torch, transformers = import_torch(), import_transformers()
    tok = transformers.AutoTokenizer.from_pretrained(str(tiny_qa_dir), local_files_only=True)
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(str(tiny_qa_dir), local_files_only=True).eval()
    reader = ExtractiveReader(tok, model, torch, max_answer_tokens=3)
    passages = ["she has diabetes on metformin", "no asthma today"]
    spans = reader.best_spans("does she have diabetes", passages)
    assert len(spans) == 2
    for span in spans:
        text = passages[span.passage_index]
        assert 0 <= span.start < span.end <= len(text)
        assert len(text[span.start:span.end].split()) <= 3
