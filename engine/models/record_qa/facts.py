"""What an answer is made of: the facts it rests on, each with the resource it came from, and the time asked about.

A RecordAnswer's ``facts`` are the entries the answer rests on (what an EHR would link to); its ``context`` holds
related entries that are *not* the answer (a stopped statin under "No statin on the active medication list", last
season's flu shot under "not this season").
"""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.clinical_record import AllergyEntry, MedicationEntry
from engine.models.record_qa.intent import Intent
from engine.models.record_qa.matching import BY_NAME, day
from engine.models.record_qa.when import Period, resolve
from engine.record_view import Measurement, RecordCondition, RecordImmunization, RecordProcedure, RecordView


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


def iso(value) -> str | None:
    d = day(value)
    return d.isoformat() if d else None


def number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def code_label(codes) -> str | None:
    return next((c.label() for c in codes if c.code), None)


def searched_counts(view: RecordView, *types: str) -> dict:
    return {t: view.searched.get(t, 0) for t in types}


# -- the time a question asks about ------------------------------------------------------------------------
Window = Period


def window_of(intent: Intent, view: RecordView, season_start: str | None = None) -> Period:
    """The dates the question asks about ("this season", "in June 2024", "in the last 5 years"); none: the whole
    record (when.py)."""
    return resolve(intent.window, view.as_of, season_start)


def measurement_fact(m: Measurement, how: str) -> Fact:
    notes = []
    if m.panel:
        notes.append(f"component of {m.panel}")
    if m.converted:
        notes.append(f"equals {m.converted}")
    if how == BY_NAME:
        notes.append("recognised by its name: its code is in no value set of the project")
    value = None
    if m.value is not None:
        value = f"{m.comparator or ''}{number(m.value)}"
    elif m.answer is not None:
        value = m.answer
    return Fact(m.source, m.name, value, m.unit if m.value is not None else None, iso(m.effective), code_label(m.codes),
                "; ".join(notes) or None)


def condition_fact(c: RecordCondition, how: str) -> Fact:
    notes = [f"clinical status {c.clinical_status or 'not recorded'}"]
    if how == BY_NAME:
        notes.append("recognised by its name: its code is in no value set of the project")
    return Fact(c.source, c.name, None, None, iso(c.onset), code_label(c.codes), "; ".join(notes))


def dated_fact(entry: RecordProcedure | RecordImmunization, how: str) -> Fact:
    when = getattr(entry, "performed", None) or getattr(entry, "occurred", None)
    notes = [f"status {entry.status}"] if entry.status and entry.status != "completed" else []
    if how == BY_NAME:
        notes.append("recognised by its name")
    return Fact(entry.source, entry.name, None, None, iso(when), code_label(entry.codes), "; ".join(notes) or None)


def medication_fact(med: MedicationEntry) -> Fact:
    status = "active" if med.active else f"status '{med.status or 'missing'}'"
    if med.end and not med.active:
        status += f", ended {iso(med.end)}"
    notes = [status]
    if med.dose:
        notes.append(med.dose)
    if med.recognised_by == "text":
        notes.append("recognised by name in the medication text")
    return Fact(med.source, med.name, None, None, iso(med.start), None, "; ".join(notes))


def allergy_fact(a: AllergyEntry) -> Fact:
    notes = [f"clinical status {a.clinical_status or 'not recorded'}"]
    if a.reactions:
        notes.append("reaction: " + ", ".join(a.reactions))
    if a.criticality:
        notes.append(f"criticality {a.criticality}")
    return Fact(a.source, a.substance, None, None, iso(a.recorded), None, "; ".join(notes))
