"""AHA PREVENT base 10-year equations (Khan 2024): reference case, centring, BMI, ranges, missing data."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.calculators  # noqa: F401 - registers the calculators
from engine.calculators.prevent import (
    PreventBase,
    coefficients,
    prevent_10y_ascvd_percent,
    prevent_10y_base,
    risk_category,
)
from engine.finding import Severity, Status
from engine.inputs import FeatureSet, feature_label
from engine.registry import calculators
from engine.runner import run_engines
from tests.engine.builders import AS_OF, features, only_finding
from tests.proposal_resources import resource as proposal_resource
from tests.engine.value_paths import NUMBERS, call_outcome

# Published reference case (Khan 2024; reproduced by the preventr README): woman 50, TC 200, HDL 45,
# SBP 160 on treatment, diabetes, non-smoker, eGFR 90, BMI 35, no statin -> CVD 14.7 %, ASCVD 9.2 %, HF 8.1 %.
REFERENCE = dict(age_years=50, sex="female", chol_total_mgdl=200, hdl_mgdl=45, sbp_mmhg=160, bp_treated=True,
                 diabetes=True, smoker_current=False, egfr_mlmin173m2=90, bmi_kgm2=35, statin=False)


def reference_features(**overrides) -> FeatureSet:
    return features(**{**REFERENCE, **overrides})


def evaluate(fs: FeatureSet):
    return only_finding(PreventBase(), fs)


def measure(finding, word: str):
    matches = [m for m in finding.measures if word in m.label]
    return matches[0] if matches else None


# -- published reference case -----------------------------------------------------------------------

def test_reference_case_pure_function():
    result = prevent_10y_base(**REFERENCE)
    assert round(result.cvd.risk_percent, 1) == 14.7
    assert round(result.ascvd.risk_percent, 1) == 9.2
    assert round(result.hf.risk_percent, 1) == 8.1


def test_reference_case_finding():
    fs = reference_features()
    finding = evaluate(fs)
    assert finding.status is Status.COMPUTED
    assert finding.id == "prevent-2024-base:cvd-10y"
    assert finding.unit == "%"
    assert round(finding.value, 1) == 14.7
    assert finding.category == "intermediate"
    assert finding.severity is Severity.WARNING
    assert round(measure(finding, "ASCVD").value, 1) == 9.2
    assert round(measure(finding, "heart failure").value, 1) == 8.1
    assert all(m.unit == "%" for m in finding.measures)
    for name in REFERENCE:
        assert any(item is fs.get(name) for item in finding.inputs), name
    assert finding.missing == ()
    assert finding.citation.doi == "10.1161/CIRCULATIONAHA.123.067626"
    assert finding.method and "\n" not in finding.method


# -- structure of the equations --------------------------------------------------------------------

@pytest.mark.parametrize("sex", ["female", "male"])
def test_centring_profile_leaves_only_the_intercepts(sex):
    """At the centring values (age 55, non-HDL 3.5 and HDL 1.3 mmol/L, SBP 130, eGFR 90, BMI 25, no
    risk factors or treatment) every term is zero, so each risk is logistic(intercept)."""
    to_mmol = coefficients()["cholesterol_mgdl_to_mmoll"]
    hdl = 1.3 / to_mmol
    result = prevent_10y_base(age_years=55, sex=sex, chol_total_mgdl=3.5 / to_mmol + hdl, hdl_mgdl=hdl,
                              sbp_mmhg=130, bp_treated=False, statin=False, diabetes=False, smoker_current=False,
                              egfr_mlmin173m2=90, bmi_kgm2=25)
    for outcome in (result.cvd, result.ascvd, result.hf):
        constant = coefficients()["equations"][sex][outcome.outcome]["constant"]
        assert [t.contribution for t in outcome.terms if t.label != "Intercept"] == pytest.approx(
            [0.0] * (len(outcome.terms) - 1), abs=1e-9)
        assert outcome.risk_percent == pytest.approx(100 / (1 + math.exp(-constant)))
    # Female intercepts from Khan 2024: CVD -3.307728 -> 3.53 %; male CVD -3.031168 -> 4.60 %.
    expected_cvd = {"female": 3.53, "male": 4.60}[sex]
    assert round(result.cvd.risk_percent, 2) == expected_cvd


@pytest.mark.parametrize("sex", ["female", "male"])
@pytest.mark.parametrize("overrides", [{}, dict(statin=True, smoker_current=True, egfr_mlmin173m2=40,
                                                sbp_mmhg=100, bmi_kgm2=24, age_years=70)])
def test_terms_sum_to_log_odds(sex, overrides):
    values = dict(REFERENCE, sex=sex)
    values.update(overrides)
    result = prevent_10y_base(**values)
    for outcome in (result.cvd, result.ascvd, result.hf):
        assert math.fsum(t.contribution for t in outcome.terms) == pytest.approx(outcome.log_odds, abs=1e-12)
        odds = math.exp(outcome.log_odds)
        assert outcome.risk_percent == pytest.approx(100 * odds / (1 + odds))


def test_finding_explanation_is_total_cvd_and_extra_has_the_others():
    finding = evaluate(reference_features())
    assert math.fsum(t.contribution for t in finding.explanation) == pytest.approx(finding.details.log_odds["cvd"])
    assert math.fsum(t.contribution for t in finding.details.explanation_ascvd) == pytest.approx(
        finding.details.log_odds["ascvd"])
    assert math.fsum(t.contribution for t in finding.details.explanation_hf) == pytest.approx(
        finding.details.log_odds["hf"])


def test_statin_changes_cvd_but_not_heart_failure():
    without = prevent_10y_base(**REFERENCE)
    with_statin = prevent_10y_base(**dict(REFERENCE, statin=True))
    assert with_statin.cvd.risk_percent != without.cvd.risk_percent
    assert with_statin.hf.risk_percent == without.hf.risk_percent


# -- BMI is for heart failure only ------------------------------------------------------------------

def test_without_bmi_cvd_and_ascvd_are_still_given():
    fs = reference_features(bmi_kgm2=None)
    fs.mark_missing("bmi_kgm2", "no body weight recorded")
    finding = evaluate(fs)
    assert finding.status is Status.COMPUTED
    assert round(finding.value, 1) == 14.7
    assert round(measure(finding, "ASCVD").value, 1) == 9.2
    assert measure(finding, "heart failure") is None
    assert [m.name for m in finding.missing] == ["bmi_kgm2"]
    assert "no body weight recorded" in finding.missing[0].reason
    assert any("heart-failure risk is not estimated" in a for a in finding.assumptions)


@pytest.mark.parametrize("bmi,hf_given", [(18.4, False), (18.5, True), (39.9, True), (40.0, False)])
def test_bmi_range_only_affects_heart_failure(bmi, hf_given):
    finding = evaluate(reference_features(bmi_kgm2=bmi))
    assert finding.status is Status.COMPUTED
    assert round(finding.value, 1) == 14.7
    assert (measure(finding, "heart failure") is not None) is hf_given
    if not hf_given:
        assert any("18.5-39.9" in a for a in finding.assumptions)


# -- validated ranges -------------------------------------------------------------------------------

@pytest.mark.parametrize("name,inside,outside", [
    ("age_years", [30, 79], [29, 80]),
    ("chol_total_mgdl", [130, 320], [129, 321]),
    ("hdl_mgdl", [20, 100], [19, 101]),
    ("sbp_mmhg", [90, 200], [89, 201]),
    ("egfr_mlmin173m2", [15, 140], [14, 141]),
])
def test_validated_range_boundaries(name, inside, outside):
    for value in inside:
        assert evaluate(reference_features(**{name: value})).status is Status.COMPUTED, (name, value)
    low, high = (coefficients()["validated_ranges"][name][k] for k in ("min", "max"))
    for value in outside:
        finding = evaluate(reference_features(**{name: value}))
        assert finding.status is Status.NOT_APPLICABLE, (name, value)
        assert finding.value is None and finding.measures == ()
        assert finding.details.out_of_range == (name,)
        assert feature_label(name) in finding.message
        assert f"{low:g}-{high:g}" in finding.message


def test_established_cvd_is_not_applicable():
    finding = evaluate(reference_features(ascvd=True))
    assert finding.status is Status.NOT_APPLICABLE
    assert "secondary prevention" in finding.message


# -- missing inputs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["statin", "bp_treated", "egfr_mlmin173m2", "diabetes", "smoker_current"])
def test_missing_input_is_named(name):
    finding = evaluate(reference_features(**{name: None}))
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == [name]
    assert feature_label(name) in finding.message
    assert finding.suggestions == ()


def test_missing_lipids_propose_a_draft_lipid_panel():
    finding = evaluate(reference_features(hdl_mgdl=None))
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == ["hdl_mgdl"]
    resource = proposal_resource(finding)
    assert (resource["resourceType"], resource["status"], resource["intent"]) == ("ServiceRequest", "draft", "proposal")
    assert resource["subject"] == {"reference": "Patient/p1"}


@pytest.mark.parametrize("name,value", [("egfr_mlmin173m2", "high"), ("statin", 1), ("sex", "other"),
                                        ("bmi_kgm2", "obese")])
def test_unusable_values_never_raise(name, value):
    finding = evaluate(reference_features(**{name: value}))
    if name == "bmi_kgm2":
        assert finding.status is Status.COMPUTED and measure(finding, "heart failure") is None
    else:
        assert finding.status is Status.INSUFFICIENT_DATA
        assert [m.name for m in finding.missing] == [name]


def test_empty_feature_set_through_runner_is_not_an_error():
    findings = run_engines([calculators.get("prevent-2024-base")], FeatureSet(as_of=AS_OF))
    assert [f.status for f in findings] == [Status.INSUFFICIENT_DATA]


# -- categories -------------------------------------------------------------------------------------

@pytest.mark.parametrize("risk,category", [
    (4.99, "low"), (5.0, "borderline"), (7.49, "borderline"), (7.5, "intermediate"),
    (19.99, "intermediate"), (20.0, "high"),
])
def test_category_boundaries(risk, category):
    assert risk_category(risk) == category


def test_low_risk_is_info():
    finding = evaluate(reference_features(age_years=40, diabetes=False, bp_treated=False, sbp_mmhg=118))
    assert finding.value < 5
    assert (finding.category, finding.severity) == ("low", Severity.INFO)


@settings(max_examples=300, deadline=None)
@given(age=NUMBERS, tc=NUMBERS, hdl=NUMBERS, sbp=NUMBERS, egfr=NUMBERS, sex=st.sampled_from(["female", "male", "x"]),
       treated=st.booleans(), statin=st.booleans(), smoker=st.booleans(), diabetes=st.booleans())
def test_the_ascvd_risk_alone_is_the_ascvd_risk_of_the_whole_result(age, tc, hdl, sbp, egfr, sex, treated, statin,
                                                                    smoker, diabetes):
    """The PCE card's comparison computes PREVENT's 10-year ASCVD risk alone: the same number, the same errors."""
    inputs = dict(age_years=age, sex=sex, chol_total_mgdl=tc, hdl_mgdl=hdl, sbp_mmhg=sbp, bp_treated=treated,
                  statin=statin, diabetes=diabetes, smoker_current=smoker, egfr_mlmin173m2=egfr)
    whole = call_outcome(lambda: prevent_10y_base(**inputs).ascvd.risk_percent)
    alone = call_outcome(lambda: prevent_10y_ascvd_percent(**inputs))
    assert alone == whole or (alone != alone and whole != whole)  # NaN: the same non-number both ways
