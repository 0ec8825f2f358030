"""POST /qa: answer a clinician's question from a patient record and the bundled guideline statements.

Body: {"question": "...", "record": <FHIR Bundle, resource or list of resources, optional>}.
The answer always names its sources; a question nothing relevant supports is refused with a reason.
"""
from __future__ import annotations

import functools

from flask import Blueprint, jsonify

from cds_hooks.errors import CdsError
from cds_hooks.hooks import read_json_body

bp = Blueprint("qa", __name__)

MAX_QUESTION_CHARS = 1000


@bp.post("/qa")
def answer():
    from engine.models.errors import ModelError
    from engine.models.qa import answer_question
    from fhir_adapter.notes import extract_notes, record_passages

    body = read_json_body()
    question = body.get("question")
    if not isinstance(question, str) or not question.strip():
        raise CdsError(400, "'question' is required and must be a non-empty string.", expressions=["question"])
    if len(question) > MAX_QUESTION_CHARS:
        raise CdsError(400, f"'question' is longer than {MAX_QUESTION_CHARS} characters.", expressions=["question"])
    record = body.get("record")
    if record is not None and not isinstance(record, (dict, list)):
        raise CdsError(400, "'record' must be a FHIR Bundle, a resource or a list of resources.", expressions=["record"])
    # The record's clinical notes and one sentence per structured fact (conditions, results, medications).
    passages = extract_notes(record) + record_passages(record) if record is not None else []
    try:
        result = answer_question(question, passages, _knowledge_base())
    except ModelError as exc:
        # e.g. CDS_MODEL_DIR_EMBEDDING points nowhere: say which setting, not a 500.
        raise CdsError(503, f"Question answering is unavailable: {exc}") from None
    return jsonify(result.to_dict())


@functools.cache
def _knowledge_base():
    from engine.models.qa import load_knowledge_base

    return load_knowledge_base()
