import dataclasses
from datetime import date

from engine.models.qa import Answer, KnowledgeBase, answer_question, format_answer, load_knowledge_base
from engine.models.settings import ModelSettings
from fhir_adapter.notes import NoteRecord


def settings(threshold: float = 0.3) -> ModelSettings:
    return dataclasses.replace(ModelSettings.from_env(), qa_min_similarity=threshold, qa_dir=None)


RECORD = [NoteRecord("DocumentReference/1", date(2024, 1, 2), "She has type 2 diabetes on metformin. No asthma.", "DocumentReference")]


def test_knowledge_base_is_cited():
    kb = load_knowledge_base()
    assert len(kb) >= 30
    for s in kb.statements:
        assert s.text and s.citation.full and (s.citation.doi or s.citation.url)


def test_answers_from_the_record_with_sources(fake_encoder):
    answer = answer_question("does she have diabetes", RECORD, KnowledgeBase("t", ()), encoder=fake_encoder,
                             settings=settings(), use_reader=False)
    assert isinstance(answer, Answer) and answer.answered and answer.method == "retrieval"
    assert answer.answer == "She has type 2 diabetes on metformin."
    top = answer.supports[0]
    assert (top.source, top.date, top.start, top.end) == ("DocumentReference/1", "2024-01-02", 0, 37)
    assert "DocumentReference/1" in format_answer(answer)


def test_answers_from_the_knowledge_base(fake_encoder):
    answer = answer_question("what is the treatment of choice for hypothyroidism", [], None, encoder=fake_encoder,
                             settings=settings(), use_reader=False)
    assert answer.answered and answer.supports[0].statement_id == "thyroid-levothyroxine"
    assert answer.supports[0].citation.short.startswith("Jonklaas 2014")


def test_refuses_below_threshold_and_on_empty_input(fake_encoder):
    answer = answer_question("capital of france", RECORD, None, encoder=fake_encoder, settings=settings(0.3),
                             use_reader=False)
    assert answer.status == "refused" and answer.answer is None and answer.supports == ()
    assert "best similarity" in answer.message and answer.best_similarity < 0.3
    assert answer_question("   ", RECORD, encoder=fake_encoder).status == "refused"
    assert answer_question("diabetes", [], KnowledgeBase("t", ()), encoder=fake_encoder).status == "refused"


def test_extractive_reader_returns_a_verbatim_span(tiny_qa_dir, model_env, fake_encoder):
    model_env(qa=tiny_qa_dir)
    s = dataclasses.replace(ModelSettings.from_env(), qa_min_similarity=0.3)
    answer = answer_question("does she have diabetes", RECORD, KnowledgeBase("t", ()), encoder=fake_encoder, settings=s)
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
