"""Answers read from the record: value, unit, date and the resource each came from, or "no" with what was searched.

One function per question type (intent.py). Each returns a RecordAnswer whose ``facts`` are the entries the answer
rests on (what an EHR would link to) and whose ``context`` holds related entries that are *not* the answer (a
stopped statin under "No statin on the active medication list", last season's flu shot under "not this season").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from engine.clinical_record import AllergyEntry, MedicationEntry
from engine.models.record_qa.intent import Intent
from engine.models.record_qa.matching import (
    BY_NAME,
    medication_treats,
    names_in,
    allergy_is_current,
    allergy_matches,
    condition_is_current,
    day,
    entry_matches,
    is_no_known_allergy,
    matching_measurements,
    medication_matches,
    sort_key,
)
from engine.models.record_qa.vocabulary import (
    ALLERGEN,
    DRUG,
    CodedConcept,
    ObservationConcept,
    Target,
    Vocabulary,
    normalised,
)
from engine.record_view import Measurement, RecordCondition, RecordImmunization, RecordProcedure, RecordView

MEDICATION_TYPES = ("MedicationRequest", "MedicationStatement")
SMOKING_ANSWERS = {"smoker_current": "yes", "smoker_former": "no", "smoker_never": "no", "smoker_unknown": "unknown"}


@dataclass(frozen=True)
class Fact:
    source: str  # "Observation/12"
    label: str  # what the record calls it
    value: str | None = None
    unit: str | None = None
    date: str | None = None  # ISO date
    code: str | None = None  # "LOINC 4548-4"
    note: str | None = None  # "recognised by its name: its code is in no value set", "status 'stopped'"

    def describe(self) -> str:
        head = self.label if self.value is None else f"{self.label} {self.value}{f' {self.unit}' if self.unit else ''}"
        where = ", ".join(filter(None, [self.source, self.code]))
        tail = f" on {self.date}" if self.date else ""
        return f"{head}{tail} ({where}{'; ' + self.note if self.note else ''})"


@dataclass(frozen=True)
class RecordAnswer:
    question_type: str
    result: str  # value | yes | no | not_found | unknown | list | trend | refused
    text: str
    concept: str | None = None  # what the question was resolved to ("HbA1c", "Statin")
    value: str | None = None
    unit: str | None = None
    date: str | None = None
    facts: tuple[Fact, ...] = ()
    context: tuple[Fact, ...] = ()
    searched: dict = field(default_factory=dict)


def _iso(value) -> str | None:
    d = day(value)
    return d.isoformat() if d else None


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _code(codes) -> str | None:
    return next((c.label() for c in codes if c.code), None)


def _searched(view: RecordView, *types: str) -> dict:
    return {t: view.searched.get(t, 0) for t in types}


# -- values and trends ---------------------------------------------------------------------------------------------
def _measurement_fact(m: Measurement, how: str) -> Fact:
    notes = []
    if m.panel:
        notes.append(f"component of {m.panel}")
    if m.converted:
        notes.append(f"equals {m.converted}")
    if how == BY_NAME:
        notes.append("recognised by its name: its code is in no value set of the project")
    value = None
    if m.value is not None:
        value = f"{m.comparator or ''}{_number(m.value)}"
    elif m.answer is not None:
        value = m.answer
    return Fact(m.source, m.name, value, m.unit if m.value is not None else None, _iso(m.effective), _code(m.codes),
                "; ".join(notes) or None)


@dataclass(frozen=True)
class _Reading:
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
                f"{f' on {_iso(self.when)}' if self.when else ''}")


def readings(view: RecordView, concept: ObservationConcept, vocab: Vocabulary) -> list[_Reading]:
    """Every value of the concept in the record, newest first."""
    if concept.pair:
        return _blood_pressures(view, vocab)
    out = []
    for m, how in matching_measurements(view.measurements, concept):
        fact = _measurement_fact(m, how)
        out.append(_Reading(fact.value or "", fact.unit, m.effective, (fact,)))
    return out


def _blood_pressures(view: RecordView, vocab: Vocabulary) -> list[_Reading]:
    systolic = matching_measurements(view.measurements, vocab.observations["sbp_mmhg"])
    diastolic = matching_measurements(view.measurements, vocab.observations["dbp_mmhg"])
    out: list[_Reading] = []
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
        facts = (_measurement_fact(s, how_s),) if s.source == d.source else (
            _measurement_fact(s, how_s), _measurement_fact(d, how_d))
        if s.source == d.source:
            facts = (Fact(s.source, s.panel or "Blood pressure", f"{_number(s.value)}/{_number(d.value)}", "mmHg",
                          _iso(s.effective), None, None),)
        out.append(_Reading(f"{_number(s.value)}/{_number(d.value)}", "mmHg", s.effective, facts))
    return sorted(out, key=lambda r: sort_key(r.when), reverse=True)


def answer_value(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    concept = vocab.observations[intent.target.key]
    if concept.from_patient:
        return _age(view)
    window = _window(intent, view)
    everything = readings(view, concept, vocab)
    found = [r for r in everything if window.holds(r.when)]
    searched = _searched(view, "Observation")
    if not found:
        text = f"No {concept.label} result{window.words} in the record (searched {view.searched_text('Observation')})."
        context: tuple[Fact, ...] = ()
        if everything:
            text += f" Latest: {everything[0].short()} ({', '.join(f.source for f in everything[0].facts)})."
            context = everything[0].facts
        return RecordAnswer("value", "not_found", text, concept.label, context=context, searched=searched)
    latest = found[0]
    when = _iso(latest.when)
    text = f"{concept.label}: {latest.short()} ({', '.join(f.source for f in latest.facts)})."
    notes = [n for f in latest.facts if f.note for n in f.note.split("; ") if not n.startswith("equals ")]
    if notes:
        text += f" {'; '.join(notes)[:1].upper()}{'; '.join(notes)[1:]}."
    if len(found) > 1:
        prev = found[1]
        text += f" Previous: {prev.value}{f' {prev.unit}' if prev.unit else ''} on {_iso(prev.when)}."
    return RecordAnswer("value", "value", text, concept.label, latest.value, latest.unit, when, latest.facts,
                        searched=searched)


@dataclass(frozen=True)
class _Window:
    start: date | None
    end: date | None
    words: str  # " since 2024-08-01 (start of this season)", " in 2023"

    def holds(self, when) -> bool:
        d = day(when)
        if d is None:
            return self.start is None and self.end is None
        return (self.start is None or d >= self.start) and (self.end is None or d <= self.end)


def _window(intent: Intent, view: RecordView, season_start: str | None = None) -> _Window:
    """The time the question asks about ("this season", "past year", "in 2023"); none: the whole record."""
    w = intent.window
    if w is None:
        return _Window(None, None, "")
    if w.startswith("year:"):
        year = int(w[5:])
        return _Window(date(year, 1, 1), date(year, 12, 31), f" in {year}")
    if w == "season":
        month, dom = (int(x) for x in (season_start or "08-01").split("-"))
        start = date(view.as_of.year, month, dom)
        start = start if start <= view.as_of else date(view.as_of.year - 1, month, dom)
        return _Window(start, None, f" since {start.isoformat()} (start of this season)")
    start = date(view.as_of.year, 1, 1) if w == "year_to_date" else view.as_of - timedelta(days=int(w))
    return _Window(start, None, f" since {start.isoformat()}")


def _age(view: RecordView) -> RecordAnswer:
    if view.age_years is None:
        return RecordAnswer("value", "not_found", "No usable birth date in the record.", "Age")
    fact = Fact(view.patient_source or "Patient", "Age", str(view.age_years), "years", view.as_of.isoformat(), None,
                f"born {view.birth_date}" if view.birth_date else None)
    return RecordAnswer("value", "value", f"Age: {view.age_years} years on {view.as_of.isoformat()} (born "
                        f"{view.birth_date}; {fact.source}).", "Age", fact.value, "years", fact.date, (fact,))


def answer_trend(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    concept = vocab.observations[intent.target.key]
    window = _window(intent, view)
    found = [r for r in readings(view, concept, vocab) if window.holds(r.when)]
    since = window.words
    searched = _searched(view, "Observation")
    if not found:
        return RecordAnswer("trend", "not_found", f"No {concept.label} result in the record{since} "
                            f"(searched {view.searched_text('Observation')}).", concept.label, searched=searched)
    series = list(reversed(found))
    unit = series[-1].unit
    steps = " \u2192 ".join(f"{r.value} ({_iso(r.when)})" for r in series)
    text = f"{concept.label}{since}, {len(series)} result{'s' if len(series) > 1 else ''}" + \
        (f" in {unit}" if unit else "") + f": {steps}."
    first, last = series[0], series[-1]
    try:
        delta = float(last.value) - float(first.value)
        if len(series) > 1 and first.unit == last.unit:
            text += f" Change {delta:+g}{f' {unit}' if unit else ''} from {_iso(first.when)} to {_iso(last.when)}."
    except ValueError:
        pass  # blood pressure pairs and coded values have no single difference
    facts = tuple(f for r in series for f in r.facts)
    return RecordAnswer("trend", "trend", text, concept.label, facts=facts, searched=searched)


# -- medications ---------------------------------------------------------------------------------------------------
def _medication_fact(med: MedicationEntry) -> Fact:
    status = "active" if med.active else f"status '{med.status or 'missing'}'"
    if med.end and not med.active:
        status += f", ended {_iso(med.end)}"
    notes = [status]
    if med.dose:
        notes.append(med.dose)
    if med.recognised_by == "text":
        notes.append("recognised by name in the medication text")
    return Fact(med.source, med.name, None, None, _iso(med.start), None, "; ".join(notes))


def _concept_of(target: Target | None, vocab: Vocabulary) -> CodedConcept | None:
    return vocab.concept(target) if target is not None else None  # type: ignore[return-value]


def _what(intent: Intent, vocab: Vocabulary) -> str:
    if intent.target is not None:
        concept = vocab.concept(intent.target)
        return intent.target.key.replace("_", " ") if intent.target.kind != DRUG else concept.label
    return intent.free_term or "medication"


def answer_medication(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    target = intent.target
    concept = _concept_of(target, vocab)
    what = _what(intent, vocab)
    matched = [m for m in view.medications if medication_matches(m, target, concept, intent.free_term)]
    active = [m for m in matched if m.active]
    inactive = [m for m in matched if not m.active]
    searched = _searched(view, *MEDICATION_TYPES)
    where = f"searched {view.searched_text(*MEDICATION_TYPES)}"
    if intent.free_term and not matched:
        # A word the vocabulary does not know: without its codes a "no" would be a guess.
        return RecordAnswer("medication", "not_found", f"No medication named '{intent.free_term}' ({where}).", what,
                            searched=searched)
    if intent.past and inactive:  # "has she ever been on a statin?": a stopped one answers it
        listed = "; ".join(f"{m.name} ({m.source}, {_medication_fact(m).note.split(';')[0]}"
                           f"{f', since {_iso(m.start)}' if m.start else ''})" for m in active + inactive)
        return RecordAnswer("medication", "yes", f"Yes: {listed}.", what,
                            facts=tuple(map(_medication_fact, active + inactive)), searched=searched)
    if active:
        listed = "; ".join(f"{m.name}{f', {m.dose}' if m.dose else ''} ({m.source}"
                           f"{f', since {_iso(m.start)}' if m.start else ''})" for m in active)
        return RecordAnswer("medication", "yes", f"Yes: {listed}.", what, facts=tuple(map(_medication_fact, active)),
                            context=tuple(map(_medication_fact, inactive)), searched=searched)
    text = f"No {what} on the active medication list ({where})."
    if inactive:
        text += " Not active: " + "; ".join(f"{m.name} ({m.source}, {_medication_fact(m).note.split(';')[0]})"
                                            for m in inactive) + "."
    return RecordAnswer("medication", "no", text, what, context=tuple(map(_medication_fact, inactive)),
                        searched=searched)


def answer_medication_list(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    if intent.indication is not None:
        return answer_medication_for(view, intent, vocab)
    target = intent.target
    concept = _concept_of(target, vocab)
    what = _what(intent, vocab) if target or intent.free_term else "medication"
    active = [m for m in view.medications if m.active and medication_matches(m, target, concept, intent.free_term)]
    searched = _searched(view, *MEDICATION_TYPES)
    if intent.free_term and not active:
        return RecordAnswer("medication_list", "not_found", f"No active medication named '{intent.free_term}' "
                            f"(searched {view.searched_text(*MEDICATION_TYPES)}).", what, searched=searched)
    if not active:
        return RecordAnswer("medication_list", "no", f"No active {what} on the medication list (searched "
                            f"{view.searched_text(*MEDICATION_TYPES)}).", what, searched=searched)
    listed = "; ".join(f"{m.name}{f', {m.dose}' if m.dose else ''} ({m.source})" for m in active)
    return RecordAnswer("medication_list", "list", f"Active {what}{'s' if target else 's'}: {listed}.", what,
                        facts=tuple(map(_medication_fact, active)), searched=searched)


def answer_medication_for(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    """"What is he taking for gout?": medications given for the condition (by their recorded reason, else by the
    drug classes and ingredients usually given for it, qa_vocabulary.json ``treated_by``)."""
    condition: CodedConcept = vocab.concept(intent.indication)  # type: ignore[assignment]
    sources = {c.source for c in view.conditions if entry_matches(c, condition, vocab)}
    active = [m for m in view.medications if m.active and medication_treats(m, condition, sources, vocab)]
    searched = _searched(view, *MEDICATION_TYPES)
    label = condition.label.lower()
    if not active:
        return RecordAnswer("medication_list", "no", f"No active medication for {label} on the medication list "
                            f"(searched {view.searched_text(*MEDICATION_TYPES)}; by recorded reason and by the drugs "
                            f"usually given for it).", condition.label, searched=searched)
    listed = "; ".join(f"{m.name}{f', {m.dose}' if m.dose else ''} ({m.source})" for m in active)
    return RecordAnswer("medication_list", "list", f"Active medications for {label}: {listed}.", condition.label,
                        facts=tuple(map(_medication_fact, active)), searched=searched)


def answer_dose(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    """The dose as recorded for a drug the patient takes; dosing advice is not given."""
    found = answer_medication(view, intent, vocab)
    if found.result != "yes":
        return RecordAnswer("dose", "refused", found.text.rstrip(".") + ". This service reports doses recorded for "
                            "this patient; it does not give dosing advice.", found.concept, context=found.context,
                            searched=found.searched)
    active = [m for m in view.medications if m.active and m.source in {f.source for f in found.facts}]
    doses = "; ".join(f"{m.name}: {m.dose or 'dose not recorded'} ({m.source})" for m in active)
    value = active[0].dose if len(active) == 1 else None
    return RecordAnswer("dose", "yes", f"{doses}.", found.concept, value=value, facts=found.facts,
                        searched=found.searched)


# -- problems, procedures, immunizations ---------------------------------------------------------------------------
def _condition_fact(c: RecordCondition, how: str) -> Fact:
    notes = [f"clinical status {c.clinical_status or 'not recorded'}"]
    if how == BY_NAME:
        notes.append("recognised by its name: its code is in no value set of the project")
    return Fact(c.source, c.name, None, None, _iso(c.onset), _code(c.codes), "; ".join(notes))


def answer_problem(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    concept: CodedConcept = vocab.concept(intent.target)  # type: ignore[assignment]
    found = [(c, how) for c in view.conditions if (how := entry_matches(c, concept, vocab))]
    current = [(c, how) for c, how in found if condition_is_current(c)]
    # "Has he had a heart attack?" / "history of": a resolved entry answers it too.
    answering = found if intent.past else current
    others = [(c, how) for c, how in found if (c, how) not in answering]
    searched = _searched(view, "Condition")
    if answering:
        listed = "; ".join(f"{c.name} ({c.source}{', ' + _code(c.codes) if _code(c.codes) else ''}, "
                           f"{c.clinical_status or 'status not recorded'}"
                           f"{', since ' + _iso(c.onset) if c.onset else ''})" for c, _ in answering)
        return RecordAnswer("problem", "yes", f"Yes: {listed}.", concept.label,
                            facts=tuple(_condition_fact(c, how) for c, how in answering),
                            context=tuple(_condition_fact(c, how) for c, how in others), searched=searched)
    text = f"No {concept.label.lower()} on the problem list (searched {view.searched_text('Condition')})."
    if others:
        text += " Not current: " + "; ".join(f"{c.name} ({c.source}, {c.clinical_status})" for c, _ in others) + "."
    return RecordAnswer("problem", "no", text, concept.label,
                        context=tuple(_condition_fact(c, how) for c, how in others), searched=searched)


def answer_problem_list(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    current = [c for c in view.conditions if condition_is_current(c)]
    searched = _searched(view, "Condition")
    if not current:
        return RecordAnswer("problem_list", "no", f"No current problems recorded (searched "
                            f"{view.searched_text('Condition')}).", searched=searched)
    return RecordAnswer("problem_list", "list", "Current problems: " + "; ".join(
        f"{c.name} ({c.source})" for c in current) + ".", facts=tuple(_condition_fact(c, "code") for c in current),
        searched=searched)


def _dated_fact(entry: RecordProcedure | RecordImmunization, how: str) -> Fact:
    when = getattr(entry, "performed", None) or getattr(entry, "occurred", None)
    notes = [f"status {entry.status}"] if entry.status and entry.status != "completed" else []
    if how == BY_NAME:
        notes.append("recognised by its name")
    return Fact(entry.source, entry.name, None, None, _iso(when), _code(entry.codes), "; ".join(notes) or None)


def _done(entries, concept: CodedConcept, vocab: Vocabulary, when_of) -> list[tuple[object, str]]:
    found = [(e, how) for e in entries if e.status not in ("not-done", "entered-in-error")
             and (how := entry_matches(e, concept, vocab))]
    return sorted(found, key=lambda pair: sort_key(when_of(pair[0])), reverse=True)


def answer_procedure(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    concept: CodedConcept = vocab.concept(intent.target)  # type: ignore[assignment]
    everything = _done(view.procedures, concept, vocab, lambda p: p.performed)
    window = _window(intent, view)
    found = [(p, how) for p, how in everything if window.holds(p.performed)]
    searched = _searched(view, "Procedure")
    if not found:
        text = f"No {concept.label.lower()}{window.words} in the record (searched {view.searched_text('Procedure')})."
        if everything:
            last = everything[0][0]
            text += f" Last: {last.name} on {_iso(last.performed)} ({last.source})."
        return RecordAnswer("procedure", "no", text, concept.label,
                            context=tuple(_dated_fact(p, how) for p, how in everything), searched=searched)
    listed = "; ".join(f"{p.name} on {_iso(p.performed) or 'an unrecorded date'} ({p.source})" for p, _ in found)
    return RecordAnswer("procedure", "yes", f"Yes: {listed}.", concept.label, date=_iso(found[0][0].performed),
                        facts=tuple(_dated_fact(p, how) for p, how in found), searched=searched)


def answer_immunization(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    concept: CodedConcept = vocab.concept(intent.target)  # type: ignore[assignment]
    found = _done(view.immunizations, concept, vocab, lambda i: i.occurred)
    window = _window(intent, view, concept.season_start)
    searched = _searched(view, "Immunization")
    inside = [(i, how) for i, how in found if window.holds(i.occurred)]
    since = window.words
    if not inside:
        text = f"No {concept.label.lower()}{since} in the record (searched {view.searched_text('Immunization')})."
        if found:
            last, _ = found[0]
            text += f" Last: {last.name} on {_iso(last.occurred)} ({last.source})."
        return RecordAnswer("immunization", "no", text, concept.label,
                            context=tuple(_dated_fact(i, how) for i, how in found), searched=searched)
    listed = "; ".join(f"{i.name} on {_iso(i.occurred) or 'an unrecorded date'} ({i.source})" for i, _ in inside)
    # "When was her last tetanus shot?" is answered by the latest dose; "has he had the series?" by every dose.
    answering = inside[:1] if intent.latest else inside
    return RecordAnswer("immunization", "yes", f"Yes{since}: {listed}.", concept.label,
                        date=_iso(inside[0][0].occurred), facts=tuple(_dated_fact(i, how) for i, how in answering),
                        context=tuple(_dated_fact(i, how) for i, how in inside[len(answering):]), searched=searched)


def answer_immunization_list(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    done = sorted((i for i in view.immunizations if i.status not in ("not-done", "entered-in-error")),
                  key=lambda i: sort_key(i.occurred), reverse=True)
    searched = _searched(view, "Immunization")
    if not done:
        return RecordAnswer("immunization_list", "no", f"No immunizations recorded (searched "
                            f"{view.searched_text('Immunization')}).", searched=searched)
    return RecordAnswer("immunization_list", "list", "Immunizations: " + "; ".join(
        f"{i.name} on {_iso(i.occurred)} ({i.source})" for i in done) + ".",
        facts=tuple(_dated_fact(i, "code") for i in done), searched=searched)


def answer_procedure_list(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    done = sorted((p for p in view.procedures if p.status not in ("not-done", "entered-in-error")),
                  key=lambda p: sort_key(p.performed), reverse=True)
    searched = _searched(view, "Procedure")
    if not done:
        return RecordAnswer("procedure_list", "no", f"No procedures recorded (searched "
                            f"{view.searched_text('Procedure')}).", searched=searched)
    return RecordAnswer("procedure_list", "list", "Procedures: " + "; ".join(
        f"{p.name} on {_iso(p.performed)} ({p.source})" for p in done) + ".",
        facts=tuple(_dated_fact(p, "code") for p in done), searched=searched)


# -- allergies and smoking -----------------------------------------------------------------------------------------
def _allergy_fact(a: AllergyEntry) -> Fact:
    notes = [f"clinical status {a.clinical_status or 'not recorded'}"]
    if a.reactions:
        notes.append("reaction: " + ", ".join(a.reactions))
    if a.criticality:
        notes.append(f"criticality {a.criticality}")
    return Fact(a.source, a.substance, None, None, _iso(a.recorded), None, "; ".join(notes))


def answer_allergy(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    searched = _searched(view, "AllergyIntolerance")
    found: list[AllergyEntry] = []
    labels = []
    groups: dict[str, str] = {}  # allergy source -> the group through which it covers the drug asked about
    for target in intent.targets:
        concept: CodedConcept = vocab.concept(target)  # type: ignore[assignment]
        labels.append(concept.label)
        found += [a for a in view.allergies if a not in found and allergy_matches(a, target, concept, vocab)]
        if target.kind == DRUG:
            # Amoxicillin is a penicillin: an allergy to the group covers it.
            for group in vocab.allergen_groups_of(concept.label):
                for a in view.allergies:
                    if a not in found and allergy_matches(a, Target(ALLERGEN, group.id), group, vocab):
                        found.append(a)
                        groups[a.source] = f"{concept.label} is one of the {group.label.lower()}"
    current = [a for a in found if allergy_is_current(a)]
    what = " or ".join(labels)
    if current:
        listed = "; ".join(f"{a.substance} ({a.source}{', reaction: ' + ', '.join(a.reactions) if a.reactions else ''}"
                           f"{', criticality ' + a.criticality if a.criticality else ''}"
                           f"{'; ' + groups[a.source] if a.source in groups else ''})" for a in current)
        return RecordAnswer("allergy", "yes", f"Yes: {listed}.", what, facts=tuple(map(_allergy_fact, current)),
                            searched=searched)
    nka = [a for a in view.allergies if is_no_known_allergy(a, vocab)]
    text = f"No allergy or intolerance to {what} recorded (searched {view.searched_text('AllergyIntolerance')})."
    if nka:
        text += " Recorded: " + "; ".join(f"{a.substance} ({a.source})" for a in nka) + "."
    return RecordAnswer("allergy", "no", text, what, facts=tuple(map(_allergy_fact, nka)), searched=searched)


def answer_allergy_list(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    searched = _searched(view, "AllergyIntolerance")
    nka = [a for a in view.allergies if is_no_known_allergy(a, vocab)]
    current = [a for a in view.allergies if allergy_is_current(a) and a not in nka]
    if intent.category == "medication":
        current = [a for a in current if a.ingredients or a.classes or _category(a) == "medication"]
    elif intent.category == "food":
        current = [a for a in current if _category(a) == "food"]
    kind = f"{intent.category} " if intent.category else ""
    if current:
        return RecordAnswer("allergy_list", "list", f"Recorded {kind}allergies: " + "; ".join(
            f"{a.substance} ({a.source}{', reaction: ' + ', '.join(a.reactions) if a.reactions else ''})"
            for a in current) + ".", facts=tuple(map(_allergy_fact, current)), searched=searched)
    if nka:
        return RecordAnswer("allergy_list", "no", f"No {kind}allergies: " + "; ".join(
            f"{a.substance} recorded ({a.source}{', ' + _iso(a.recorded) if a.recorded else ''})" for a in nka) + ".",
            facts=tuple(map(_allergy_fact, nka)), searched=searched)
    return RecordAnswer("allergy_list", "not_found", f"No {kind}allergies recorded, and no 'no known allergies' entry "
                        f"either (searched {view.searched_text('AllergyIntolerance')}).", searched=searched)


def _category(a: AllergyEntry) -> str | None:
    return a.category[0] if a.category else None


def answer_smoking(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    statuses = sorted((m for m in view.measurements if "smoking_status" in m.concepts and m.answer),
                      key=lambda m: sort_key(m.effective), reverse=True)
    searched = _searched(view, "Observation")
    if not statuses:
        return RecordAnswer("smoking", "not_found", f"No coded smoking status in the record (searched "
                            f"{view.searched_text('Observation')}).", "Smoking status", searched=searched)
    latest = statuses[0]
    concept = next((c for c in latest.answer_concepts if c in SMOKING_ANSWERS), None)
    result = SMOKING_ANSWERS.get(concept or "", "unknown")
    reading = {"smoker_current": "Current smoker", "smoker_former": "Former smoker, not smoking now",
               "smoker_never": "Never smoker", "smoker_unknown": "Smoking status unknown"}.get(
        concept or "", "Smoking status not recognised")
    fact = _measurement_fact(latest, "code")
    text = f"{reading}: '{latest.answer}' on {_iso(latest.effective)} ({latest.source}" \
           f"{', ' + _code(latest.codes) if _code(latest.codes) else ''})."
    return RecordAnswer("smoking", result, text, "Smoking status", latest.answer, None, _iso(latest.effective),
                        (fact,), searched=searched)


ANSWERS = {
    "value": answer_value, "trend": answer_trend, "medication": answer_medication,
    "medication_list": answer_medication_list, "dose": answer_dose, "problem": answer_problem,
    "problem_list": answer_problem_list, "procedure": answer_procedure, "procedure_list": answer_procedure_list,
    "immunization": answer_immunization, "immunization_list": answer_immunization_list, "allergy": answer_allergy,
    "allergy_list": answer_allergy_list, "smoking": answer_smoking,
}


def answer_free_text(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    """A word the vocabulary does not know ("NT-proBNP", "pneumonia"): searched by name in the record's results,
    problems and procedures. Nothing found is "not_found" (the caller then refuses): without the word's codes, a
    "no" would be a guess."""
    term = (normalised(intent.free_term or ""),)

    def named(entry) -> bool:
        return names_in(term, " ".join([entry.name, *(c.display or "" for c in entry.codes)]), vocab)

    if intent.type == "value":
        parts = [(part, BY_NAME) for m in view.measurements for part in (m, *m.components)
                 if named(part) and (part.value is not None or part.answer is not None)]
        if parts:
            parts.sort(key=lambda pair: sort_key(pair[0].effective), reverse=True)
            fact = _measurement_fact(*parts[0])
            return RecordAnswer("value", "value", f"{fact.label}: {fact.value}{f' {fact.unit}' if fact.unit else ''}"
                                f" on {fact.date} ({fact.source}; recognised by its name).", intent.free_term,
                                fact.value, fact.unit, fact.date, (fact,), searched=_searched(view, "Observation"))
    conditions = [c for c in view.conditions if named(c)]
    procedures = [p for p in view.procedures if named(p) and p.status not in ("not-done", "entered-in-error")]
    searched = _searched(view, "Observation", "Condition", "Procedure")
    if not conditions and not procedures:
        return RecordAnswer(intent.type, "not_found", f"Nothing in the record names '{intent.free_term}' (searched "
                            f"{view.searched_text('Observation', 'Condition', 'Procedure')}).", intent.free_term,
                            searched=searched)
    current = [c for c in conditions if intent.past or condition_is_current(c)]
    facts = tuple(_condition_fact(c, BY_NAME) for c in current) + tuple(_dated_fact(p, BY_NAME) for p in procedures)
    context = tuple(_condition_fact(c, BY_NAME) for c in conditions if c not in current)
    if not facts:
        return RecordAnswer(intent.type, "no", f"Not current: " + "; ".join(f.describe() for f in context) + ".",
                            intent.free_term, context=context, searched=searched)
    return RecordAnswer(intent.type, "yes", "Yes: " + "; ".join(f.describe() for f in facts) + ".", intent.free_term,
                        facts=facts, context=context, searched=searched)


def answer_from_record(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    if intent.target is None and intent.free_term and intent.type in ("problem", "procedure", "value"):
        return answer_free_text(view, intent, vocab)
    return ANSWERS[intent.type](view, intent, vocab)
