"""AHA PREVENT equations, base model, 10-year horizon (Khan SS et al., Circulation 2024;149:430-449).

Sex-specific, race-free logistic equations for total CVD, ASCVD and heart failure:
risk = exp(x) / (1 + exp(x)), x = constant + sum(beta * term). Coefficients and term definitions
live in ``engine/data/prevent_2024_base.json`` with their provenance.

One finding is emitted: its value is 10-year total CVD; ASCVD and heart failure travel as measures.
BMI enters the heart-failure equation only, so without a usable BMI the CVD and ASCVD estimates are
still given and the heart-failure estimate is left out, with the reason in the finding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from engine.base import SingleFindingEngine
from engine.calculators.common import (
    OutOfRange,
    RangeViolation,
    SEXES,
    band_below,
    band_cut_points,
    band_texts,
    is_finite_number,
    lipid_panel_if_missing,
    load_data,
    outside_range_message,
    percent_text,
    range_violations,
    unusable_equation_inputs,
)
from engine.finding import Citation, Details, Evidence, Finding, Kind, Measure, MissingInput, Severity, Term
from engine.inputs import FeatureSet
from engine.registry import calculator

DATA_FILE = "prevent_2024_base.json"
OUTCOMES = ("cvd", "ascvd", "hf")
NUMERIC_FEATURES = ("age_years", "chol_total_mgdl", "hdl_mgdl", "sbp_mmhg", "egfr_mlmin173m2")
BOOLEAN_FEATURES = ("bp_treated", "statin", "diabetes", "smoker_current")

# Labels of the terms every PREVENT model shares; the 30-year and add-on models (``prevent_30y``) add theirs.
TERM_LABELS = {
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


# Both PREVENT findings (base and add-on models) share these texts.
SECONDARY_PREVENTION = ("Clinical cardiovascular disease is recorded: the PREVENT equations estimate risk in people "
                        "without CVD and do not apply; manage as secondary prevention.")
HEART_FAILURE_NOT_APPLICABLE = ("Heart failure is recorded: the PREVENT equations estimate a first cardiovascular event "
                                "in people without CVD, heart failure included (Khan 2024), and do not apply.")
PRIMARY_PREVENTION_ASSUMED = "No clinical cardiovascular disease found in the record; primary prevention assumed."
# Khan 2024 derived PREVENT in adults aged 30-79 without CVD from pooled cohorts, with no pregnancy term; lipids,
# blood pressure and eGFR (hyperfiltration) all change physiologically during pregnancy.
PREGNANCY_NOT_APPLICABLE = ("Pregnancy is recorded: the PREVENT equations were not derived in pregnancy, and "
                            "cholesterol, blood pressure and eGFR change during pregnancy, so the estimate does not "
                            "apply; re-assess after pregnancy (AHA PREVENT 2024 scope).")
# PREVENT, unlike the Pooled Cohort Equations, has statin use as a predictor (Khan 2024).
STATIN_INCLUDED = ("A statin is active: PREVENT includes statin use as a predictor, so this estimate accounts for "
                   "it (on-treatment cholesterol).")
PREGNANCY_UNKNOWN = "Pregnancy status is not known: assumed not pregnant (the equations do not apply in pregnancy)."


def record_gate(features: FeatureSet) -> tuple[Evidence | None, str | None]:
    """Why the record puts the patient outside PREVENT (clinical CVD, pregnancy) and the evidence that says so;
    (None, None) when PREVENT applies. Pregnancy counts whatever the recorded sex: it changes the measurements."""
    ascvd = features.get("ascvd")
    if ascvd is not None and ascvd.value is True:
        return ascvd, SECONDARY_PREVENTION
    # Khan 2024 excluded prevalent CVD, heart failure included: the equations (their heart-failure one above all)
    # estimate a first event.
    heart_failure = features.get("heart_failure")
    if heart_failure is not None and heart_failure.value is True:
        return heart_failure, HEART_FAILURE_NOT_APPLICABLE
    pregnant = features.get("pregnant")
    if pregnant is not None and pregnant.value is True:
        return pregnant, PREGNANCY_NOT_APPLICABLE
    return None, None


def record_notes(features: FeatureSet) -> list[str]:
    """What the card says about an active statin and an unknown pregnancy status of a woman."""
    notes = []
    if features.value("statin") is True:
        notes.append(STATIN_INCLUDED)
    pregnant = features.get("pregnant")
    if features.value("sex") == "female" and (pregnant is None or not isinstance(pregnant.value, bool)):
        notes.append(PREGNANCY_UNKNOWN)
    return notes


def coefficients() -> dict[str, Any]:
    """Khan 2024 base-model coefficients, ranges and categories (read-only package data)."""
    return load_data(DATA_FILE)


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


def validated_range_violations(values: Mapping[str, float]) -> list[RangeViolation]:
    """Inputs outside the PREVENT validated ranges (bounds inclusive)."""
    return range_violations(values, coefficients()["validated_ranges"], _RANGE_LABELS)


def base_terms(*, age_years, chol_total_mgdl, hdl_mgdl, sbp_mmhg, bp_treated, statin, diabetes, smoker_current,
               egfr_mlmin173m2, bmi_kgm2, mgdl_to_mmoll: float) -> dict[str, float]:
    """The centred and spline-knotted terms of Khan 2024 that every PREVENT model uses (definitions in the data
    file); ``mgdl_to_mmoll`` is the cholesterol conversion factor of the model's own data file."""
    to_mmol = mgdl_to_mmoll
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


def outcome_risk(outcome: str, beta: Mapping[str, float], x: Mapping[str, float],
                 labels: Mapping[str, str] = TERM_LABELS) -> OutcomeRisk:
    """One outcome's logistic equation: risk = 1 / (1 + exp(-sum(beta * term))), with every term explained."""
    terms = tuple(Term(labels[key], x[key], coef * x[key]) for key, coef in beta.items())
    log_odds = math.fsum(term.contribution for term in terms)
    return OutcomeRisk(outcome, _risk_percent(log_odds), log_odds, terms)


def _risk_percent(log_odds: float) -> float:
    return 100.0 / (1.0 + math.exp(-log_odds))


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
    x = _checked_base_terms(age_years=age_years, sex=sex, chol_total_mgdl=chol_total_mgdl, hdl_mgdl=hdl_mgdl,
                            sbp_mmhg=sbp_mmhg, bp_treated=bp_treated, statin=statin, diabetes=diabetes,
                            smoker_current=smoker_current, egfr_mlmin173m2=egfr_mlmin173m2, bmi_kgm2=bmi_kgm2)
    equations = coefficients()["equations"][sex]
    return PreventResult(
        sex=sex,
        cvd=outcome_risk("cvd", equations["cvd"], x),
        ascvd=outcome_risk("ascvd", equations["ascvd"], x),
        hf=outcome_risk("hf", equations["hf"], x) if bmi_kgm2 is not None else None,
    )


def prevent_10y_ascvd_percent(*, age_years: float, sex: str, chol_total_mgdl: float, hdl_mgdl: float,
                              sbp_mmhg: float, bp_treated: bool, statin: bool, diabetes: bool, smoker_current: bool,
                              egfr_mlmin173m2: float) -> float:
    """``prevent_10y_base(...).ascvd.risk_percent``, the same number and the same ValueErrors, without the other
    outcomes and the terms' explanation: what the PCE card compares its estimate with, while this engine, beside it,
    computes the whole result for its own card."""
    x = _checked_base_terms(age_years=age_years, sex=sex, chol_total_mgdl=chol_total_mgdl, hdl_mgdl=hdl_mgdl,
                            sbp_mmhg=sbp_mmhg, bp_treated=bp_treated, statin=statin, diabetes=diabetes,
                            smoker_current=smoker_current, egfr_mlmin173m2=egfr_mlmin173m2, bmi_kgm2=None)
    beta = coefficients()["equations"][sex]["ascvd"]
    return _risk_percent(math.fsum(coef * x[key] for key, coef in beta.items()))


def _checked_base_terms(*, age_years, sex, chol_total_mgdl, hdl_mgdl, sbp_mmhg, bp_treated, statin, diabetes,
                        smoker_current, egfr_mlmin173m2, bmi_kgm2) -> dict[str, float]:
    """The base model's terms, after refusing impossible values (ValueError)."""
    if sex not in SEXES:
        raise ValueError("sex must be 'female' or 'male'")
    numbers = {"age_years": age_years, "chol_total_mgdl": chol_total_mgdl, "hdl_mgdl": hdl_mgdl,
               "sbp_mmhg": sbp_mmhg, "egfr_mlmin173m2": egfr_mlmin173m2}
    if bmi_kgm2 is not None:
        numbers["bmi_kgm2"] = bmi_kgm2
    for name, value in numbers.items():
        if not is_finite_number(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number")
    if hdl_mgdl >= chol_total_mgdl:
        raise ValueError("HDL cholesterol must be lower than total cholesterol")
    return base_terms(age_years=age_years, chol_total_mgdl=chol_total_mgdl, hdl_mgdl=hdl_mgdl, sbp_mmhg=sbp_mmhg,
                      bp_treated=bp_treated, statin=statin, diabetes=diabetes, smoker_current=smoker_current,
                      egfr_mlmin173m2=egfr_mlmin173m2, bmi_kgm2=bmi_kgm2,
                      mgdl_to_mmoll=coefficients()["cholesterol_mgdl_to_mmoll"])


def risk_category(risk_percent: float) -> str:
    """PREVENT band of an (unrounded) 10-year total CVD risk in percent."""
    return band_below(risk_percent, coefficients()["categories"]["bands"])


def category_thresholds() -> tuple[str, ...]:
    return band_texts(coefficients()["categories"]["bands"])


SEVERITY = {"low": Severity.INFO, "borderline": Severity.INFO,
            "intermediate": Severity.WARNING, "high": Severity.WARNING}


def unusable_inputs(features: FeatureSet) -> list[MissingInput]:
    """Present required features whose value the equations cannot use, reported like missing ones."""
    return unusable_equation_inputs(features, numbers=NUMERIC_FEATURES, flags=BOOLEAN_FEATURES)


def outcome_measures(result, horizon_years: int) -> list[Measure]:
    """ASCVD and (when estimated) heart-failure risk of a PREVENT result, shown next to total CVD."""
    measures = [Measure(f"{horizon_years}-year ASCVD", result.ascvd.risk_percent, "%")]
    if result.hf is not None:
        measures.append(Measure(f"{horizon_years}-year heart failure", result.hf.risk_percent, "%"))
    return measures


@dataclass(frozen=True)
class PreventOutcomes(Details):
    """Linear predictors (log-odds) of every outcome and the explanations of ASCVD and heart failure (total CVD's is
    the finding's own explanation); ``model`` names the PREVENT variant (base, HbA1c, UACR, full; 10 or 30 years)."""

    log_odds: dict[str, float]  # outcome ("cvd", "ascvd", "hf") -> log-odds
    explanation_ascvd: tuple[Term, ...]
    explanation_hf: tuple[Term, ...] = ()  # empty when heart failure was not estimated (no usable BMI)
    model: str | None = None


def outcome_details(result, model: str | None = None) -> PreventOutcomes:
    return PreventOutcomes(
        log_odds={o.outcome: o.log_odds for o in (result.cvd, result.ascvd, result.hf) if o is not None},
        explanation_ascvd=tuple(result.ascvd.terms),
        explanation_hf=tuple(result.hf.terms) if result.hf is not None else (),
        model=model,
    )


def heart_failure_bmi(features: FeatureSet, *, not_available: str,
                      out_of_range: str) -> tuple[Evidence | None, list[MissingInput], str | None]:
    """BMI for the heart-failure equation, or why the heart-failure estimate is left out: ``not_available`` is the
    note when BMI is absent; ``out_of_range`` follows the range message when BMI is outside the validated range."""
    evidence = features.get("bmi_kgm2")
    if evidence is None:
        reason = features.missing_reason("bmi_kgm2")
        missing = MissingInput(reason.name, reason.label,
                               f"{reason.reason} (needed for the heart-failure estimate only)")
        return None, [missing], not_available
    if not (is_finite_number(evidence.value) and evidence.value > 0):
        missing = MissingInput("bmi_kgm2", evidence.label,
                               "recorded value is not a positive number (needed for the heart-failure estimate)")
        return None, [missing], "BMI unusable: heart-failure risk is not estimated."
    violations = validated_range_violations({"bmi_kgm2": evidence.value})
    if violations:
        return None, [], f"{violations[0].message} {out_of_range}"
    return evidence, [], None


@calculator
class PreventBase(SingleFindingEngine):
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
    optional = ("bmi_kgm2", "ascvd", "heart_failure", "pregnant")
    finding_suffix = "cvd-10y"

    def _assess(self, features: FeatureSet) -> Finding:
        ascvd = features.get("ascvd")
        gate, why = record_gate(features)
        if gate is not None:
            return self.not_applicable(features, [gate], message=why)

        usable, missing = self.gather_usable(features, self.requires, unusable_inputs(features))
        violations = validated_range_violations(
            {ev.name: ev.value for ev in usable if ev.name in NUMERIC_FEATURES})
        if violations:
            return self.not_applicable(
                features, usable, details=OutOfRange(tuple(v.name for v in violations)),
                message=outside_range_message((v.message for v in violations), "The PREVENT equations"))
        if missing:
            actions = lipid_panel_if_missing(missing, "Total and HDL cholesterol are needed to estimate 10-year "
                                                      "cardiovascular risk (AHA PREVENT).")
            return self.insufficient(features, usable, missing, suggestions=actions)

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

        measures = outcome_measures(result, 10)
        assumptions = ["Base model: urine albumin-to-creatinine ratio, HbA1c and social deprivation index "
                       "are not used."]
        if bmi_note:
            assumptions.append(bmi_note)
        if ascvd is None:
            assumptions.append(PRIMARY_PREVENTION_ASSUMED)
        # First: the card's one line of caveats shows the first ones (an active statin matters more than the model).
        assumptions = record_notes(features) + assumptions
        # BMI is shown when it was a number (used, or out of range and so why HF is absent).
        bmi_seen = features.get("bmi_kgm2")
        if bmi_seen is not None and not is_finite_number(bmi_seen.value):
            bmi_seen = None
        inputs = usable + [ev for ev in (bmi_seen, ascvd) if ev is not None]
        category = risk_category(result.cvd.risk_percent)
        return self.computed(
            features,
            message=_pce_comparison(features, result),
            value=result.cvd.risk_percent,
            unit="%",
            category=category,
            cut_points=band_cut_points(coefficients()["categories"]["bands"]),
            thresholds=category_thresholds(),
            severity=SEVERITY[category],
            inputs=tuple(inputs),
            missing=tuple(bmi_missing),
            assumptions=tuple(assumptions),
            explanation=result.cvd.terms,
            measures=tuple(measures),
            method=(f"AHA PREVENT base model, {result.sex} equations: 10-year risk = 1 / (1 + exp(-x)); "
                    f"x(total CVD) = {result.cvd.log_odds:.4f}; ASCVD and heart failure from their own equations."),
            details=outcome_details(result),
        )

    @staticmethod
    def _bmi(features: FeatureSet) -> tuple[Evidence | None, list[MissingInput], str | None]:
        """BMI for the heart-failure equation, or why the heart-failure estimate is left out."""
        return heart_failure_bmi(
            features,
            not_available=("BMI not available: heart-failure risk is not estimated; total CVD and ASCVD equations "
                           "do not use BMI."),
            out_of_range=("Heart-failure risk is not estimated; total CVD and ASCVD equations do not use BMI, but "
                          "the patient lies outside the BMI range of the derivation population."))


def _pce_comparison(features: FeatureSet, result) -> str | None:
    """One line when the PCE card beside this one puts the patient in another 2018 AHA/ACC category: like for like
    (10-year ASCVD against 10-year ASCVD) when those differ, else why this card's total-CVD headline does (it adds
    heart failure). Sources: Khan SS et al. Circulation 2024;149:430-449; AHA PREVENT statement, Circulation
    2023;148:1982-2004."""
    from engine.calculators import pce  # the PCE reads nothing of this card; imported here, where it is used

    pce_risk = pce.pce_10y_from_features(features)
    if pce_risk is None:
        return None
    ascvd = result.ascvd.risk_percent
    if risk_category(ascvd) != risk_category(pce_risk):
        return pce.like_for_like_text(ascvd, pce_risk)
    if risk_category(result.cvd.risk_percent) != risk_category(pce_risk):
        bands = coefficients()["categories"]["bands"]
        return (f"PREVENT 10-year ASCVD {percent_text(ascvd, bands)} % and PCE {percent_text(pce_risk, bands)} % are "
                f"both {risk_category(pce_risk)}; total CVD also counts heart failure (Khan 2024).")
    return None
