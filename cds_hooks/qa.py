"""POST /qa: answer a clinician's question from a patient record and the bundled guideline statements.

Body: {"question": "...", "record": <FHIR Bundle, resource or list of resources, optional>,
       "asOf": "YYYY-MM-DD" (optional; default the service's AS_OF setting, else today), "patientId": "..."}.
Record questions are answered from the record's structure with the source of every value; a question that names
nothing in the record and that no guideline statement answers is refused with a reason (docs/qa.md).
"""
from __future__ import annotations

import functools
from datetime import date

from flask import Blueprint, current_app, jsonify

from cds_hooks.errors import CdsError
from cds_hooks.hooks import read_json_body

bp = Blueprint("qa", __name__)

MAX_QUESTION_CHARS = 1000


@bp.post("/qa")
def answer():
    from engine.models.errors import ModelError
    from engine.models.qa import answer_question
    from fhir_adapter.record_view import read_record_view

    body = read_json_body()
    question = body.get("question")
    if not isinstance(question, str) or not question.strip():
        raise CdsError(400, "'question' is required and must be a non-empty string.", expressions=["question"])
    if len(question) > MAX_QUESTION_CHARS:
        raise CdsError(400, f"'question' is longer than {MAX_QUESTION_CHARS} characters.", expressions=["question"])
    record = body.get("record")
    if record is not None and not isinstance(record, (dict, list)):
        raise CdsError(400, "'record' must be a FHIR Bundle, a resource or a list of resources.", expressions=["record"])
    as_of = _as_of(body.get("asOf"))
    patient_id = body.get("patientId")
    if patient_id is not None and (not isinstance(patient_id, str) or not patient_id.strip()):
        raise CdsError(400, "'patientId' must be a non-empty string.", expressions=["patientId"])
    view = read_record_view(record, as_of=as_of, patient_id=patient_id) if record is not None else None
    try:
        result = answer_question(question, view, _knowledge_base())
    except ModelError as exc:
        # e.g. CDS_MODEL_DIR_EMBEDDING points nowhere: say which setting, not a 500.
        raise CdsError(503, f"Question answering is unavailable: {exc}") from None
    return jsonify(result.to_dict())


def _as_of(value: object) -> date:
    if value is None:
        from cds_hooks.processing import as_of_date

        return as_of_date(current_app.config)
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise CdsError(400, "'asOf' must be an ISO date (YYYY-MM-DD).", expressions=["asOf"])


@functools.cache
def _knowledge_base():
    from engine.models.qa import load_knowledge_base

    return load_knowledge_base()
