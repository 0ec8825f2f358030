"""The Finding: the only thing the engine produces, and the only thing cards are rendered from.

A finding carries its whole evidence trail so that a card (or an auditor) never has to go back
to the raw record: every input used with value, unit, date and source; every input that was
missing and why; the assumptions made; the method and its citation; and an explanation of how
the number came about.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


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


@dataclass(frozen=True)
class MissingInput:
    name: str
    label: str
    reason: str


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


@dataclass(frozen=True)
class Action:
    """A suggested action; cards turn it into a suggestion with a FHIR create action.

    `resource` is a complete FHIR R4 resource (e.g. a draft ServiceRequest) ready to be proposed.
    """

    label: str
    description: str
    resource: dict
    type: str = "create"  # create | update | delete


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
    actions: tuple[Action, ...] = ()
    message: str | None = None  # why not computed / not applicable, in words
    extra: dict = field(default_factory=dict)

    @property
    def computed(self) -> bool:
        return self.status is Status.COMPUTED
