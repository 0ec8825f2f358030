"""AHA PREVENT equations, base model, 10-year horizon (Khan SS et al., Circulation 2024;149:430-449).

Sex-specific, race-free logistic equations for total CVD, ASCVD and heart failure:
risk = exp(x) / (1 + exp(x)), x = constant + sum(beta * term). Coefficients and term definitions
live in ``engine/data/prevent_2024_base.json`` with their provenance.

One finding is emitted: its value is 10-year total CVD; ASCVD and heart failure travel as measures.
BMI enters the heart-failure equation only, so without a usable BMI the CVD and ASCVD estimates are
still given and the heart-failure estimate is left out, with the reason in the finding.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Mapping

from engine.base import Engine
from engine.calculators.pce import lipid_panel_action
from engine.finding import Citation, Evidence, Finding, Kind, Measure, MissingInput, Severity, Status, Term
from engine.inputs import FeatureSet
from engine.registry import calculator

SEXES = ("female", "male")
OUTCOMES = ("cvd", "ascvd", "hf")
NUMERIC_FEATURES = ("age_years", "chol_total_mgdl", "hdl_mgdl", "sbp_mmhg", "egfr_mlmin173m2")
BOOLEAN_FEATURES = ("bp_treated", "statin", "diabetes", "smoker_current")
LIPID_FEATURES = ("chol_total_mgdl", "hdl_mgdl")

_TERM_LABELS = {
    "constant": "Intercept",
    "age": "Age, per 10 years from 55",
    "non_hdl": "Non-HDL-C, per mmol/L from 3.5",
    "hdl": "HDL-C, per 0.3 mmol/L from 1.3",
    "sbp_lt_110": "SBP below 110, per 20 mmHg",
    "sbp_gte_110": "SBP 110 and over, per 20 mmHg from 130",
    "diabetes": "Diabetes",
    "smoker": "Current smoker",
    "bmi_lt_30": "BMI below 30, per 5 kg/m2 from 25",
    "bmi_gte_30": "BMI 30 and over, per 5 kg/m2 from 30",
    "egfr_lt_60": "eGFR below 60, per 15 mL/min/1.73m2 lower",
    "egfr_gte_60": "eGFR 60 and over, per 15 mL/min/1.73m2 below 90",
    "bp_treated": "Antihypertensive treatment",
    "statin": "Statin",
    "bp_treated_x_sbp_gte_110": "Antihypertensive treatment x SBP (110 and over)",
    "statin_x_non_hdl": "Statin x non-HDL-C",
    "age_x_non_hdl": "Age x non-HDL-C",
    "age_x_hdl": "Age x HDL-C",
    "age_x_sbp_gte_110": "Age x SBP (110 and over)",
    "age_x_diabetes": "Age x diabetes",
    "age_x_smoker": "Age x current smoker",
    "age_x_bmi_gte_30": "Age x BMI (30 and over)",
    "age_x_egfr_lt_60": "Age x eGFR (below 60)",
}
_OUTCOME_LABELS = {"cvd": "total CVD", "ascvd": "ASCVD", "hf": "heart failure"}
_RANGE_LABELS = {"age_years": "Age", "chol_total_mgdl": "Total cholesterol", "hdl_mgdl": "HDL cholesterol",
                 "sbp_mmhg": "Systolic blood pressure", "egfr_mlmin173m2": "eGFR", "bmi_kgm2": "BMI"}


@cache
def coefficients() -> dict[str, Any]:
    """Khan 2024 base-model coefficients, ranges and categories (read-only package data)."""
    path = resources.files("engine") / "data" / "prevent_2024_base.json"
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class OutcomeRisk:
    outcome: str  # "cvd" | "ascvd" | "hf"
    risk_percent: float
    log_odds: float  # the linear predictor; equals the sum of the term contributions
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class PreventResult:
    sex: str
    cvd: OutcomeRisk
    ascvd: OutcomeRisk
    hf: OutcomeRisk | None  # None when BMI was not given


@dataclass(frozen=True)
class RangeViolation:
    name: str
    label: str
    value: float
    low: float
    high: float
    unit: str

    @property
    def message(self) -> str:
        return (f"{self.label} {self.value:g} {self.unit} is outside the validated range "
                f"{self.low:g}-{self.high:g} {self.unit}.")


def validated_range_violations(values: Mapping[str, float]) -> list[RangeViolation]:
    """Inputs outside the PREVENT validated ranges (bounds inclusive)."""
    ranges = coefficients()["validated_ranges"]
    violations = []
    for name, value in values.items():
        bounds = ranges.get(name)
        if bounds and not bounds["min"] <= value <= bounds["max"]:
            violations.append(RangeViolation(name, _RANGE_LABELS.get(name, name), value,
                                             bounds["min"], bounds["max"], bounds["unit"]))
    return violations


def _predictors(*, age_years, chol_total_mgdl, hdl_mgdl, sbp_mmhg, bp_treated, statin, diabetes,
                smoker_current, egfr_mlmin173m2, bmi_kgm2) -> dict[str, float]:
    """The centred and spline-knotted terms of Khan 2024 (definitions in the data file)."""
    to_mmol = coefficients()["cholesterol_mgdl_to_mmoll"]
    age = (age_years - 55.0) / 10.0
    non_hdl = (chol_total_mgdl - hdl_mgdl) * to_mmol - 3.5
    hdl = (hdl_mgdl * to_mmol - 1.3) / 0.3
    sbp_lt_110 = (min(sbp_mmhg, 110.0) - 110.0) / 20.0
    sbp_gte_110 = (max(sbp_mmhg, 110.0) - 130.0) / 20.0
    egfr_lt_60 = (min(egfr_mlmin173m2, 60.0) - 60.0) / -15.0
    egfr_gte_60 = (max(egfr_mlmin173m2, 60.0) - 90.0) / -15.0
    treated, on_statin = float(bool(bp_treated)), float(bool(statin))
    dm, smoker = float(bool(diabetes)), float(bool(smoker_current))
    x = {
        "constant": 1.0,
        "age": age,
        "non_hdl": non_hdl,
        "hdl": hdl,
        "sbp_lt_110": sbp_lt_110,
        "sbp_gte_110": sbp_gte_110,
        "diabetes": dm,
        "smoker": smoker,
        "egfr_lt_60": egfr_lt_60,
        "egfr_gte_60": egfr_gte_60,
        "bp_treated": treated,
        "statin": on_statin,
        "bp_treated_x_sbp_gte_110": treated * sbp_gte_110,
        "statin_x_non_hdl": on_statin * non_hdl,
        "age_x_non_hdl": age * non_hdl,
        "age_x_hdl": age * hdl,
        "age_x_sbp_gte_110": age * sbp_gte_110,
        "age_x_diabetes": age * dm,
        "age_x_smoker": age * smoker,
        "age_x_egfr_lt_60": age * egfr_lt_60,
    }
    if bmi_kgm2 is not None:
        bmi_gte_30 = (max(bmi_kgm2, 30.0) - 30.0) / 5.0
        x.update(bmi_lt_30=(min(bmi_kgm2, 30.0) - 25.0) / 5.0, bmi_gte_30=bmi_gte_30, age_x_bmi_gte_30=age * bmi_gte_30)
    return x


def _outcome(outcome: str, beta: Mapping[str, float], x: Mapping[str, float]) -> OutcomeRisk:
    terms = tuple(Term(_TERM_LABELS[key], x[key], coef * x[key]) for key, coef in beta.items())
    log_odds = math.fsum(term.contribution for term in terms)
    return OutcomeRisk(outcome, 100.0 / (1.0 + math.exp(-log_odds)), log_odds, terms)


def prevent_10y_base(
    *,
    age_years: float,
    sex: str,
    chol_total_mgdl: float,
    hdl_mgdl: float,
    sbp_mmhg: float,
    bp_treated: bool,
    statin: bool,
    diabetes: bool,
    smoker_current: bool,
    egfr_mlmin173m2: float,
    bmi_kgm2: float | None = None,
) -> PreventResult:
    """10-year total CVD, ASCVD and (when BMI is given) heart-failure risk, in percent.

    The validated ranges are NOT enforced here - use ``validated_range_violations`` first; only
    impossible values raise ValueError.
    """
    if sex not in SEXES:
        raise ValueError("sex must be 'female' or 'male'")
    numbers = {"age_years": age_years, "chol_total_mgdl": chol_total_mgdl, "hdl_mgdl": hdl_mgdl,
               "sbp_mmhg": sbp_mmhg, "egfr_mlmin173m2": egfr_mlmin173m2}
    if bmi_kgm2 is not None:
        numbers["bmi_kgm2"] = bmi_kgm2
    for name, value in numbers.items():
        if not _is_finite_number(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number")
    if hdl_mgdl >= chol_total_mgdl:
        raise ValueError("HDL cholesterol must be lower than total cholesterol")

    x = _predictors(age_years=age_years, chol_total_mgdl=chol_total_mgdl, hdl_mgdl=hdl_mgdl, sbp_mmhg=sbp_mmhg,
                    bp_treated=bp_treated, statin=statin, diabetes=diabetes, smoker_current=smoker_current,
                    egfr_mlmin173m2=egfr_mlmin173m2, bmi_kgm2=bmi_kgm2)
    equations = coefficients()["equations"][sex]
    return PreventResult(
        sex=sex,
        cvd=_outcome("cvd", equations["cvd"], x),
        ascvd=_outcome("ascvd", equations["ascvd"], x),
        hf=_outcome("hf", equations["hf"], x) if bmi_kgm2 is not None else None,
    )


def risk_category(risk_percent: float) -> str:
    """PREVENT band of an (unrounded) 10-year total CVD risk in percent."""
    for band in coefficients()["categories"]["bands"]:
        if band["below_percent"] is None or risk_percent < band["below_percent"]:
            return band["name"]
    raise AssertionError("the last band is open-ended")  # pragma: no cover


def category_thresholds() -> tuple[str, ...]:
    return tuple(band["text"] for band in coefficients()["categories"]["bands"])


_SEVERITY = {"low": Severity.INFO, "borderline": Severity.INFO,
             "intermediate": Severity.WARNING, "high": Severity.WARNING}


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def unusable_inputs(features: FeatureSet) -> list[MissingInput]:
    """Present required features whose value the equations cannot use, reported like missing ones."""
    problems = []
    for name in NUMERIC_FEATURES:
        ev = features.get(name)
        if ev is not None and not (_is_finite_number(ev.value) and ev.value > 0):
            problems.append(MissingInput(name, ev.label, "recorded value is not a positive number"))
    for name in BOOLEAN_FEATURES:
        ev = features.get(name)
        if ev is not None and not isinstance(ev.value, bool):
            problems.append(MissingInput(name, ev.label, "recorded value is neither yes nor no"))
    sex = features.get("sex")
    if sex is not None and sex.value not in SEXES:
        problems.append(MissingInput("sex", sex.label,
                                     "the equations are sex-specific and need sex recorded as female or male"))
    return problems


def _terms_as_dicts(terms: tuple[Term, ...]) -> list[dict]:
    return [{"label": t.label, "value": t.value, "contribution": t.contribution} for t in terms]


@calculator
class PreventBase(Engine):
    id = "prevent-2024-base"
    version = "1.0.0"
    title = "10-year cardiovascular risk (AHA PREVENT)"
    kind = Kind.RISK
    citation = Citation(
        short="Khan 2024 (AHA PREVENT)",
        full=(
            "Khan SS, Matsushita K, Sang Y, et al. Development and Validation of the American Heart "
            "Association's Predicting Risk of Cardiovascular Disease EVENTs (PREVENT) Equations. "
            "Circulation. 2024;149(6):430-449."
        ),
        url="https://doi.org/10.1161/CIRCULATIONAHA.123.067626",
        doi="10.1161/CIRCULATIONAHA.123.067626",
        topic="Cardiovascular risk assessment (primary prevention)",
    )
    requires = ("age_years", "sex", "chol_total_mgdl", "hdl_mgdl", "sbp_mmhg", "bp_treated", "statin",
                "diabetes", "smoker_current", "egfr_mlmin173m2")
    optional = ("bmi_kgm2", "ascvd")

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        return [self._assess(features)]

    @property
    def finding_id(self) -> str:
        return f"{self.id}:cvd-10y"

    def _assess(self, features: FeatureSet) -> Finding:
        ascvd = features.get("ascvd")
        if ascvd is not None and ascvd.value is True:
            return self.not_applicable(
                features, [ascvd], finding_id=self.finding_id,
                message=("Clinical cardiovascular disease is recorded: the PREVENT equations estimate risk in "
                         "people without CVD and do not apply; manage as secondary prevention."),
            )

        present, missing = self.gather(features, self.requires)
        unusable = unusable_inputs(features)
        unusable_names = {m.name for m in unusable}
        usable = [ev for ev in present if ev.name not in unusable_names]

        violations = validated_range_violations(
            {ev.name: ev.value for ev in usable if ev.name in NUMERIC_FEATURES})
        if violations:
            return self.not_applicable(
                features, usable, finding_id=self.finding_id,
                message=" ".join(v.message for v in violations)
                + " The PREVENT equations give no estimate outside their validated range.",
                extra={"out_of_range": [v.name for v in violations]},
            )

        missing = missing + unusable
        if missing:
            actions = ()
            if any(m.name in LIPID_FEATURES for m in missing):
                actions = (lipid_panel_action(
                    "Total and HDL cholesterol are needed to estimate 10-year cardiovascular risk (AHA PREVENT)."),)
            return self.insufficient(features, usable, missing, finding_id=self.finding_id, actions=actions)

        bmi_evidence, bmi_missing, bmi_note = self._bmi(features)
        result = prevent_10y_base(
            age_years=features.value("age_years"),
            sex=features.value("sex"),
            chol_total_mgdl=features.value("chol_total_mgdl"),
            hdl_mgdl=features.value("hdl_mgdl"),
            sbp_mmhg=features.value("sbp_mmhg"),
            bp_treated=features.value("bp_treated"),
            statin=features.value("statin"),
            diabetes=features.value("diabetes"),
            smoker_current=features.value("smoker_current"),
            egfr_mlmin173m2=features.value("egfr_mlmin173m2"),
            bmi_kgm2=bmi_evidence.value if bmi_evidence is not None else None,
        )

        measures = [Measure("10-year ASCVD", result.ascvd.risk_percent, "%")]
        if result.hf is not None:
            measures.append(Measure("10-year heart failure", result.hf.risk_percent, "%"))
        assumptions = ["Base model: urine albumin-to-creatinine ratio, HbA1c and social deprivation index "
                       "are not used."]
        if bmi_note:
            assumptions.append(bmi_note)
        if ascvd is None:
            assumptions.append("No clinical cardiovascular disease found in the record; primary prevention assumed.")
        # BMI is shown when it was a number (used, or out of range and so why HF is absent).
        bmi_seen = features.get("bmi_kgm2")
        if bmi_seen is not None and not _is_finite_number(bmi_seen.value):
            bmi_seen = None
        inputs = usable + [ev for ev in (bmi_seen, ascvd) if ev is not None]
        category = risk_category(result.cvd.risk_percent)
        extra = {
            "log_odds": {o.outcome: o.log_odds for o in (result.cvd, result.ascvd, result.hf) if o is not None},
            "explanation_ascvd": _terms_as_dicts(result.ascvd.terms),
        }
        if result.hf is not None:
            extra["explanation_hf"] = _terms_as_dicts(result.hf.terms)
        return self.finding(
            Status.COMPUTED,
            finding_id=self.finding_id,
            value=result.cvd.risk_percent,
            unit="%",
            category=category,
            thresholds=category_thresholds(),
            severity=_SEVERITY[category],
            inputs=tuple(inputs),
            missing=tuple(bmi_missing),
            assumptions=tuple(assumptions),
            input_problems=self.relevant_problems(features),
            explanation=result.cvd.terms,
            measures=tuple(measures),
            method=(f"AHA PREVENT base model, {result.sex} equations: 10-year risk = 1 / (1 + exp(-x)); "
                    f"x(total CVD) = {result.cvd.log_odds:.4f}; ASCVD and heart failure from their own equations."),
            extra=extra,
        )

    @staticmethod
    def _bmi(features: FeatureSet) -> tuple[Evidence | None, list[MissingInput], str | None]:
        """BMI for the heart-failure equation, or why the heart-failure estimate is left out."""
        evidence = features.get("bmi_kgm2")
        if evidence is None:
            reason = features.missing_reason("bmi_kgm2")
            missing = MissingInput(reason.name, reason.label,
                                   f"{reason.reason} (needed for the heart-failure estimate only)")
            return None, [missing], ("BMI not available: heart-failure risk is not estimated; total CVD and "
                                     "ASCVD equations do not use BMI.")
        if not (_is_finite_number(evidence.value) and evidence.value > 0):
            missing = MissingInput("bmi_kgm2", evidence.label,
                                   "recorded value is not a positive number (needed for the heart-failure estimate)")
            return None, [missing], "BMI unusable: heart-failure risk is not estimated."
        violations = validated_range_violations({"bmi_kgm2": evidence.value})
        if violations:
            return None, [], (f"{violations[0].message} Heart-failure risk is not estimated; total CVD and "
                              "ASCVD equations do not use BMI, but the patient lies outside the BMI range "
                              "of the derivation population.")
        return evidence, [], None
