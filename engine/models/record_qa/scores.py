"""A risk score asked about: "What is his 10-year ASCVD risk?", "CHA2DS2-VASc score?".

The project's own calculator (engine/registry.py) is run on the record's FeatureSet - the same one a CDS Hooks card
shows - and the answer gives its value (threshold-safe: 7.46 % is "7.4", not "7.5"), category, the date it was
calculated for, and every input with its value, date and source; or, when it cannot be calculated, why (missing
inputs, outside its validated range, not applicable). No score is ever estimated here.
"""
from __future__ import annotations

from engine import registry
from engine.feature_catalog import display_value, feature_spec, threshold_safe_text
from engine.finding import Finding, Status
from engine.models.record_qa.facts import Fact, RecordAnswer, iso
from engine.models.record_qa.intent import Intent
from engine.models.record_qa.vocabulary import Vocabulary
from engine.record_view import RecordView

MAX_INPUTS_SHOWN = 10


def calculator_finding(view: RecordView, calculator_id: str) -> Finding | None:
    import engine.calculators  # noqa: F401 - registers the calculators

    if view.features is None or calculator_id not in registry.calculators:
        return None
    findings = registry.calculators.get(calculator_id).evaluate(view.features)
    return findings[0] if findings else None


def score_value(finding: Finding) -> str:
    """The value as the card shows it: the finding's decimals (one for a float), never rounded across a cut."""
    value = finding.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    decimals = finding.decimals if finding.decimals is not None else 1
    return threshold_safe_text(value, decimals, finding.cut_points)


def _input_text(e) -> str:
    value = e.value if not isinstance(e.value, bool) else ("yes" if e.value else "no")
    if isinstance(value, float):
        value = display_value(e.name, value) if feature_spec(e.name) is not None else f"{value:g}"
    when = iso(e.effective)
    where = ", ".join(filter(None, [when, e.source]))
    return f"{e.label} {value}{f' {e.unit}' if e.unit else ''}{f' ({where})' if where else ''}"


def answer_score(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    calculator_id = intent.target.key
    finding = calculator_finding(view, calculator_id)
    if finding is None:
        return RecordAnswer("score", "not_computed", f"The score '{calculator_id}' could not be calculated: the record "
                            "gave no features to calculate it from.", calculator_id)
    inputs = [e for e in finding.inputs if e.value is not None]
    facts = tuple(Fact(e.source, e.label, str(e.value), e.unit, iso(e.effective), None, e.note)
                  for e in inputs if e.source and "/" in e.source)
    cite = f" [{finding.citation.short}]" if finding.citation else ""
    if finding.status is Status.COMPUTED and finding.value is not None:
        value = score_value(finding)
        unit = f" {finding.unit}" if finding.unit else ""
        category = f" ({finding.category})" if finding.category else ""
        text = (f"{finding.title}: {value}{unit}{category}, calculated from the record for "
                f"{view.as_of.isoformat()}{cite}. Inputs: "
                + "; ".join(_input_text(e) for e in inputs[:MAX_INPUTS_SHOWN]) + ".")
        notes = [*finding.assumptions, *(f"{m.label}: {m.reason}" for m in finding.missing)]
        if finding.message:
            notes.insert(0, finding.message)
        if notes:
            text += " Note: " + " ".join(n.rstrip(".") + "." for n in notes)
        calc = Fact(f"calculation:{finding.engine_id}", finding.title, value, finding.unit, view.as_of.isoformat(),
                    None, finding.category)
        return RecordAnswer("score", "value", text, finding.title, value, finding.unit, view.as_of.isoformat(),
                            facts + (calc,))
    why = (finding.message or "").strip()
    missing = "; ".join(f"{m.label} ({m.reason})" for m in finding.missing)
    text = f"{finding.title}: not calculated. {why}"
    if missing and "missing" not in why.lower():
        text = text.rstrip(". ") + f". Missing: {missing}."
    if inputs:
        text = text.rstrip() + " Read from the record: " + "; ".join(_input_text(e) for e in inputs[:MAX_INPUTS_SHOWN]) + "."
    return RecordAnswer("score", "not_computed", text.strip() + cite, finding.title, context=facts)
