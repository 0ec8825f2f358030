"""Offline language and trained models: note mining, question answering, training.

Importing this package is cheap: it registers the trained-model engine (engine.registry.models)
and nothing else. torch and transformers are imported inside functions on first use, after the
process is switched to offline mode (see engine.models.loader).

Public API:
    engine.models.notes.note_diagnosis_findings(notes, active_condition_codes, as_of) -> list[Finding]
    engine.models.qa.answer_question(question, record_view, knowledge_base=None) -> Answer (docs/qa.md)
    engine.models.training.pipeline.train_tabular(...) / train_text(...) / train_preset("uci-heart", out)
    engine.models.trained_engine.TrainedTabularModel (registered as "trained-tabular-model")
    engine.models.cli.cli (click group: train, ask, notes, calibrate) / main(argv)
"""
from engine.models import trained_engine  # noqa: F401 - registers the engine
