"""A guideline statement applied to this patient: "What is the LDL goal for this patient?".

The statements of the question's topic (knowledge_base.json) that *apply* to the patient are shown, in the order of
the knowledge base (the guideline's own precedence: clinical ASCVD before LDL >= 190 before diabetes before risk).
Whether a statement applies is data (its ``applies`` expression over the FeatureSet the calculators read, and
calculator results); the patient's own facts of the topic (qa_vocabulary.json ``topics``: the latest results, the
problems, the medications, the scores) are read with the same answer functions as any record question, so each
carries its source.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine import registry
from engine.finding import Status
from engine.models.record_qa import answers
from engine.models.record_qa.intent import Intent
from engine.models.record_qa.vocabulary import CONDITION, DRUG_CLASS, OBSERVATION, Target, Vocabulary
from engine.record_view import RecordView

MAX_STATEMENTS = 2


@dataclass(frozen=True)
class Applied:
    statement: object  # engine.models.qa.Statement
    applies: bool | None  # None: the record does not say (missing input)
    reasons: tuple[str, ...]


def topic_of(intent: Intent, vocab: Vocabulary) -> str | None:
    """The topic of the question: the condition's ("... for her heart failure"), else the drug's or the test's."""
    order = (CONDITION, DRUG_CLASS, OBSERVATION)
    for target in sorted(intent.targets, key=lambda t: order.index(t.kind) if t.kind in order else len(order)):
        concept = vocab.concept(target)
        if getattr(concept, "topic", None):
            return concept.topic
    return None


# -- applicability -------------------------------------------------------------------------------------------------
def evaluate(expr: dict, view: RecordView) -> tuple[bool | None, list[str]]:
    """Three-valued: True, False or None (unknown), with the facts that decided it."""
    if "all" in expr or "any" in expr:
        parts = [evaluate(e, view) for e in expr.get("all", expr.get("any", []))]
        reasons = [r for _, rs in parts for r in rs]
        values = [v for v, _ in parts]
        if "all" in expr:
            result = False if False in values else (None if None in values else True)
        else:
            result = True if True in values else (None if None in values else False)
        return result, reasons
    if "not" in expr:
        value, reasons = evaluate(expr["not"], view)
        return (None if value is None else not value), reasons
    if "calculator" in expr:
        return _calculator_condition(expr, view)
    return _feature_condition(expr, view)


def _in_range(value: float, expr: dict) -> bool:
    if "min" in expr and value < expr["min"]:
        return False
    if "max" in expr and value > expr["max"]:
        return False
    return not ("below" in expr and value >= expr["below"])


def _feature_condition(expr: dict, view: RecordView) -> tuple[bool | None, list[str]]:
    features = view.features
    name = expr["feature"]
    evidence = features.get(name) if features is not None else None
    if evidence is None:
        return None, [f"{name.replace('_', ' ')}: not known"]
    label = evidence.label
    if isinstance(evidence.value, bool):
        return evidence.value, [f"{label}: {'yes' if evidence.value else 'no'}"]
    if isinstance(evidence.value, (int, float)):
        shown = f"{evidence.value:g}" if isinstance(evidence.value, float) else str(evidence.value)
        unit = f" {evidence.unit}" if evidence.unit else ""
        return _in_range(float(evidence.value), expr), [f"{label} {shown}{unit}"]
    return None, [f"{label}: {evidence.value}"]


def calculator_finding(view: RecordView, calculator_id: str):
    import engine.calculators  # noqa: F401 - registers the calculators

    if view.features is None or calculator_id not in registry.calculators:
        return None
    findings = registry.calculators.get(calculator_id).evaluate(view.features)
    return findings[0] if findings else None


def _calculator_condition(expr: dict, view: RecordView) -> tuple[bool | None, list[str]]:
    finding = calculator_finding(view, expr["calculator"])
    if finding is None or finding.status is not Status.COMPUTED or not isinstance(finding.value, (int, float)):
        return None, [f"{finding.title if finding else expr['calculator']}: not computed"]
    return _in_range(float(finding.value), expr), [f"{finding.title} {finding.value:.1f} {finding.unit or ''}".rstrip()]


def applicable_statements(statements, view: RecordView) -> list[Applied]:
    """Every statement with its applicability; those without an ``applies`` expression hold for everyone."""
    out = []
    for s in statements:
        expr = getattr(s, "applies", None)
        if not expr:
            out.append(Applied(s, True, ()))
            continue
        value, reasons = evaluate(expr, view)
        out.append(Applied(s, value, tuple(reasons)))
    return out


def choose(applied: list[Applied]) -> list[Applied]:
    """The patient-specific statements that apply, else those the record cannot decide, else the topic's general
    statements (definitions, which hold for everyone)."""
    specific = [a for a in applied if a.applies is True and getattr(a.statement, "applies", None)]
    unknown = [a for a in applied if a.applies is None]
    general = [a for a in applied if a.applies is True and not getattr(a.statement, "applies", None)]
    return (specific or unknown or general)[:MAX_STATEMENTS]


# -- the patient's facts of a topic --------------------------------------------------------------------------------
def patient_facts(view: RecordView, topic: str, vocab: Vocabulary) -> tuple[list[str], list[answers.Fact]]:
    """One line per fact of the topic ("LDL cholesterol 128 mg/dL on 2024-11-20") and the facts with sources."""
    spec = vocab.topics.get(topic, {})
    lines: list[str] = []
    facts: list[answers.Fact] = []
    for key in spec.get("observations", ()):
        concept = vocab.observations[key]
        latest = answers.readings(view, concept, vocab)[:1]
        if latest:
            lines.append(f"{concept.label} {latest[0].short()} ({', '.join(f.source for f in latest[0].facts)})")
            facts += latest[0].facts
        else:
            lines.append(f"{concept.label}: no result in the record")
    for key in spec.get("conditions", ()):
        found = answers.answer_problem(view, Intent("problem", (Target(CONDITION, key),), past=key == "ascvd"), vocab)
        label = found.concept or key
        lines.append(f"{label}: {'yes' if found.result == 'yes' else 'none on the problem list'}"
                     + (f" ({', '.join(f.source for f in found.facts)})" if found.facts else ""))
        facts += found.facts
    for key in spec.get("medications", ()):
        found = answers.answer_medication(view, Intent("medication", (Target(DRUG_CLASS, key),)), vocab)
        names = ", ".join(f"{f.label} ({f.source})" for f in found.facts)
        lines.append(f"on {key.replace('_', ' ')}: {'yes, ' + names if found.result == 'yes' else 'no'}")
        facts += found.facts
    if spec.get("smoking"):
        found = answers.answer_smoking(view, Intent("smoking"), vocab)
        lines.append(found.text)
        facts += found.facts
    for calculator_id in spec.get("calculators", ()):
        finding = calculator_finding(view, calculator_id)
        if finding is None:
            continue
        if finding.status is Status.COMPUTED and finding.value is not None:
            value = f"{finding.value:.1f}" if isinstance(finding.value, float) else str(finding.value)
            lines.append(f"{finding.title}: {value}{f' {finding.unit}' if finding.unit else ''}"
                         f"{f' ({finding.category})' if finding.category else ''}, calculated from the record")
            facts.append(answers.Fact(f"calculation:{finding.engine_id}", finding.title, value, finding.unit,
                                      view.as_of.isoformat(), None, finding.category))
        elif finding.message:
            lines.append(f"{finding.title}: not calculated ({finding.message.split('. ')[0].rstrip('.')})")
    return lines, facts
