"""Pooled Cohort Equations (Goff 2014): published worked example, ranges, missing data, categories."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.calculators  # noqa: F401 - registers the calculators
from engine.calculators.pce import (
    PooledCohortEquations,
    category_thresholds,
    coefficients,
    pce_10y_ascvd_percent,
    pce_10y_ascvd_risk,
    risk_category,
)
from engine.finding import Severity, Status
from engine.inputs import FeatureSet, feature_label
from engine.registry import calculators
from engine.runner import run_engines
from tests.engine.builders import AS_OF, features, only_finding
from tests.proposal_resources import resource as proposal_resource
from tests.engine.value_paths import NUMBERS, call_outcome

# Guideline worked example (Goff 2014, Table A): age 55, TC 213, HDL 50, untreated SBP 120,
# non-smoker, no diabetes.
EXAMPLE = dict(age_years=55, chol_total_mgdl=213, hdl_mgdl=50, sbp_mmhg=120,
               bp_treated=False, smoker_current=False, diabetes=False)

# (sex, race, published risk %, Table A "individual sum", risk % from unrounded arithmetic)
TABLE_A = [
    ("female", "white", 2.1, -29.67, 2.1),
    ("female", "african-american", 3.0, 86.16, 3.0),
    ("male", "white", 5.3, 60.69, 5.4),
    ("male", "african-american", 6.1, 18.97, 6.1),
]


def example_features(**overrides) -> FeatureSet:
    return features(**{**EXAMPLE, "sex": "male", "race": "white", **overrides})


def evaluate(fs: FeatureSet):
    return only_finding(PooledCohortEquations(), fs)


# -- published worked example ----------------------------------------------------------------------

@pytest.mark.parametrize("constant_set", ["spreadsheet", "printed"])
@pytest.mark.parametrize("sex,race,published,table_sum,unrounded", TABLE_A)
def test_worked_example_unrounded_arithmetic(constant_set, sex, race, published, table_sum, unrounded):
    """Both constant sets reproduce Table A to one decimal; white men give 5.4 % unrounded (Table A: 5.3 %)."""
    result = pce_10y_ascvd_risk(sex=sex, race=race, constant_set=constant_set, **EXAMPLE)
    assert round(result.risk_percent, 1) == unrounded
    # Table A rounds ln(age) etc. to two decimals before summing; our exact sum is within 0.01.
    assert result.individual_sum == pytest.approx(table_sum, abs=0.01)


@pytest.mark.parametrize("sex,race,published,table_sum,unrounded", TABLE_A)
def test_worked_example_table_arithmetic_with_printed_constants(sex, race, published, table_sum, unrounded):
    """1 - S0^exp(individual sum - mean sum) with Table A's own rounded sums gives the printed risks."""
    params = coefficients()["constant_sets"]["printed"]["equations"][f"{race}-{sex}"]
    risk = 100 * (1 - params["baseline_survival"] ** math.exp(table_sum - params["mean_sum"]))
    assert round(risk, 1) == published


def test_white_men_5_3_only_with_rounded_sum():
    """The guideline's 5.3 % for white men comes from the rounded sum 60.69; exact arithmetic gives 5.38 %."""
    exact = pce_10y_ascvd_risk(sex="male", race="white", constant_set="printed", **EXAMPLE)
    assert exact.individual_sum == pytest.approx(60.6995, abs=1e-3)
    assert exact.risk_percent == pytest.approx(5.384, abs=1e-3)


def test_default_constant_set_is_spreadsheet():
    result = pce_10y_ascvd_risk(sex="female", race="african-american", **EXAMPLE)
    assert result.constant_set == "spreadsheet"
    assert result.baseline_survival == 0.95334
    assert result.mean_sum == 86.6081
    assert result.risk_percent == pytest.approx(2.998, abs=1e-3)


# -- explanation ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sex,race", [(s, r) for s, r, *_ in TABLE_A])
@pytest.mark.parametrize("treated,smoker,diabetic", [(False, False, False), (True, True, True)])
def test_terms_sum_to_linear_predictor(sex, race, treated, smoker, diabetic):
    result = pce_10y_ascvd_risk(age_years=63, sex=sex, race=race, chol_total_mgdl=240, hdl_mgdl=38,
                                sbp_mmhg=150, bp_treated=treated, smoker_current=smoker, diabetes=diabetic)
    assert math.fsum(t.contribution for t in result.terms) == pytest.approx(result.individual_sum, abs=1e-12)
    risk = 1 - result.baseline_survival ** math.exp(result.individual_sum - result.mean_sum)
    assert result.risk_percent == pytest.approx(100 * risk)
    labels = " ".join(t.label for t in result.terms)
    assert ("ln(treated SBP)" in labels) is treated
    assert ("ln(untreated SBP)" in labels) is (not treated)


def test_treated_sbp_uses_treated_coefficient():
    untreated = pce_10y_ascvd_risk(sex="male", race="white", **dict(EXAMPLE, sbp_mmhg=140))
    treated = pce_10y_ascvd_risk(sex="male", race="white", **dict(EXAMPLE, sbp_mmhg=140, bp_treated=True))
    # White men: treated 1.797 vs untreated 1.764 per ln(mmHg).
    assert treated.individual_sum - untreated.individual_sum == pytest.approx((1.797 - 1.764) * math.log(140))


# -- the engine -------------------------------------------------------------------------------------

def test_registered():
    assert "pce-2013" in calculators
    assert isinstance(calculators.get("pce-2013"), PooledCohortEquations)


def test_computed_finding_carries_evidence_and_explanation():
    fs = example_features()
    finding = evaluate(fs)
    assert finding.status is Status.COMPUTED
    assert finding.id == "pce-2013:ascvd-10y"
    assert finding.engine_id == "pce-2013"
    assert finding.unit == "%"
    assert round(finding.value, 1) == 5.4
    assert finding.category == "borderline"
    assert finding.severity is Severity.INFO
    assert finding.thresholds == category_thresholds()
    # The Evidence objects go through unchanged, provenance included.
    for name in ("age_years", "sex", "chol_total_mgdl", "hdl_mgdl", "sbp_mmhg", "race"):
        assert any(item is fs.get(name) for item in finding.inputs), name
    assert all(item.source == f"Observation/{item.name}" for item in finding.inputs)
    assert math.fsum(t.contribution for t in finding.explanation) == pytest.approx(finding.details.linear_predictor)
    assert finding.citation.doi == "10.1161/01.cir.0000437741.48606.98"
    assert finding.citation.url and finding.citation.topic and finding.citation.short
    assert finding.method and "\n" not in finding.method
    assert any("primary prevention" in a for a in finding.assumptions)


def test_high_risk_is_a_warning():
    finding = evaluate(example_features(age_years=70, smoker_current=True, diabetes=True, sbp_mmhg=160,
                                        bp_treated=True, hdl_mgdl=35, chol_total_mgdl=260))
    assert finding.value >= 20
    assert finding.category == "high"
    assert finding.severity is Severity.WARNING


@pytest.mark.parametrize("race_value", ["other", None])
def test_other_or_missing_race_uses_white_equations_with_assumption(race_value):
    finding = evaluate(example_features(race=race_value))
    assert finding.status is Status.COMPUTED
    assert finding.details.equation == "white-male"
    assert round(finding.value, 1) == 5.4
    assert any("white" in a and "African-American" in a for a in finding.assumptions)


def test_african_american_race_selects_its_equation_without_assumption():
    finding = evaluate(example_features(sex="female", race="african-american"))
    assert finding.details.equation == "african-american-female"
    assert round(finding.value, 1) == 3.0
    assert not any("Race" in a for a in finding.assumptions)


def test_established_ascvd_is_not_applicable():
    fs = example_features(ascvd=True)
    finding = evaluate(fs)
    assert finding.status is Status.NOT_APPLICABLE
    assert finding.value is None
    assert "secondary prevention" in finding.message
    assert finding.inputs == (fs.get("ascvd"),)


def test_no_ascvd_recorded_as_false_is_computed_without_assumption():
    finding = evaluate(example_features(ascvd=False))
    assert finding.status is Status.COMPUTED
    assert not any("primary prevention assumed" in a for a in finding.assumptions)


# -- validated range boundaries ---------------------------------------------------------------------

@pytest.mark.parametrize("name,inside,outside", [
    ("age_years", [40, 79], [39, 80]),
    ("chol_total_mgdl", [130, 320], [129, 321]),
    ("hdl_mgdl", [20, 100], [19, 101]),
    ("sbp_mmhg", [90, 200], [89, 201]),
])
def test_validated_range_boundaries(name, inside, outside):
    for value in inside:
        finding = evaluate(example_features(**{name: value}))
        assert finding.status is Status.COMPUTED, (name, value)
        assert finding.value is not None
    low, high = (coefficients()["validated_ranges"][name][k] for k in ("min", "max"))
    for value in outside:
        finding = evaluate(example_features(**{name: value}))
        assert finding.status is Status.NOT_APPLICABLE, (name, value)
        assert finding.value is None and finding.category is None
        assert finding.details.out_of_range == (name,)
        assert feature_label(name) in finding.message
        assert f"{low:g}-{high:g}" in finding.message
        assert f"{value:g}" in finding.message


def test_out_of_range_reported_even_if_other_inputs_missing():
    finding = evaluate(features(age_years=35, sex="male"))
    assert finding.status is Status.NOT_APPLICABLE
    assert "Age 35" in finding.message


# -- missing and unusable inputs --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["smoker_current", "diabetes", "bp_treated", "sbp_mmhg", "age_years", "sex"])
def test_missing_input_is_named(name):
    fs = example_features(**{name: None})
    fs.mark_missing(name, "no observation in the last 2 years")
    finding = evaluate(fs)
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == [name]
    assert finding.missing[0].reason == "no observation in the last 2 years"
    assert feature_label(name) in finding.message
    assert finding.value is None
    assert finding.suggestions == ()


@pytest.mark.parametrize("missing", [("chol_total_mgdl",), ("hdl_mgdl",), ("chol_total_mgdl", "hdl_mgdl")])
def test_missing_lipids_propose_a_draft_lipid_panel(missing):
    finding = evaluate(example_features(**{name: None for name in missing}))
    assert finding.status is Status.INSUFFICIENT_DATA
    assert {m.name for m in finding.missing} == set(missing)
    assert len(finding.suggestions) == 1
    resource = proposal_resource(finding)
    assert resource["resourceType"] == "ServiceRequest"
    assert resource["status"] == "draft"
    assert resource["intent"] == "proposal"
    assert resource["code"]["coding"][0] == {"system": "http://loinc.org", "code": "57698-3",
                                             "display": "Lipid panel with direct LDL - Serum or Plasma"}
    assert resource["subject"] == {"reference": "Patient/p1"}  # cards/fhir.py adds the patient


@pytest.mark.parametrize("name,value", [("sbp_mmhg", "abc"), ("sbp_mmhg", float("nan")), ("age_years", -5),
                                        ("smoker_current", "yes"), ("sex", "unknown"), ("hdl_mgdl", True)])
def test_unusable_values_are_insufficient_not_errors(name, value):
    finding = evaluate(example_features(**{name: value}))
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == [name]
    assert all(item.name != name for item in finding.inputs)


def test_empty_feature_set_through_runner_is_not_an_error():
    findings = run_engines([calculators.get("pce-2013")], FeatureSet(as_of=AS_OF))
    assert [f.status for f in findings] == [Status.INSUFFICIENT_DATA]
    assert {m.name for m in findings[0].missing} == set(PooledCohortEquations.requires)


# -- categories -------------------------------------------------------------------------------------

@pytest.mark.parametrize("risk,category", [
    (0.0, "low"), (4.99, "low"), (5.0, "borderline"), (7.49, "borderline"), (7.5, "intermediate"),
    (19.99, "intermediate"), (20.0, "high"), (80.0, "high"),
])
def test_category_boundaries(risk, category):
    assert risk_category(risk) == category


@settings(max_examples=300, deadline=None)
@given(age=NUMBERS, tc=NUMBERS, hdl=NUMBERS, sbp=NUMBERS, sex=st.sampled_from(["female", "male", "other"]),
       race=st.sampled_from(["white", "african-american", "asian"]), treated=st.booleans(), smoker=st.booleans(),
       diabetes=st.booleans(), constant_set=st.sampled_from([None, "printed", "spreadsheet", "other"]))
def test_the_risk_alone_is_the_risk_of_the_whole_result(age, tc, hdl, sbp, sex, race, treated, smoker, diabetes,
                                                         constant_set):
    """The PREVENT card's comparison computes the PCE risk without its explanation: the same number, the same
    errors."""
    inputs = dict(age_years=age, sex=sex, race=race, chol_total_mgdl=tc, hdl_mgdl=hdl, sbp_mmhg=sbp,
                  bp_treated=treated, smoker_current=smoker, diabetes=diabetes, constant_set=constant_set)
    whole = call_outcome(lambda: pce_10y_ascvd_risk(**inputs).risk_percent)
    alone = call_outcome(lambda: pce_10y_ascvd_percent(**inputs))
    assert alone == whole or (alone != alone and whole != whole)  # NaN: the same non-number both ways
