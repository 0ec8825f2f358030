"""A guideline statement applied to this patient: "What is the LDL goal for this patient?", and every judgement
question: "Does he need a statin?", "Is she due for a colonoscopy?", "Is her potassium too high for spironolactone?".

Which statements: those about the drug the question names (knowledge_base.json ``drugs``; within the topic of a
condition it names, "... for her heart failure"; preferring those that read a result it names), else those of the
question's topic (the condition's, procedure's, score's, drug class's or test's; qa_vocabulary.json ``topics``,
which may list the statements of a topic). Of these, the ones that *apply* to the patient are shown, in the order of
the knowledge base (the guideline's own precedence: clinical ASCVD before LDL >= 190 before diabetes before the risk
bands); else those the record cannot decide; else the topic's general statements; else the statements with why they
do not apply. Whether a statement applies is data (its ``applies`` expression over the FeatureSet the calculators
read, calculator results - the PCE risk selects one of the primary-prevention bands - and the coded smoking status).
The patient's facts of the topic are read with the same answer functions as any record question, so each carries
its source; a statement's ``bands`` say what it means for the patient's own value (eGFR 44: "starting metformin is
not recommended"), its ``interval`` when the last procedure is next due.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from engine.finding import Status
from engine.models.record_qa import answers
from engine.models.record_qa.facts import iso
from engine.models.record_qa.intent import Intent
from engine.models.record_qa.matching import sort_key
from engine.models.record_qa.safety import DrugAsked, drug_asked
from engine.models.record_qa.scores import calculator_finding, score_value
from engine.models.record_qa.when import TimeAsked
from engine.models.record_qa.vocabulary import (
    CONDITION,
    DRUG,
    DRUG_CLASS,
    OBSERVATION,
    PROCEDURE,
    SCORE,
    VACCINE,
    Target,
    Vocabulary,
)
from engine.record_view import RecordView

MAX_STATEMENTS = 2
TOPIC_ORDER = (CONDITION, PROCEDURE, VACCINE, SCORE, DRUG_CLASS, OBSERVATION)

__all__ = ["Applied", "applicable_statements", "calculator_finding", "choose", "evaluate", "patient_facts",
           "statements_for", "topic_of"]


@dataclass(frozen=True)
class Applied:
    statement: object  # engine.models.qa.Statement
    applies: bool | None  # None: the record does not say (missing input)
    reasons: tuple[str, ...]


def topic_of(intent: Intent, vocab: Vocabulary) -> str | None:
    """The topic of the question: the condition's ("... for her heart failure"), else the procedure's, the score's,
    the drug class's (a drug: the topic of a drug group of its class) or the test's."""
    if intent.topic:
        return intent.topic

    def rank(target: Target) -> int:
        return TOPIC_ORDER.index(target.kind) if target.kind in TOPIC_ORDER else len(TOPIC_ORDER)

    for target in sorted(intent.targets, key=rank):
        if target.kind == DRUG:
            continue
        topic = getattr(vocab.concept(target), "topic", None)
        if topic:
            return topic
    for target in intent.targets:
        if target.kind == DRUG:
            classes = set(drug_asked(target, vocab).classes)
            for (kind, _), concept in vocab.coded.items():
                if kind == DRUG_CLASS and concept.topic and classes & set(concept.classes):
                    return concept.topic
    return None


def _names_drug(statement, asked: list[DrugAsked]) -> bool:
    about = getattr(statement, "drugs", None) or {}
    classes, ingredients = set(about.get("classes", ())), set(about.get("ingredients", ()))
    return any(classes & set(a.classes) or ingredients & set(a.ingredients) for a in asked)


def statements_for(intent: Intent, statements, vocab: Vocabulary) -> tuple[list, str | None]:
    """The statements a question is about, and the topic whose facts are shown beside them."""
    topic = topic_of(intent, vocab)
    asked = [drug_asked(t, vocab) for t in intent.targets if t.kind in (DRUG, DRUG_CLASS)]
    if asked:
        about = [s for s in statements if _names_drug(s, asked)]
        condition_topic = next((vocab.concept(t).topic for t in intent.targets
                                if t.kind == CONDITION and getattr(vocab.concept(t), "topic", None)), None)
        if condition_topic:
            kb = set(vocab.topics.get(condition_topic, {}).get("kb_topics", (condition_topic,)))
            about = [s for s in about if s.topic in kb] or about
        named = {t.key for t in intent.targets if t.kind == OBSERVATION}
        reading = [s for s in about if named & (set(s.reads) | {b["observation"] for b in s.bands})]
        about = reading or about
        if about:
            return about, condition_topic or (topic if topic in vocab.topics else None) or about[0].topic
    if topic is None:
        return [], None
    spec = vocab.topics.get(topic, {})
    kb_topics = set(spec.get("kb_topics", (topic,)))
    chosen = [s for s in statements if s.topic in kb_topics]
    if spec.get("statements"):
        chosen = [s for s in chosen if s.id in spec["statements"]]
    return chosen, topic


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
    if "smoking" in expr:
        return _smoking_condition(expr, view)
    return _feature_condition(expr, view)


def in_range(value: float, expr: dict) -> bool:
    if "min" in expr and value < expr["min"]:
        return False
    if "above" in expr and value <= expr["above"]:
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
    if "equals" in expr:
        return str(evidence.value) == str(expr["equals"]), [f"{label}: {evidence.value}"]
    if isinstance(evidence.value, bool):
        return evidence.value, [f"{label}: {'yes' if evidence.value else 'no'}"]
    if isinstance(evidence.value, (int, float)):
        shown = f"{evidence.value:g}" if isinstance(evidence.value, float) else str(evidence.value)
        unit = f" {evidence.unit}" if evidence.unit else ""
        return in_range(float(evidence.value), expr), [f"{label} {shown}{unit}"]
    return None, [f"{label}: {evidence.value}"]


def _smoking_condition(expr: dict, view: RecordView) -> tuple[bool | None, list[str]]:
    statuses = sorted((m for m in view.measurements if "smoking_status" in m.concepts and m.answer),
                      key=lambda m: sort_key(m.effective), reverse=True)
    if not statuses:
        return None, ["smoking status: not recorded"]
    latest = statuses[0]
    known = set(latest.answer_concepts) - {"smoker_unknown"}
    if not known:
        return None, [f"smoking status '{latest.answer}': not recognised"]
    return bool(known & set(expr["smoking"])), [f"smoking status '{latest.answer}' ({iso(latest.effective)})"]


def _calculator_condition(expr: dict, view: RecordView) -> tuple[bool | None, list[str]]:
    finding = calculator_finding(view, expr["calculator"])
    if finding is None or finding.status is not Status.COMPUTED or not isinstance(finding.value, (int, float)):
        return None, [f"{finding.title if finding else expr['calculator']}: not computed"]
    unit = f" {finding.unit}" if finding.unit else ""
    return in_range(float(finding.value), expr), [f"{finding.title} {score_value(finding)}{unit}"]


def applicable_statements(statements, view: RecordView) -> list[Applied]:
    """Every statement with its applicability; those without an ``applies`` expression hold for everyone."""
    out = []
    for s in statements:
        expr = getattr(s, "applies", None)
        if not expr:
            out.append(Applied(s, True, ()))
            continue
        value, reasons = evaluate(expr, view)
        out.append(Applied(s, value, tuple(dict.fromkeys(reasons))))
    return out


def choose(applied: list[Applied]) -> list[Applied]:
    """The patient-specific statements that apply, else those the record cannot decide, else the topic's general
    statements (definitions, which hold for everyone), else those that do not apply (shown with why)."""
    specific = [a for a in applied if a.applies is True and getattr(a.statement, "applies", None)]
    unknown = [a for a in applied if a.applies is None]
    general = [a for a in applied if a.applies is True and not getattr(a.statement, "applies", None)]
    not_applying = [a for a in applied if a.applies is False]
    return (specific or unknown or general or not_applying)[:MAX_STATEMENTS]


# -- the patient's facts of a topic --------------------------------------------------------------------------------
def patient_facts(view: RecordView, topic: str | None, vocab: Vocabulary, intent: Intent | None = None,
                  shown=()) -> tuple[list[str], list[answers.Fact]]:
    """One line per fact ("LDL cholesterol 128 mg/dL on 2024-11-20") and the facts with their sources: the results
    the question names, those the shown statements read, the topic's results, problems, medications, procedures,
    smoking status and scores."""
    spec = vocab.topics.get(topic or "", {})
    lines: list[str] = []
    facts: list[answers.Fact] = []
    named = [t.key for t in (intent.targets if intent else ()) if t.kind == OBSERVATION]
    reads = [k for s in shown for k in (*s.reads, *(b["observation"] for b in s.bands))]
    for key in dict.fromkeys([*named, *reads, *spec.get("observations", ())]):
        if key not in vocab.observations:
            continue
        concept = vocab.observations[key]
        latest = answers.readings(view, concept, vocab)[:1]
        if latest:
            lines.append(f"{concept.label} {latest[0].short()} ({', '.join(f.source for f in latest[0].facts)})"
                         + _band_text(latest[0], key, shown))
            facts += latest[0].facts
        else:
            lines.append(f"{concept.label}: no result in the record")
    for key in spec.get("conditions", ()):
        found = answers.answer_problem(view, Intent("problem", (Target(CONDITION, key),), past=key == "ascvd"), vocab)
        label = found.concept or key
        lines.append(f"{label}: {'yes' if found.result == 'yes' else 'none on the problem list'}"
                     + (f" ({', '.join(f.source for f in found.facts)})" if found.facts else ""))
        facts += found.facts
    drug_targets = [t for t in (intent.targets if intent else ()) if t.kind in (DRUG, DRUG_CLASS)]
    medication_targets = [*drug_targets, *(Target(DRUG_CLASS, k) for k in spec.get("medications", ()))]
    for target in dict.fromkeys(medication_targets):
        found = answers.answer_medication(view, Intent("medication", (target,)), vocab)
        names = ", ".join(f"{f.label} ({f.source})" for f in found.facts)
        lines.append(f"on {found.concept or target.key.replace('_', ' ')}: {'yes, ' + names if found.result == 'yes' else 'no'}")
        facts += found.facts
    for key in spec.get("procedures", ()):
        found = answers.answer_procedure(view, Intent("procedure", (Target(PROCEDURE, key),)), vocab)
        label = found.concept or key
        if found.result == "yes":
            last = found.facts[0]
            lines.append(f"last {label.lower()} {last.date or 'on an unrecorded date'} ({last.source})"
                         + _next_due(last.date, key, shown))
            facts.append(last)
        else:
            lines.append(f"{label}: none in the record")
    for key in spec.get("vaccines", ()):
        concept = vocab.coded[(VACCINE, key)]
        season = TimeAsked("this season", named="season") if concept.season_start else None
        found = answers.ANSWERS["immunization"](view, Intent("immunization", (Target(VACCINE, key),), window=season),
                                                vocab)
        lines.append(found.text)
        facts += found.facts
    if spec.get("smoking") or any("smoking" in str(getattr(s, "applies", "")) for s in shown):
        found = answers.answer_smoking(view, Intent("smoking"), vocab)
        lines.append(found.text)
        facts += found.facts
    scores = [t.key for t in (intent.targets if intent else ()) if t.kind == SCORE]
    for calculator_id in dict.fromkeys([*scores, *spec.get("calculators", ())]):
        finding = calculator_finding(view, calculator_id)
        if finding is None:
            continue
        if finding.status is Status.COMPUTED and finding.value is not None:
            value = score_value(finding)
            lines.append(f"{finding.title}: {value}{f' {finding.unit}' if finding.unit else ''}"
                         f"{f' ({finding.category})' if finding.category else ''}, calculated from the record")
            facts.append(answers.Fact(f"calculation:{finding.engine_id}", finding.title, value, finding.unit,
                                      view.as_of.isoformat(), None, finding.category))
        elif finding.message:
            lines.append(f"{finding.title}: not calculated ({finding.message.split('. ')[0].rstrip('.')})")
    return lines, facts


def _band_text(reading, key: str, shown) -> str:
    """What the shown statements say for this value ("30 to 44: starting metformin is not recommended")."""
    try:
        value = float(reading.value)
    except ValueError:
        return ""
    said = [b["says"] for s in shown for b in s.bands if b["observation"] == key and in_range(value, b)]
    return f" - {'; '.join(said)}" if said else ""


def _next_due(last: str | None, procedure: str, shown) -> str:
    years = next((s.interval["years"] for s in shown if s.interval and s.interval.get("procedure") == procedure),
                 None)
    if not last or years is None:
        return ""
    done = date.fromisoformat(last)
    try:
        due = done.replace(year=done.year + years)
    except ValueError:  # 29 February
        due = done.replace(year=done.year + years, day=28)
    return f"; at the {years}-year interval the next is due {due.isoformat()} if that one was normal"
