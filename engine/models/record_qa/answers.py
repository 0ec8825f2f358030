"""Answers read from the record: value, unit, date and the resource each came from, or "no" with what was searched.

One function per question type (intent.py): results (results.py), the medication list (medications.py), problems,
procedures, immunizations and allergies (entries.py), whether a drug may be given (safety.py), risk scores
(scores.py). What an answer is made of: facts.py.
"""
from __future__ import annotations

from engine.models.record_qa.entries import (
    answer_allergy,
    answer_allergy_list,
    answer_free_text,
    answer_immunization,
    answer_immunization_list,
    answer_problem,
    answer_problem_list,
    answer_procedure,
    answer_procedure_list,
)
from engine.models.record_qa.facts import Fact, RecordAnswer
from engine.models.record_qa.intent import Intent
from engine.models.record_qa.medications import (
    answer_dose,
    answer_medication,
    answer_medication_list,
)
from engine.models.record_qa.results import answer_smoking, answer_trend, answer_value, readings
from engine.models.record_qa.safety import answer_drug_safety
from engine.models.record_qa.scores import answer_score
from engine.models.record_qa.vocabulary import Vocabulary
from engine.record_view import RecordView

__all__ = ["ANSWERS", "Fact", "RecordAnswer", "answer_from_record", "answer_medication", "answer_problem",
           "answer_smoking", "answer_value", "readings"]


ANSWERS = {
    "value": answer_value, "trend": answer_trend, "medication": answer_medication,
    "medication_list": answer_medication_list, "dose": answer_dose, "problem": answer_problem,
    "problem_list": answer_problem_list, "procedure": answer_procedure, "procedure_list": answer_procedure_list,
    "immunization": answer_immunization, "immunization_list": answer_immunization_list, "allergy": answer_allergy,
    "allergy_list": answer_allergy_list, "smoking": answer_smoking, "drug_safety": answer_drug_safety,
    "score": answer_score,
}


def answer_from_record(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    if intent.target is None and intent.free_term and intent.type in ("problem", "procedure", "value"):
        return answer_free_text(view, intent, vocab)
    return ANSWERS[intent.type](view, intent, vocab)
