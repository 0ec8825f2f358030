"""The Finding: the only thing the engine produces, and the only thing cards are rendered from.

A finding carries its whole evidence trail so that a card (or an auditor) never has to go back
to the raw record: every input used with value, unit, date and source; every input that was
missing and why; the assumptions made; the method and its citation; and an explanation of how
the number came about.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from engine.proposals import ConditionRef, SelectionBehavior, Suggestion
from engine.quick_init import quick_init


class Kind(str, enum.Enum):
    RISK = "risk"
    DIAGNOSIS = "diagnosis"
    TREATMENT = "treatment"


class Status(str, enum.Enum):
    COMPUTED = "computed"
    INSUFFICIENT_DATA = "insufficient-data"
    NOT_APPLICABLE = "not-applicable"
    ERROR = "error"


class Severity(str, enum.Enum):
    """Maps one-to-one onto the CDS Hooks card indicator."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "critical": 2}[self.value]


@dataclass(frozen=True)
class Citation:
    short: str  # e.g. "Goff 2013"
    full: str  # full bibliographic reference
    url: str | None = None  # guideline / paper URL shown as the card link
    doi: str | None = None
    topic: str | None = None  # guideline topic, used for the card source topic


@quick_init  # built once per reading or problem: see engine/quick_init.py
@dataclass(frozen=True)
class Evidence:
    """One input actually used, with provenance."""

    name: str  # feature name with unit in it, e.g. "chol_total_mgdl"
    label: str  # human label, e.g. "Total cholesterol"
    value: Any
    unit: str | None = None
    effective: date | datetime | None = None
    source: str | None = None  # "Observation/123"; None when derived or defaulted
    derived_from: tuple["Evidence", ...] = ()
    note: str | None = None  # e.g. "converted from 5.5 mmol/L"


@quick_init  # built once per reading or problem: see engine/quick_init.py
@dataclass(frozen=True)
class MissingInput:
    name: str
    label: str
    reason: str


@quick_init  # built once per reading or problem: see engine/quick_init.py
@dataclass(frozen=True)
class InputProblem:
    """A value that was present but not used (bad unit, implausible, stale, invalid resource)."""

    source: str | None
    name: str | None
    reason: str


@dataclass(frozen=True)
class Term:
    """One line of the explanation, e.g. one term of a Cox model and its contribution."""

    label: str
    value: float | str
    contribution: float | None = None


@dataclass(frozen=True)
class Measure:
    """A secondary result of the same engine (e.g. PREVENT ASCVD and HF next to total CVD)."""

    label: str
    value: float
    unit: str
    category: str | None = None
    # How a card says it, when "label value unit" does not read as one (a rate at a score): "About 1.0 major bleeds
    # per 100 patient-years at a score of 1 (Pisters 2010)." The explainer page shows label, value and unit.
    sentence: str | None = None


@dataclass(frozen=True)
class Details:
    """Base of an engine's typed result details beyond value and category (the PCE equation and linear predictor, the
    NEWS2 SpO2 scale, ...): each engine declares its own frozen dataclass, so what a finding carries is documented and
    checked rather than a free-form dict. Serialised with the finding (engine.serialize) for the CLI and audit."""


@dataclass(frozen=True)
class Recommendation:
    """What a guideline says to do for this patient, with its strength: the one recommendation line of a card.

    ``strength`` is the guideline's own grading, verbatim in kind ("Class I, LOE A", "USPSTF grade B",
    "CPIC strong"); ``guideline`` names the guideline and year ("2018 AHA/ACC cholesterol guideline")."""

    text: str  # "Start a moderate-intensity statin"
    guideline: str
    strength: str
    citation: Citation | None = None  # when it differs from the finding's own citation


@dataclass(frozen=True)
class TextMention:
    """Where a note mentions the finding's condition: the audit trail of the note engine (offsets into the note)."""

    source: str  # "DocumentReference/n1"
    date: date | datetime | None
    sentence: str
    sentence_start: int
    sentence_end: int
    mention_start: int
    mention_end: int
    matched_text: str
    method: str  # "lexical", "embedding", "abbreviation-confirmed"
    score: float | None
    assertion: str  # "affirmed", "negated", ...
    assertion_trigger: str | None
    section: str | None
    code: str | None = None  # the specific ICD-10-CM code the sentence supports ("N18.32"), if any


@dataclass(frozen=True)
class Finding:
    id: str  # stable, e.g. "pce-2013:ascvd-10y"
    engine_id: str
    engine_version: str
    kind: Kind
    status: Status
    title: str  # short name of what was assessed, e.g. "10-year ASCVD risk (PCE)"
    citation: Citation
    value: float | str | None = None
    unit: str | None = None
    decimals: int | None = None  # how many decimals the card shows when the category depends on them (FIB-4: 2)
    # Where the category changes (value >= cut is the category above; a risk's 5, 7.5 and 20 %): the card never
    # rounds the value across one (7.46 % borderline is shown 7.4 %, not 7.5 %). Feature units (eGFR, BMI) have theirs
    # in the feature catalogue.
    cut_points: tuple[float, ...] = ()
    category: str | None = None  # e.g. "intermediate"
    thresholds: tuple[str, ...] = ()  # human-readable thresholds used, e.g. ("<5 % low", ...)
    severity: Severity = Severity.INFO
    inputs: tuple[Evidence, ...] = ()
    missing: tuple[MissingInput, ...] = ()
    assumptions: tuple[str, ...] = ()
    input_problems: tuple[InputProblem, ...] = ()
    explanation: tuple[Term, ...] = ()
    method: str | None = None  # one line on the formula / rule applied
    measures: tuple[Measure, ...] = ()
    message: str | None = None  # why not computed / not applicable, in words
    # What the clinician may do about it (cards/fhir.py builds the resources); ``selection`` is the card's
    # selectionBehavior: ANY unless the finding offers alternatives (then AT_MOST_ONE, whatever is set here).
    suggestions: tuple[Suggestion, ...] = ()
    selection: SelectionBehavior = SelectionBehavior.ANY
    condition: ConditionRef | None = None  # the condition it is about: findings about one condition share a card
    # The findings this one acts on, by id (a treatment on the risk score it follows from): they share a card, the
    # score leading it and the treatment giving the card its action (cards.render).
    follows_from: tuple[str, ...] = ()
    quote: str | None = None  # text quoted verbatim from the record (a note sentence): untrusted, escaped on cards
    mentions: tuple[TextMention, ...] = ()  # note engine: every affirmed mention, with offsets
    details: Details | None = None  # the engine's own typed details (see Details)
    recommendation: Recommendation | None = None  # the guideline's recommendation for this patient, if any
    # A computed result with nothing to act on (a normal eGFR with no criterion of CKD): on the explainer page of
    # the call, not on a card. Still a computed result for everything else (population scoring, audit).
    explainer_only: bool = False
    # The rule this finding is one instance of, when the id says more than the rule: an order-time check's finding is
    # about one drafted order ("drug-interactions:warfarin-nsaid:<digest of the draft>"), its rule is
    # "drug-interactions:warfarin-nsaid". None: the id is the rule (``rule``). Reports count feedback per rule.
    rule_id: str | None = None

    @property
    def rule(self) -> str:
        return self.rule_id or self.id

    @property
    def computed(self) -> bool:
        return self.status is Status.COMPUTED

    @property
    def proposals(self):
        """Every proposal of every suggestion, in order."""
        return tuple(p for s in self.suggestions for p in s.proposals)
