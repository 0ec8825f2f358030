"""The engine's input contract: a set of named, provenance-carrying features.

The FHIR adapter builds a FeatureSet from the record; calculators read from it and never see FHIR.
Feature names carry their unit (``chol_total_mgdl``, ``sbp_mmhg``) so that a unit mix-up is a
naming error, not a silent clinical one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from engine import feature_catalog
from engine.clinical_record import AllergyEntry, DraftOrder, MedicationEntry
from engine.finding import Evidence, InputProblem, MissingInput

# Canonical feature names, their human labels and units (declared once, in engine/feature_catalog.py). The adapter
# produces these; engines read them.
FEATURE_LABELS: dict[str, tuple[str, str | None]] = feature_catalog.labels()


def feature_label(name: str) -> str:
    return FEATURE_LABELS.get(name, (name, None))[0]


def feature_unit(name: str) -> str | None:
    return FEATURE_LABELS.get(name, (name, None))[1]


@dataclass
class FeatureSet:
    """Features of one patient at one point in time (the request date)."""

    as_of: date
    values: dict[str, Evidence] = field(default_factory=dict)
    missing: dict[str, MissingInput] = field(default_factory=dict)
    problems: list[InputProblem] = field(default_factory=list)
    # Every usable value per feature inside its look-back window, newest first (detectors need repeated results).
    history: dict[str, list[Evidence]] = field(default_factory=dict)
    # Active problem-list codes as (system, code) pairs, so detectors can tell "already diagnosed".
    condition_codes: set[tuple[str, str]] = field(default_factory=set)
    # The moment of the request (timezone-aware), for scores that need recent vitals; None offline without a clock.
    now: datetime | None = None
    # Engine options from the service configuration (e.g. {"vitals_max_age_h": 24}); engines read them with defaults.
    options: dict[str, Any] = field(default_factory=dict)
    # The medication list and allergies (engine/clinical_record.py), for rules that need more than a boolean.
    medications: tuple[MedicationEntry, ...] = ()
    allergies: tuple[AllergyEntry, ...] = ()
    # The orders being drafted (CDS Hooks order-select / order-sign draftOrders): what order-time checks are about,
    # kept apart from the medication list. Empty for every other hook.
    draft_orders: tuple[DraftOrder, ...] = ()

    def get(self, name: str) -> Evidence | None:
        return self.values.get(name)

    def value(self, name: str, default: Any = None) -> Any:
        ev = self.values.get(name)
        return default if ev is None else ev.value

    def has(self, name: str) -> bool:
        return name in self.values

    def series(self, name: str) -> list[Evidence]:
        """All usable values of a feature, newest first; the latest alone when no history was recorded."""
        if name in self.history:
            return self.history[name]
        latest = self.values.get(name)
        return [latest] if latest is not None else []

    def put(self, evidence: Evidence) -> None:
        self.values[evidence.name] = evidence
        self.missing.pop(evidence.name, None)

    def mark_missing(self, name: str, reason: str) -> None:
        if name not in self.values:
            self.missing[name] = MissingInput(name, feature_label(name), reason)

    def missing_reason(self, name: str) -> MissingInput:
        """Why a feature is absent; a generic reason if the adapter recorded none."""
        return self.missing.get(name) or MissingInput(name, feature_label(name), "not found in the record")

    def problems_for(self, names: set[str]) -> tuple[InputProblem, ...]:
        return tuple(p for p in self.problems if p.name is None or p.name in names)
