"""The engine's input contract: a set of named, provenance-carrying features.

The FHIR adapter builds a FeatureSet from the record; calculators read from it and never see FHIR.
Feature names carry their unit (``chol_total_mgdl``, ``sbp_mmhg``) so that a unit mix-up is a
naming error, not a silent clinical one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from engine.finding import Evidence, InputProblem, MissingInput

# Canonical feature names, their human labels and units. The adapter produces these; engines read them.
FEATURE_LABELS: dict[str, tuple[str, str | None]] = {
    "age_years": ("Age", "years"),
    "sex": ("Sex", None),  # "female" | "male"
    "race": ("Race", None),  # "white" | "african-american" | "other" (only for PCE, which needs it)
    "ethnicity": ("Ethnicity", None),
    "chol_total_mgdl": ("Total cholesterol", "mg/dL"),
    "hdl_mgdl": ("HDL cholesterol", "mg/dL"),
    "ldl_mgdl": ("LDL cholesterol", "mg/dL"),
    "sbp_mmhg": ("Systolic blood pressure", "mmHg"),
    "dbp_mmhg": ("Diastolic blood pressure", "mmHg"),
    "smoker_current": ("Current smoker", None),
    "diabetes": ("Diabetes", None),
    "hypertension": ("Hypertension", None),
    "bp_treated": ("On blood-pressure treatment", None),
    "statin": ("On statin", None),
    "ascvd": ("Clinical ASCVD", None),
    "hba1c_pct": ("HbA1c", "%"),
    "creatinine_mgdl": ("Serum creatinine", "mg/dL"),
    "egfr_mlmin173m2": ("eGFR", "mL/min/1.73m2"),
    "bmi_kgm2": ("Body-mass index", "kg/m2"),
}


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

    def get(self, name: str) -> Evidence | None:
        return self.values.get(name)

    def value(self, name: str, default: Any = None) -> Any:
        ev = self.values.get(name)
        return default if ev is None else ev.value

    def has(self, name: str) -> bool:
        return name in self.values

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
