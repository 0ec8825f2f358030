"""Scoring an answer against the expected answer of the record-question set (fixtures/eval/record_questions.jsonl).

An answer is *exact* when every field the expectation names matches:

- ``result``: value / yes / no / not_found / list / trend / guideline / refused (refused: the answer was refused);
- ``value``, ``unit``, ``date``: as the answer states them (the value and unit as recorded);
- ``sources``: the record entries the answer rests on, as a set (trends: in time order); a "no" expects none, or
  the entry that documents the no ("No known drug allergy");
- ``statements``: for guideline answers, the knowledge-base statement the answer gives first must be one of them
  (for a guideline applied to this patient: one of the statements shown);
- ``sources_include``: patient facts that must be among the sources of a guideline-for-this-patient answer.
"""
from __future__ import annotations

from typing import Mapping


def answer_sources(answer: Mapping) -> list[str]:
    return [s["source"] for s in answer.get("supports", ()) if s.get("kind") == "record" and s.get("source")]


def answer_statements(answer: Mapping) -> list[str]:
    return [s["statement_id"] for s in answer.get("supports", ()) if s.get("kind") == "knowledge"
            and s.get("statement_id")]


def mismatches(answer: Mapping, expect: Mapping) -> list[str]:
    """What differs between an Answer (as a dict) and the expectation; empty when the answer is exact."""
    problems: list[str] = []
    result = "refused" if answer.get("status") == "refused" else answer.get("result")
    if result != expect["result"]:
        return [f"result {result!r}, expected {expect['result']!r}"]
    for key in ("value", "unit", "date"):
        if key in expect and answer.get(key) != expect[key]:
            problems.append(f"{key} {answer.get(key)!r}, expected {expect[key]!r}")
    sources = answer_sources(answer)
    if "sources" in expect:
        if expect["result"] == "trend":
            if sources != list(expect["sources"]):
                problems.append(f"sources {sources}, expected in this order {expect['sources']}")
        elif sorted(set(sources)) != sorted(set(expect["sources"])):
            problems.append(f"sources {sorted(set(sources))}, expected {sorted(expect['sources'])}")
    missing = [s for s in expect.get("sources_include", ()) if s not in sources]
    if missing:
        problems.append(f"sources lack {missing}")
    if "statements" in expect:
        statements = answer_statements(answer)
        shown = statements if answer.get("question_type") == "guideline_patient" else statements[:1]
        if not set(shown) & set(expect["statements"]):
            problems.append(f"statements {statements}, expected one of {expect['statements']}")
    return problems
