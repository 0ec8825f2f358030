"""The engine's input contract: a set of named, provenance-carrying features.

The FHIR adapter builds a FeatureSet from the record; calculators read from it and never see FHIR.
Feature names carry their unit (``chol_total_mgdl``, ``sbp_mmhg``) so that a unit mix-up is a
naming error, not a silent clinical one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
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
    # -- diagnosis and risk scores (issue 3) -----------------------------------------------------------------------
    "height_cm": ("Height", "cm"),
    "weight_kg": ("Weight", "kg"),
    "waist_cm": ("Waist circumference", "cm"),
    "cystatin_c_mgl": ("Cystatin C", "mg/L"),
    "uacr_mgg": ("Urine albumin/creatinine ratio", "mg/g"),
    "glucose_fasting_mgdl": ("Fasting plasma glucose", "mg/dL"),
    "glucose_ogtt_2h_mgdl": ("2-hour plasma glucose (75 g OGTT)", "mg/dL"),
    "glucose_random_mgdl": ("Random plasma glucose", "mg/dL"),
    "hemoglobin_gdl": ("Haemoglobin", "g/dL"),
    "platelets_10e9l": ("Platelet count", "10^9/L"),
    "ast_ul": ("AST", "U/L"),
    "alt_ul": ("ALT", "U/L"),
    "bilirubin_total_mgdl": ("Total bilirubin", "mg/dL"),
    "inr": ("INR", None),
    "respiratory_rate_min": ("Respiratory rate", "/min"),
    "heart_rate_min": ("Heart rate", "/min"),
    "temperature_c": ("Body temperature", "Cel"),
    "spo2_pct": ("Oxygen saturation (SpO2)", "%"),
    "on_supplemental_o2": ("On supplemental oxygen", None),
    "consciousness_avpu": ("Level of consciousness (ACVPU)", None),  # "A" | "C" | "V" | "P" | "U"
    "gcs_total": ("Glasgow Coma Scale total", None),
    "hypercapnic_target": ("Documented hypercapnic respiratory failure SpO2 target (88-92 %)", None),
    "atrial_fibrillation": ("Atrial fibrillation or flutter", None),
    "heart_failure": ("Heart failure / LV dysfunction", None),
    "stroke_tia_thromboembolism": ("Prior stroke, TIA or thromboembolism", None),
    "vascular_disease": ("Vascular disease (MI, PAD, aortic plaque)", None),
    "chronic_kidney_disease": ("Chronic kidney disease", None),
    "dialysis_or_transplant": ("Chronic dialysis or kidney transplant", None),
    "liver_disease": ("Chronic liver disease (cirrhosis)", None),
    "bleeding_history": ("Major bleeding history or predisposition", None),
    "alcohol_excess": ("Alcohol use >= 8 drinks/week", None),
    "antiplatelet_or_nsaid": ("On antiplatelet or NSAID", None),
    "anticoagulant": ("On oral anticoagulant", None),
    "obesity": ("Obesity", None),
    "familial_hypercholesterolemia": ("Familial hypercholesterolaemia", None),
    "anemia": ("Anaemia", None),
    "prediabetes": ("Prediabetes", None),
    "pregnant": ("Pregnant", None),
    "family_history_diabetes": ("Family history of diabetes", None),
    "gestational_diabetes_history": ("History of gestational diabetes", None),
    "physically_active": ("Physically active", None),
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
    # Every usable value per feature inside its look-back window, newest first (detectors need repeated results).
    history: dict[str, list[Evidence]] = field(default_factory=dict)
    # Active problem-list codes as (system, code) pairs, so detectors can tell "already diagnosed".
    condition_codes: set[tuple[str, str]] = field(default_factory=set)
    # The moment of the request (timezone-aware), for scores that need recent vitals; None offline without a clock.
    now: datetime | None = None
    # Engine options from the service configuration (e.g. {"vitals_max_age_h": 24}); engines read them with defaults.
    options: dict[str, Any] = field(default_factory=dict)

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
