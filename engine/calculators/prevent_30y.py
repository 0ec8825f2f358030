"""AHA PREVENT (Khan SS et al., Circulation 2024;149:430-449): 30-year base model and the 10-year models that
add urine albumin-to-creatinine ratio (UACR) and/or HbA1c.

Same logistic form, centring and splines as the 10-year base model (``engine.calculators.prevent``); the
30-year equations add ((age - 55)/10)^2, the add-on equations ln(UACR) and HbA1c - 5.3 (separately with and
without diabetes). With both UACR and HbA1c the full model is used with its 'SDI missing' indicator, as the
PREVENT authors specify for absent optional predictors. Coefficients: ``engine/data/prevent_2024_30y_addon.json``.

The engine emits up to two findings: 30-year total CVD (ages 30-59) always, and 10-year total CVD from the
add-on model only when the record has a usable UACR or HbA1c (otherwise ``prevent-2024-base`` covers it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from engine.base import Engine
from engine.calculators.common import (
    SEXES,
    band_cut_points,
    is_finite_number,
    load_data,
    outside_range_message,
)
from engine.calculators.prevent import coefficients as prevent_coefficients
from engine.calculators.prevent import (
    PRIMARY_PREVENTION_ASSUMED,
    SEVERITY,
    TERM_LABELS,
    OutcomeRisk,
    base_terms,
    category_thresholds,
    heart_failure_bmi,
    outcome_details,
    outcome_measures,
    outcome_risk,
    record_gate,
    record_notes,
    risk_category,
    unusable_inputs,
    validated_range_violations,
)
from engine.finding import Citation, Evidence, Finding, Kind, MissingInput, Severity
from engine.inputs import FeatureSet
from engine.registry import calculator

DATA_FILE = "prevent_2024_30y_addon.json"
NUMERIC_FEATURES = ("age_years", "chol_total_mgdl", "hdl_mgdl", "sbp_mmhg", "egfr_mlmin173m2")
BASE_FEATURES = ("age_years", "sex", "chol_total_mgdl", "hdl_mgdl", "sbp_mmhg", "bp_treated", "statin", "diabetes",
                 "smoker_current", "egfr_mlmin173m2")

# The base-model terms plus those only the 30-year and add-on models use.
_TERM_LABELS = {
    **TERM_LABELS,
    "age_squared": "Age squared ((age - 55)/10)^2",
    "ln_uacr": "ln(UACR, mg/g)",
    "hba1c_x_diabetes": "HbA1c - 5.3 % (with diabetes)",
    "hba1c_x_no_diabetes": "HbA1c - 5.3 % (without diabetes)",
    "sdi_4_to_6": "Social Deprivation Index decile 4-6",
    "sdi_7_to_10": "Social Deprivation Index decile 7-10",
    "sdi_missing": "Social Deprivation Index not known",
}
_MODEL_LABELS = {"base_30y": "30-year base model", "uacr_10y": "10-year model adding UACR",
                 "hba1c_10y": "10-year model adding HbA1c", "full_10y": "10-year full model (UACR and HbA1c)"}


# The 10-year add-on results are variants of the PREVENT 10-year base estimate that the cardiovascular-risk service
# shows; each is named as a variant, so that two 10-year PREVENT numbers on one screen read as two models.
_TITLES = {"base_30y": "PREVENT 30-year cardiovascular risk",
           "uacr_10y": "PREVENT 10-year with UACR (cardiovascular risk)",
           "hba1c_10y": "PREVENT 10-year with HbA1c (cardiovascular risk)",
           "full_10y": "PREVENT 10-year with UACR and HbA1c (cardiovascular risk)"}
_VARIANT_NOTE = ("Variant of the PREVENT 10-year base estimate (cardiovascular-risk card) that adds {added}; the "
                 "two may differ (Khan 2024).")
_ADDED = {"uacr_10y": "UACR", "hba1c_10y": "HbA1c", "full_10y": "UACR and HbA1c"}


def coefficients() -> dict:
    return load_data(DATA_FILE)


@dataclass(frozen=True)
class PreventModelResult:
    model: str  # "base_30y" | "uacr_10y" | "hba1c_10y" | "full_10y"
    horizon_years: int
    sex: str
    cvd: OutcomeRisk
    ascvd: OutcomeRisk
    hf: OutcomeRisk | None  # None when BMI was not given


def prevent_terms(*, age_years: float, chol_total_mgdl: float, hdl_mgdl: float, sbp_mmhg: float, bp_treated: bool,
                  statin: bool, diabetes: bool, smoker_current: bool, egfr_mlmin173m2: float,
                  bmi_kgm2: float | None = None, uacr_mgg: float | None = None, hba1c_pct: float | None = None,
                  sdi_decile: int | None = None) -> dict[str, float]:
    """Every centred, spline-knotted or interaction term any PREVENT model here can use: the base-model terms
    (``prevent.base_terms``), ((age - 55)/10)^2, the SDI indicators, ln(UACR) and HbA1c - 5.3 by diabetes."""
    data = coefficients()
    x = base_terms(age_years=age_years, chol_total_mgdl=chol_total_mgdl, hdl_mgdl=hdl_mgdl, sbp_mmhg=sbp_mmhg,
                   bp_treated=bp_treated, statin=statin, diabetes=diabetes, smoker_current=smoker_current,
                   egfr_mlmin173m2=egfr_mlmin173m2, bmi_kgm2=bmi_kgm2, mgdl_to_mmoll=data["cholesterol_mgdl_to_mmoll"])
    age, dm = x["age"], x["diabetes"]
    x.update({
        "age_squared": age * age,
        "sdi_4_to_6": 1.0 if sdi_decile is not None and 4 <= sdi_decile <= 6 else 0.0,
        "sdi_7_to_10": 1.0 if sdi_decile is not None and sdi_decile >= 7 else 0.0,
        "sdi_missing": 1.0 if sdi_decile is None else 0.0,
    })
    if uacr_mgg is not None:
        x["ln_uacr"] = math.log(uacr_mgg)
    if hba1c_pct is not None:
        centred = hba1c_pct - data["hba1c_centre_pct"]
        x["hba1c_x_diabetes"] = centred * dm
        x["hba1c_x_no_diabetes"] = centred * (1.0 - dm)
    return x


def _outcome(outcome: str, beta: Mapping[str, float], x: Mapping[str, float]) -> OutcomeRisk:
    return outcome_risk(outcome, beta, x, _TERM_LABELS)


def prevent_model(model: str, *, sex: str, age_years: float, chol_total_mgdl: float, hdl_mgdl: float,
                  sbp_mmhg: float, bp_treated: bool, statin: bool, diabetes: bool, smoker_current: bool,
                  egfr_mlmin173m2: float, bmi_kgm2: float | None = None, uacr_mgg: float | None = None,
                  hba1c_pct: float | None = None, sdi_decile: int | None = None) -> PreventModelResult:
    """Risks in percent from one named model. Validated ranges are NOT enforced (see the engine); impossible
    values, or a model whose optional predictor is not given, raise ValueError."""
    models = coefficients()["models"]
    if model not in models:
        raise ValueError(f"unknown PREVENT model {model!r}")
    if sex not in SEXES:
        raise ValueError("sex must be 'female' or 'male'")
    numbers = {"age_years": age_years, "chol_total_mgdl": chol_total_mgdl, "hdl_mgdl": hdl_mgdl,
               "sbp_mmhg": sbp_mmhg, "egfr_mlmin173m2": egfr_mlmin173m2, "bmi_kgm2": bmi_kgm2,
               "uacr_mgg": uacr_mgg, "hba1c_pct": hba1c_pct}
    for name, value in numbers.items():
        if value is not None and (not is_finite_number(value) or value <= 0):
            raise ValueError(f"{name} must be a positive number")
    if hdl_mgdl >= chol_total_mgdl:
        raise ValueError("HDL cholesterol must be lower than total cholesterol")
    if model in ("uacr_10y", "full_10y") and uacr_mgg is None:
        raise ValueError(f"the {model} model needs uacr_mgg")
    if model in ("hba1c_10y", "full_10y") and hba1c_pct is None:
        raise ValueError(f"the {model} model needs hba1c_pct")
    x = prevent_terms(age_years=age_years, chol_total_mgdl=chol_total_mgdl, hdl_mgdl=hdl_mgdl, sbp_mmhg=sbp_mmhg,
                      bp_treated=bp_treated, statin=statin, diabetes=diabetes, smoker_current=smoker_current,
                      egfr_mlmin173m2=egfr_mlmin173m2, bmi_kgm2=bmi_kgm2, uacr_mgg=uacr_mgg, hba1c_pct=hba1c_pct,
                      sdi_decile=sdi_decile)
    equations = models[model]["equations"][sex]
    return PreventModelResult(
        model=model, horizon_years=models[model]["horizon_years"], sex=sex,
        cvd=_outcome("cvd", equations["cvd"], x), ascvd=_outcome("ascvd", equations["ascvd"], x),
        hf=_outcome("hf", equations["hf"], x) if bmi_kgm2 is not None else None)


def addon_model_for(*, has_uacr: bool, has_hba1c: bool) -> str | None:
    """Which 10-year add-on model the available optional predictors call for (None: neither is available)."""
    choice = coefficients()["model_choice"]
    if has_uacr and has_hba1c:
        return choice["both"]
    if has_uacr:
        return choice["uacr_only"]
    if has_hba1c:
        return choice["hba1c_only"]
    return None


@calculator
class Prevent30yAndAddOns(Engine):
    id = "prevent-2024-30y"
    version = "1.0.0"
    title = "30-year cardiovascular risk (AHA PREVENT)"
    kind = Kind.RISK
    citation = Citation(
        # Names the models, so that the source of a 10-year add-on result is not mistaken for the base model's.
        short="Khan 2024 (AHA PREVENT 30-year and add-on models)",
        full=("Khan SS, Matsushita K, Sang Y, et al. Development and Validation of the American Heart "
              "Association's Predicting Risk of Cardiovascular Disease EVENTs (PREVENT) Equations. Circulation. "
              "2024;149(6):430-449 (Supplemental Tables S12B, S12C, S12E, S12F)."),
        url="https://doi.org/10.1161/CIRCULATIONAHA.123.067626",
        doi="10.1161/CIRCULATIONAHA.123.067626",
        topic="Cardiovascular risk assessment (primary prevention)",
    )
    requires = BASE_FEATURES
    optional = ("bmi_kgm2", "ascvd", "heart_failure", "uacr_mgg", "hba1c_pct", "pregnant")

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        uacr, hba1c, optional_notes = self._optional_predictors(features)
        findings = [self._assess(features, "base_30y", None, None, optional_notes=())]
        model = addon_model_for(has_uacr=uacr is not None, has_hba1c=hba1c is not None)
        if model is not None:
            findings.append(self._assess(features, model, uacr, hba1c, optional_notes=optional_notes))
        return findings

    @staticmethod
    def _finding_id(model: str) -> str:
        return "prevent-2024-30y:cvd-30y" if model == "base_30y" else "prevent-2024-30y:cvd-10y-addon"

    def _assess(self, features: FeatureSet, model: str, uacr: Evidence | None, hba1c: Evidence | None,
                *, optional_notes: tuple[str, ...]) -> Finding:
        finding_id = self._finding_id(model)
        horizon = coefficients()["models"][model]["horizon_years"]
        title = _TITLES[model]
        ascvd = features.get("ascvd")
        gate, why = record_gate(features)
        if gate is not None:
            return self.not_applicable(features, [gate], finding_id=finding_id, title=title, message=why)

        usable, missing = self.gather_usable(features, BASE_FEATURES, unusable_inputs(features))
        numbers = {ev.name: ev.value for ev in usable if ev.name in NUMERIC_FEATURES}
        violations = [v.message for v in validated_range_violations(numbers)]
        age_range = coefficients()["validated_ranges"]["age_years_30y"]
        if model == "base_30y" and "age_years" in numbers and not violations and not (
                age_range["min"] <= numbers["age_years"] <= age_range["max"]):
            violations.append(f"Age {numbers['age_years']:g} years is outside the {age_range['min']}-"
                              f"{age_range['max']} year range of the 30-year equations.")
        if violations:
            return self.not_applicable(
                features, usable, finding_id=finding_id, title=title,
                message=outside_range_message(violations, "The PREVENT equations"))

        if missing:
            # The PREVENT 10-year base estimate (cardiovascular-risk service) asks for the same inputs; a second
            # "data needed" entry (and a second "order a lipid panel") for the variants would only repeat it.
            return self.not_applicable(
                features, usable, finding_id=finding_id, title=title,
                message=(f"Not computed: missing {', '.join(m.label for m in missing)}, which the PREVENT 10-year "
                         "estimate (cardiovascular-risk) asks for."))

        bmi, bmi_missing, bmi_note = self._bmi(features)
        result = prevent_model(
            model, sex=features.value("sex"), age_years=features.value("age_years"),
            chol_total_mgdl=features.value("chol_total_mgdl"), hdl_mgdl=features.value("hdl_mgdl"),
            sbp_mmhg=features.value("sbp_mmhg"), bp_treated=features.value("bp_treated"),
            statin=features.value("statin"), diabetes=features.value("diabetes"),
            smoker_current=features.value("smoker_current"), egfr_mlmin173m2=features.value("egfr_mlmin173m2"),
            bmi_kgm2=bmi.value if bmi is not None else None, uacr_mgg=uacr.value if uacr is not None else None,
            hba1c_pct=hba1c.value if hba1c is not None else None)
        measures = outcome_measures(result, horizon)
        assumptions = list(optional_notes)
        if model == "base_30y":
            assumptions.append("Base model: UACR, HbA1c and social deprivation index are not used. No guideline "
                               "sets treatment thresholds on 30-year risk; it is shown to communicate long-term risk.")
        else:
            assumptions.insert(0, _VARIANT_NOTE.format(added=_ADDED[model]))
        if model == "full_10y":
            assumptions.append("Full model with the 'social deprivation index not known' term (no address-based "
                               "SDI is used).")
        if bmi_note:
            assumptions.append(bmi_note)
        if ascvd is None:
            assumptions.append(PRIMARY_PREVENTION_ASSUMED)
        assumptions += record_notes(features)
        # A variant's driving inputs (the UACR and HbA1c it adds to the base model) first, so that the card, which
        # shows the first few quantities, never folds them into "(+N more)".
        added = [ev for ev in (uacr, hba1c) if ev is not None] if model != "base_30y" else []
        inputs = added + usable + [ev for ev in (bmi, uacr, hba1c, ascvd) if ev is not None and ev not in added]
        category = risk_category(result.cvd.risk_percent) if horizon == 10 else None
        return self.computed(
            features,
            finding_id=finding_id,
            title=title,
            value=result.cvd.risk_percent,
            unit="%",
            category=category,
            cut_points=band_cut_points(prevent_coefficients()["categories"]["bands"]) if category else (),
            thresholds=category_thresholds() if category else (),
            severity=SEVERITY[category] if category else Severity.INFO,
            inputs=tuple(inputs),
            missing=tuple(bmi_missing),
            assumptions=tuple(assumptions),
            explanation=result.cvd.terms,
            measures=tuple(measures),
            method=(f"AHA PREVENT {_MODEL_LABELS[model]}, {result.sex} equations: risk = 1 / (1 + exp(-x)); "
                    f"x(total CVD) = {result.cvd.log_odds:.4f}."),
            details=outcome_details(result, model),
        )

    @staticmethod
    def _optional_predictors(features: FeatureSet) -> tuple[Evidence | None, Evidence | None, tuple[str, ...]]:
        """UACR and HbA1c when usable and inside the equations' range; notes on any left out."""
        ranges = coefficients()["validated_ranges"]
        chosen, notes = {}, []
        for name, label in (("uacr_mgg", "UACR"), ("hba1c_pct", "HbA1c")):
            evidence = features.get(name)
            if evidence is None:
                chosen[name] = None
                continue
            bounds = ranges[name]
            if is_finite_number(evidence.value) and bounds["min"] <= evidence.value <= bounds["max"]:
                chosen[name] = evidence
            else:
                chosen[name] = None
                notes.append(f"{label} {evidence.value!s} is not a number within {bounds['min']:g}-{bounds['max']:g} "
                             f"{bounds['unit']}; it was not used.")
        return chosen["uacr_mgg"], chosen["hba1c_pct"], tuple(notes)

    @staticmethod
    def _bmi(features: FeatureSet) -> tuple[Evidence | None, list[MissingInput], str | None]:
        """BMI for the heart-failure equation only, with the same rules as the 10-year base model."""
        return heart_failure_bmi(features, not_available="BMI not available: heart-failure risk is not estimated.",
                                 out_of_range="Heart-failure risk is not estimated.")
