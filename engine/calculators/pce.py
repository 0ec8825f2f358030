"""ACC/AHA 2013 Pooled Cohort Equations (Goff DC Jr et al., Circulation 2014;129:S49-S73).

10-year risk of a first hard ASCVD event from four sex- and race-specific Cox equations:
risk = 1 - S0 ^ exp(sum(beta * x) - mean_sum).

Two constant sets circulate and both are kept in ``engine/data/pce_2013.json``: the printed Table A
of the guideline and the more precise constants of the ACC/AHA risk workbook (the ones the ACC/AHA
ASCVD Risk Estimator uses). The workbook set is the default; docs/calculators.md says why.

What the record says about the patient changes what the estimate means (sources in the data file):

* clinical ASCVD or a recorded pregnancy: not applicable (secondary prevention; equations not derived in
  pregnancy, and lipids and blood pressure change in pregnancy);
* LDL-C >= 190 mg/dL: still estimated, but the card says the patient is a statin benefit group without risk
  estimation (2018 AHA/ACC cholesterol guideline), so the estimate does not decide the statin question;
* an active statin: still estimated, but the card says the estimate is on treatment (the equations estimate
  untreated risk).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

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
from engine.feature_catalog import display_value
from engine.finding import Citation, Details, Evidence, Finding, Kind, MissingInput, Severity, Term
from engine.inputs import FeatureSet
from engine.registry import calculator

DATA_FILE = "pce_2013.json"
RACE_EQUATIONS = ("white", "african-american")
NUMERIC_FEATURES = ("age_years", "chol_total_mgdl", "hdl_mgdl", "sbp_mmhg")
BOOLEAN_FEATURES = ("bp_treated", "smoker_current", "diabetes")

# Human labels of the equation terms, in the order of Table A.
_TERM_LABELS = {
    "ln_age": "ln(age)",
    "ln_age_squared": "ln(age)^2",
    "ln_tc": "ln(total cholesterol)",
    "ln_age_x_ln_tc": "ln(age) x ln(total cholesterol)",
    "ln_hdl": "ln(HDL-C)",
    "ln_age_x_ln_hdl": "ln(age) x ln(HDL-C)",
    "ln_treated_sbp": "ln(treated SBP)",
    "ln_age_x_ln_treated_sbp": "ln(age) x ln(treated SBP)",
    "ln_untreated_sbp": "ln(untreated SBP)",
    "ln_age_x_ln_untreated_sbp": "ln(age) x ln(untreated SBP)",
    "smoker": "Current smoker",
    "ln_age_x_smoker": "ln(age) x current smoker",
    "diabetes": "Diabetes",
}
_TREATED_SBP_TERMS = frozenset({"ln_treated_sbp", "ln_age_x_ln_treated_sbp"})
_UNTREATED_SBP_TERMS = frozenset({"ln_untreated_sbp", "ln_age_x_ln_untreated_sbp"})


def coefficients() -> dict[str, Any]:
    """Goff 2014 Table A and workbook constants, ranges and categories (read-only package data)."""
    return load_data(DATA_FILE)


@dataclass(frozen=True)
class PceResult:
    risk_percent: float
    equation: str  # "white-female", "african-american-male", ...
    constant_set: str  # "spreadsheet" | "printed"
    individual_sum: float  # sum(beta * x): the linear predictor; equals the sum of the term contributions
    mean_sum: float
    baseline_survival: float
    terms: tuple[Term, ...]


_RANGE_LABELS = {"age_years": "Age", "chol_total_mgdl": "Total cholesterol", "hdl_mgdl": "HDL cholesterol",
                 "sbp_mmhg": "Systolic blood pressure"}


def validated_range_violations(values: Mapping[str, float]) -> list[RangeViolation]:
    """Which of the given inputs lie outside the range the equations were validated for (bounds inclusive)."""
    return range_violations(values, coefficients()["validated_ranges"], _RANGE_LABELS)


def pce_10y_ascvd_risk(
    *,
    age_years: float,
    sex: str,
    race: str,
    chol_total_mgdl: float,
    hdl_mgdl: float,
    sbp_mmhg: float,
    bp_treated: bool,
    smoker_current: bool,
    diabetes: bool,
    constant_set: str | None = None,
) -> PceResult:
    """10-year hard ASCVD risk in percent, with every term of the linear predictor.

    ``race`` selects the equation: "white" or "african-american" (callers map other races to
    "white", as the guideline advises). The validated range is NOT enforced here - use
    ``validated_range_violations`` first; only impossible values raise ValueError.
    """
    constant_set, equation, params, values = _equation_terms(
        age_years=age_years, sex=sex, race=race, chol_total_mgdl=chol_total_mgdl, hdl_mgdl=hdl_mgdl,
        sbp_mmhg=sbp_mmhg, bp_treated=bp_treated, smoker_current=smoker_current, diabetes=diabetes,
        constant_set=constant_set)
    terms = tuple(Term(f"{_TERM_LABELS[key]} (beta {beta:g})", value, beta * value) for key, beta, value in values)
    individual_sum = math.fsum(term.contribution for term in terms)
    s0, mean_sum = params["baseline_survival"], params["mean_sum"]
    return PceResult(
        risk_percent=_risk_percent(s0, individual_sum, mean_sum),
        equation=equation,
        constant_set=constant_set,
        individual_sum=individual_sum,
        mean_sum=mean_sum,
        baseline_survival=s0,
        terms=terms,
    )


def pce_10y_ascvd_percent(**inputs: Any) -> float:
    """``pce_10y_ascvd_risk(**inputs).risk_percent``, the same number and the same ValueErrors, without the terms'
    explanation: what the PREVENT card compares its estimate with, while this engine, beside it, computes the whole
    result for its own card."""
    _, _, params, values = _equation_terms(**inputs)
    individual_sum = math.fsum(beta * value for _, beta, value in values)
    return _risk_percent(params["baseline_survival"], individual_sum, params["mean_sum"])


def _risk_percent(baseline_survival: float, individual_sum: float, mean_sum: float) -> float:
    return 100.0 * (1.0 - baseline_survival ** math.exp(individual_sum - mean_sum))


def _equation_terms(*, age_years, sex, race, chol_total_mgdl, hdl_mgdl, sbp_mmhg, bp_treated, smoker_current,
                    diabetes, constant_set=None) -> tuple[str, str, dict[str, Any], list[tuple[str, float, float]]]:
    """The constant set, the equation, its parameters and (term, beta, value) of each term that applies, in the
    order of Table A, after refusing impossible values (ValueError)."""
    data = coefficients()
    constant_set = constant_set or data["default_constant_set"]
    if constant_set not in data["constant_sets"]:
        raise ValueError(f"unknown constant set {constant_set!r}")
    if sex not in SEXES:
        raise ValueError("sex must be 'female' or 'male'")
    if race not in RACE_EQUATIONS:
        raise ValueError("race must be 'white' or 'african-american'")
    for name, value in (("age_years", age_years), ("chol_total_mgdl", chol_total_mgdl),
                        ("hdl_mgdl", hdl_mgdl), ("sbp_mmhg", sbp_mmhg)):
        if not is_finite_number(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number")

    equation = f"{race}-{sex}"
    params = data["constant_sets"][constant_set]["equations"][equation]
    ln_age, ln_tc, ln_hdl, ln_sbp = (math.log(v) for v in (age_years, chol_total_mgdl, hdl_mgdl, sbp_mmhg))
    treated, smoker, diabetic = float(bool(bp_treated)), float(bool(smoker_current)), float(bool(diabetes))
    x = {
        "ln_age": ln_age,
        "ln_age_squared": ln_age * ln_age,
        "ln_tc": ln_tc,
        "ln_age_x_ln_tc": ln_age * ln_tc,
        "ln_hdl": ln_hdl,
        "ln_age_x_ln_hdl": ln_age * ln_hdl,
        "ln_treated_sbp": ln_sbp * treated,
        "ln_age_x_ln_treated_sbp": ln_age * ln_sbp * treated,
        "ln_untreated_sbp": ln_sbp * (1.0 - treated),
        "ln_age_x_ln_untreated_sbp": ln_age * ln_sbp * (1.0 - treated),
        "smoker": smoker,
        "ln_age_x_smoker": ln_age * smoker,
        "diabetes": diabetic,
    }
    # Only the SBP branch that applies is shown; the other is structurally zero.
    unused_branch = _UNTREATED_SBP_TERMS if bp_treated else _TREATED_SBP_TERMS
    betas = params["coefficients"]
    values = [(key, betas[key], x[key]) for key in _TERM_LABELS
              if key in betas and key not in unused_branch]
    return constant_set, equation, params, values


def risk_category(risk_percent: float) -> str:
    """2018 AHA/ACC cholesterol guideline band of an (unrounded) 10-year risk in percent."""
    return band_below(risk_percent, coefficients()["categories"]["bands"])


def category_thresholds() -> tuple[str, ...]:
    return band_texts(coefficients()["categories"]["bands"])


# Low and borderline are context; intermediate and high are where the guideline asks for a
# statin discussion, hence a warning.
_SEVERITY = {"low": Severity.INFO, "borderline": Severity.INFO,
             "intermediate": Severity.WARNING, "high": Severity.WARNING}


def severe_hypercholesterolaemia(features: FeatureSet) -> tuple[Evidence | None, str | None]:
    """The LDL-C result and what the card says when it is >= 190 mg/dL (2018 AHA/ACC: a statin benefit group
    without risk estimation); (None, None) below that or without a usable LDL-C. Compared unrounded, as written."""
    ldl = features.get("ldl_mgdl")
    rule = coefficients()["statin_benefit_groups"]
    if ldl is None or not is_finite_number(ldl.value) or ldl.value < rule["ldl_mgdl_from"]:
        return None, None
    ages = rule["ldl_age_years"]
    age = features.value("age_years")
    age_note = ""
    if is_finite_number(age) and not ages["min"] <= age <= ages["max"]:
        age_note = f" (the recommendation is written for ages {ages['min']}-{ages['max']})"
    return ldl, (f"LDL-C {display_value('ldl_mgdl', ldl.value)} mg/dL (>= {rule['ldl_mgdl_from']}): severe hypercholesterolaemia is a "
                 f"statin benefit group without risk estimation{age_note}; this estimate does not apply to the "
                 "statin decision (2018 AHA/ACC cholesterol guideline: maximally tolerated statin). Consider "
                 "familial hypercholesterolaemia.")


def on_statin(features: FeatureSet) -> tuple[Evidence | None, str | None]:
    """The active-statin evidence and what the card says about it: the equations estimate untreated risk."""
    statin = features.get("statin")
    if statin is None or statin.value is not True:
        return None, None
    return statin, ("A statin is active: the Pooled Cohort Equations estimate risk without lipid-lowering "
                    "treatment, so this estimate uses on-treatment cholesterol and is not the untreated risk the "
                    "guideline thresholds for starting a statin refer to.")


def _pregnancy_unknown_note(features: FeatureSet) -> str | None:
    """For a woman whose pregnancy status the record cannot tell, say that she was taken as not pregnant."""
    if features.value("sex") != "female":
        return None
    pregnant = features.get("pregnant")
    if pregnant is not None and isinstance(pregnant.value, bool):
        return None
    return "Pregnancy status is not known: assumed not pregnant (the equations do not apply in pregnancy)."


def prevent_ascvd_10y(features: FeatureSet) -> float | None:
    """AHA PREVENT 10-year ASCVD risk (base model) from the record's features; None when PREVENT cannot be computed."""
    from engine.calculators import prevent  # PREVENT reads nothing of the PCE; imported here, where it is used

    names = ("age_years", "sex", "chol_total_mgdl", "hdl_mgdl", "sbp_mmhg", "bp_treated", "statin", "diabetes",
             "smoker_current", "egfr_mlmin173m2")
    values = {name: features.value(name) for name in names}
    values["statin"] = values["statin"] is True  # PREVENT's statin term: an absent statin is no statin
    if any(v is None for v in values.values()):
        return None
    numbers = {k: v for k, v in values.items() if k in prevent.NUMERIC_FEATURES}
    if prevent.validated_range_violations(numbers):
        return None
    try:
        return prevent.prevent_10y_ascvd_percent(**values)
    except (ValueError, TypeError, ArithmeticError):  # values the PREVENT card itself reports as unusable
        return None


def like_for_like_text(prevent_ascvd: float, pce: float) -> str:
    """The one line on both cards when PREVENT's and the PCE's 10-year ASCVD risks fall in different 2018 AHA/ACC
    categories: the same outcome (ASCVD), horizon and bands, named explicitly - never PREVENT's total CVD headline."""
    bands = coefficients()["categories"]["bands"]
    return (f"PREVENT 10-year ASCVD {percent_text(prevent_ascvd, bands)} % ({risk_category(prevent_ascvd)}) vs PCE "
            f"{percent_text(pce, bands)} % ({risk_category(pce)}): PREVENT is recalibrated to contemporary cohorts and "
            "omits race (Khan 2024).")


def prevent_disagreement_note(features: FeatureSet, pce_percent: float) -> str | None:
    """One line when AHA PREVENT puts the same patient's 10-year ASCVD risk in another 2018 AHA/ACC risk category
    (< 5, 5-7.5, 7.5-20, >= 20 %) than the PCE: the two scores disagree materially, and the clinician sees both on
    one screen. Same outcome (ASCVD), same horizon, same bands; None when PREVENT cannot be computed or agrees.
    Why they differ: Khan SS et al. Circulation 2024;149:430-449 (PREVENT, derived and validated in contemporary
    cohorts in which the PCE overestimate risk; race not used; eGFR, statin use and a cardiovascular-kidney-metabolic
    frame added) and the AHA PREVENT scientific statement (Khan SS et al. Circulation 2023;148:1982-2004)."""
    ascvd = prevent_ascvd_10y(features)
    if ascvd is None or risk_category(ascvd) == risk_category(pce_percent):
        return None
    return like_for_like_text(ascvd, pce_percent)


def pce_10y_from_features(features: FeatureSet) -> float | None:
    """The PCE 10-year ASCVD risk as the PCE card computes it (race equation as PooledCohortEquations chooses it);
    None when it cannot be computed. For the PREVENT card's like-for-like comparison."""
    names = ("age_years", "sex", "chol_total_mgdl", "hdl_mgdl", "sbp_mmhg", "bp_treated", "smoker_current", "diabetes")
    values = {name: features.value(name) for name in names}
    if any(v is None for v in values.values()) or features.value("ascvd") is True:
        return None
    if validated_range_violations({k: v for k, v in values.items() if k in NUMERIC_FEATURES}):
        return None
    race, _ = PooledCohortEquations._race_equation(features.get("race"))
    try:
        return pce_10y_ascvd_percent(race=race, **values)
    except (ValueError, TypeError, ArithmeticError):
        return None


def unusable_inputs(features: FeatureSet) -> list[MissingInput]:
    """Present features whose value the equations cannot use, reported like missing ones."""
    return unusable_equation_inputs(features, numbers=NUMERIC_FEATURES, flags=BOOLEAN_FEATURES)


@dataclass(frozen=True)
class PceDetails(Details):
    equation: str  # "white-male", "african-american-female", ...
    constant_set: str
    linear_predictor: float  # the individual sum of coefficient x value
    mean_linear_predictor: float
    baseline_survival: float
    statin_benefit_group: str | None = None  # "ldl-c-190": a statin group whatever the estimate (2018 AHA/ACC)
    on_statin: bool = False  # the estimate is of untreated risk, the patient is treated


@calculator
class PooledCohortEquations(SingleFindingEngine):
    id = "pce-2013"
    version = "1.0.0"
    title = "10-year ASCVD risk (Pooled Cohort Equations)"
    kind = Kind.RISK
    citation = Citation(
        short="Goff 2014 (ACC/AHA Pooled Cohort Equations)",
        full=(
            "Goff DC Jr, Lloyd-Jones DM, Bennett G, et al. 2013 ACC/AHA Guideline on the Assessment of "
            "Cardiovascular Risk: a report of the American College of Cardiology/American Heart Association "
            "Task Force on Practice Guidelines. Circulation. 2014;129(25 Suppl 2):S49-S73. Risk categories: "
            "Grundy SM et al. 2018 AHA/ACC Guideline on the Management of Blood Cholesterol. Circulation. "
            "2019;139:e1082-e1143."
        ),
        url="https://doi.org/10.1161/01.cir.0000437741.48606.98",
        doi="10.1161/01.cir.0000437741.48606.98",
        topic="Cardiovascular risk assessment (primary prevention)",
    )
    requires = ("age_years", "sex", "chol_total_mgdl", "hdl_mgdl", "sbp_mmhg",
                "bp_treated", "smoker_current", "diabetes")
    optional = ("race", "ascvd", "pregnant", "statin", "ldl_mgdl", "egfr_mlmin173m2")
    finding_suffix = "ascvd-10y"
    # None: the default set named in the data file ("spreadsheet").
    constant_set: ClassVar[str | None] = None

    def _assess(self, features: FeatureSet) -> Finding:
        ascvd = features.get("ascvd")
        if ascvd is not None and ascvd.value is True:
            return self.not_applicable(
                features, [ascvd],
                message=("Clinical ASCVD is recorded: the Pooled Cohort Equations estimate primary-prevention "
                         "risk and do not apply; manage as secondary prevention. Risk estimation does not apply to "
                         "the statin decision: clinical ASCVD is a statin benefit group (high-intensity statin, "
                         "2018 AHA/ACC cholesterol guideline)."),
            )
        pregnant = features.get("pregnant")
        if pregnant is not None and pregnant.value is True:
            # Whatever the recorded sex: the measurements, not the sex, are what pregnancy changes.
            return self.not_applicable(
                features, [pregnant],
                message=("Pregnancy is recorded: the Pooled Cohort Equations were not derived in pregnancy, and "
                         "cholesterol and blood pressure change during pregnancy, so the estimate does not apply; "
                         "re-assess after pregnancy (2013 ACC/AHA risk-assessment guideline scope)."),
            )

        usable, missing = self.gather_usable(features, self.requires, unusable_inputs(features))
        # LDL-C >= 190 mg/dL is named even when no estimate can be given (a total cholesterol above the validated
        # range often comes with it): the statin decision does not wait for one.
        ldl, ldl_note = severe_hypercholesterolaemia(features)
        violations = validated_range_violations(
            {ev.name: ev.value for ev in usable if ev.name in NUMERIC_FEATURES})
        if violations:
            message = outside_range_message((v.message for v in violations), "The Pooled Cohort Equations")
            return self.not_applicable(
                features, usable + ([ldl] if ldl else []), details=OutOfRange(tuple(v.name for v in violations)),
                message=f"{message} {ldl_note}" if ldl_note else message)
        if missing:
            actions = lipid_panel_if_missing(missing, "Total and HDL cholesterol are needed to estimate 10-year "
                                                      "ASCVD risk (Pooled Cohort Equations).")
            wording = {"message": f"Cannot compute: missing {', '.join(m.label for m in missing)}. {ldl_note}"} \
                if ldl_note else {}
            return self.insufficient(features, usable + ([ldl] if ldl else []), missing, suggestions=actions, **wording)

        race_evidence = features.get("race")
        race, race_assumption = self._race_equation(race_evidence)
        result = pce_10y_ascvd_risk(
            age_years=features.value("age_years"),
            sex=features.value("sex"),
            race=race,
            chol_total_mgdl=features.value("chol_total_mgdl"),
            hdl_mgdl=features.value("hdl_mgdl"),
            sbp_mmhg=features.value("sbp_mmhg"),
            bp_treated=features.value("bp_treated"),
            smoker_current=features.value("smoker_current"),
            diabetes=features.value("diabetes"),
            constant_set=self.constant_set,
        )
        category = risk_category(result.risk_percent)
        assumptions = [race_assumption] if race_assumption else []
        if ascvd is None:
            assumptions.append("No clinical ASCVD found in the record; primary prevention assumed.")
        pregnancy_note = _pregnancy_unknown_note(features)
        if pregnancy_note:
            assumptions.append(pregnancy_note)
        statin, statin_note = on_statin(features)
        comparison = prevent_disagreement_note(features, result.risk_percent)
        notes = [note for note in (ldl_note, statin_note, comparison) if note]
        severity = _SEVERITY[category]
        if ldl_note and severity is Severity.INFO:
            severity = Severity.WARNING  # a statin benefit group whatever the estimate says
        inputs = usable + [ev for ev in (race_evidence, ascvd, ldl, statin) if ev is not None]
        return self.computed(
            features,
            value=result.risk_percent,
            unit="%",
            category=category,
            cut_points=band_cut_points(coefficients()["categories"]["bands"]),
            thresholds=category_thresholds(),
            severity=severity,
            message=" ".join(notes) or None,
            inputs=tuple(inputs),
            assumptions=tuple(assumptions),
            explanation=result.terms,
            method=(f"Pooled Cohort Equations, {result.equation} equation ({result.constant_set} constants): "
                    f"risk = 1 - {result.baseline_survival:g}^exp(sum {result.individual_sum:.4f} "
                    f"- mean {result.mean_sum:g})."),
            details=PceDetails(
                equation=result.equation,
                constant_set=result.constant_set,
                linear_predictor=result.individual_sum,
                mean_linear_predictor=result.mean_sum,
                baseline_survival=result.baseline_survival,
                statin_benefit_group="ldl-c-190" if ldl_note else None,
                on_statin=bool(statin_note),
            ),
        )

    @staticmethod
    def _race_equation(race_evidence: Evidence | None) -> tuple[str, str | None]:
        """Equation to use and, when it is not the recorded race, the assumption that says so."""
        if race_evidence is not None and race_evidence.value in RACE_EQUATIONS:
            return race_evidence.value, None
        if race_evidence is None:
            why = "Race is not recorded"
        else:
            why = f"Race is recorded as {race_evidence.value!s}"
        return "white", (
            f"{why}: the equations for white individuals were used, as the 2013 guideline advises for races "
            "other than African-American. They may overestimate risk in some groups (e.g. East Asian) and "
            "underestimate it in others (e.g. South Asian)."
        )
