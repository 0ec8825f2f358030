"""Answers about results: the latest value of a test or vital sign, its trend, the coded smoking status, the age.

A blood pressure is a pair: the systolic and diastolic components of one panel, or separate systolic and diastolic
Observations taken at the same moment.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.models.record_qa.facts import (
    Fact,
    RecordAnswer,
    code_label,
    iso,
    measurement_fact,
    number,
    searched_counts,
    window_of,
)
from engine.models.record_qa.intent import Intent
from engine.models.record_qa.matching import matching_measurements, sort_key
from engine.models.record_qa.vocabulary import ObservationConcept, Vocabulary
from engine.record_view import RecordView

SMOKING_ANSWERS = {"smoker_current": "yes", "smoker_former": "no", "smoker_never": "no", "smoker_unknown": "unknown"}


@dataclass(frozen=True)
class Reading:
    """One value of a concept: a result, or a blood pressure built from its systolic and diastolic parts."""

    value: str
    unit: str | None
    when: object
    facts: tuple[Fact, ...]

    def short(self) -> str:
        """"53 mmol/mol (7.0 %) on 2025-05-06"."""
        converted = next((n[7:] for f in self.facts if f.note for n in f.note.split("; ") if n.startswith("equals ")),
                         None)
        return (f"{self.value}{f' {self.unit}' if self.unit else ''}{f' ({converted})' if converted else ''}"
                f"{f' on {iso(self.when)}' if self.when else ''}")


def readings(view: RecordView, concept: ObservationConcept, vocab: Vocabulary) -> list[Reading]:
    """Every value of the concept in the record, newest first."""
    if concept.pair:
        return _blood_pressures(view, vocab)
    out = []
    for m, how in matching_measurements(view.measurements, concept):
        fact = measurement_fact(m, how)
        out.append(Reading(fact.value or "", fact.unit, m.effective, (fact,)))
    return out


def _blood_pressures(view: RecordView, vocab: Vocabulary) -> list[Reading]:
    systolic = matching_measurements(view.measurements, vocab.observations["sbp_mmhg"])
    diastolic = matching_measurements(view.measurements, vocab.observations["dbp_mmhg"])
    out: list[Reading] = []
    used: set[int] = set()
    for s, how_s in systolic:
        # The diastolic of the same panel, else the one measured at the same moment.
        match = next((i for i, (d, _) in enumerate(diastolic) if i not in used and d.source == s.source), None)
        if match is None:
            match = next((i for i, (d, _) in enumerate(diastolic) if i not in used and d.effective == s.effective),
                         None)
        if match is None or s.value is None or diastolic[match][0].value is None:
            continue
        used.add(match)
        d, how_d = diastolic[match]
        facts = (measurement_fact(s, how_s),) if s.source == d.source else (
            measurement_fact(s, how_s), measurement_fact(d, how_d))
        if s.source == d.source:
            facts = (Fact(s.source, s.panel or "Blood pressure", f"{number(s.value)}/{number(d.value)}", "mmHg",
                          iso(s.effective), None, None),)
        out.append(Reading(f"{number(s.value)}/{number(d.value)}", "mmHg", s.effective, facts))
    return sorted(out, key=lambda r: sort_key(r.when), reverse=True)


def answer_value(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    concept = vocab.observations[intent.target.key]
    if concept.from_patient:
        return _age(view)
    window = window_of(intent, view)
    everything = readings(view, concept, vocab)
    found = [r for r in everything if window.holds(r.when)]
    searched = searched_counts(view, "Observation")
    if not found:
        text = f"No {concept.label} result{window.words} in the record (searched {view.searched_text('Observation')})."
        context: tuple[Fact, ...] = ()
        if everything:
            text += f" Latest: {everything[0].short()} ({', '.join(f.source for f in everything[0].facts)})."
            context = everything[0].facts
        return RecordAnswer("value", "not_found", text, concept.label, context=context, searched=searched)
    latest = found[0]
    when = iso(latest.when)
    text = f"{concept.label}: {latest.short()} ({', '.join(f.source for f in latest.facts)})."
    notes = [n for f in latest.facts if f.note for n in f.note.split("; ") if not n.startswith("equals ")]
    if notes:
        text += f" {'; '.join(notes)[:1].upper()}{'; '.join(notes)[1:]}."
    if len(found) > 1:
        prev = found[1]
        text += f" Previous: {prev.value}{f' {prev.unit}' if prev.unit else ''} on {iso(prev.when)}."
    return RecordAnswer("value", "value", text, concept.label, latest.value, latest.unit, when, latest.facts,
                        searched=searched)


def _age(view: RecordView) -> RecordAnswer:
    if view.age_years is None:
        return RecordAnswer("value", "not_found", "No usable birth date in the record.", "Age")
    fact = Fact(view.patient_source or "Patient", "Age", str(view.age_years), "years", view.as_of.isoformat(), None,
                f"born {view.birth_date}" if view.birth_date else None)
    return RecordAnswer("value", "value", f"Age: {view.age_years} years on {view.as_of.isoformat()} (born "
                        f"{view.birth_date}; {fact.source}).", "Age", fact.value, "years", fact.date, (fact,))


def answer_trend(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    concept = vocab.observations[intent.target.key]
    window = window_of(intent, view)
    found = [r for r in readings(view, concept, vocab) if window.holds(r.when)]
    since = window.words
    searched = searched_counts(view, "Observation")
    if not found:
        return RecordAnswer("trend", "not_found", f"No {concept.label} result in the record{since} "
                            f"(searched {view.searched_text('Observation')}).", concept.label, searched=searched)
    series = list(reversed(found))
    unit = series[-1].unit
    steps = " \u2192 ".join(f"{r.value} ({iso(r.when)})" for r in series)
    text = f"{concept.label}{since}, {len(series)} result{'s' if len(series) > 1 else ''}" + \
        (f" in {unit}" if unit else "") + f": {steps}."
    first, last = series[0], series[-1]
    try:
        delta = float(last.value) - float(first.value)
        if len(series) > 1 and first.unit == last.unit:
            text += f" Change {delta:+g}{f' {unit}' if unit else ''} from {iso(first.when)} to {iso(last.when)}."
    except ValueError:
        pass  # blood pressure pairs and coded values have no single difference
    facts = tuple(f for r in series for f in r.facts)
    return RecordAnswer("trend", "trend", text, concept.label, facts=facts, searched=searched)


# -- medications ---------------------------------------------------------------------------------------------------


def answer_smoking(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    window = window_of(intent, view)
    statuses = sorted((m for m in view.measurements if "smoking_status" in m.concepts and m.answer
                       and window.holds(m.effective)), key=lambda m: sort_key(m.effective), reverse=True)
    searched = searched_counts(view, "Observation")
    if not statuses:
        return RecordAnswer("smoking", "not_found", f"No coded smoking status{window.words} in the record (searched "
                            f"{view.searched_text('Observation')}).", "Smoking status", searched=searched)
    latest = statuses[0]
    concept = next((c for c in latest.answer_concepts if c in SMOKING_ANSWERS), None)
    result = SMOKING_ANSWERS.get(concept or "", "unknown")
    reading = {"smoker_current": "Current smoker", "smoker_former": "Former smoker, not smoking now",
               "smoker_never": "Never smoker", "smoker_unknown": "Smoking status unknown"}.get(
        concept or "", "Smoking status not recognised")
    fact = measurement_fact(latest, "code")
    text = f"{reading}: '{latest.answer}' on {iso(latest.effective)} ({latest.source}" \
           f"{', ' + code_label(latest.codes) if code_label(latest.codes) else ''})."
    return RecordAnswer("smoking", result, text, "Smoking status", latest.answer, None, iso(latest.effective),
                        (fact,), searched=searched)
