"""AHA PREVENT 30-year base model and 10-year UACR / HbA1c add-on models (Khan 2024): published reference values,
model choice, age range, optional predictors, missing data."""
from __future__ import annotations

import math

import pytest

import engine.calculators  # noqa: F401 - registers the calculators
from engine.calculators.common import round_half_up
from engine.calculators.prevent_30y import Prevent30yAndAddOns, addon_model_for, coefficients, prevent_model
from engine.finding import Severity, Status
from engine.inputs import FeatureSet, feature_label
from engine.registry import calculators
from engine.runner import run_engines
from tests.engine.builders import AS_OF, features

# Reference woman of Khan 2024 Supplemental Table S25 (used by the preventr package's tests): age 50, TC 200,
# HDL 45, SBP 160 on treatment, diabetes, non-smoker, eGFR 90, BMI 35, no statin.
REFERENCE = dict(age_years=50, sex="female", chol_total_mgdl=200, hdl_mgdl=45, sbp_mmhg=160, bp_treated=True,
                 diabetes=True, smoker_current=False, egfr_mlmin173m2=90, bmi_kgm2=35, statin=False)


def reference_features(**overrides) -> FeatureSet:
    return features(**{**REFERENCE, **overrides})


def evaluate(fs: FeatureSet) -> dict:
    findings = Prevent30yAndAddOns().evaluate(fs)
    by_id = {f.id: f for f in findings}
    assert len(by_id) == len(findings)
    return by_id


def as_fractions(result) -> tuple[float, float, float]:
    """preventr reports probabilities rounded half-up to 3 decimals."""
    return tuple(round_half_up(o.risk_percent / 100, 3) for o in (result.cvd, result.ascvd, result.hf))


# -- published reference values (preventr test suite, from the Khan 2024 supplement) -----------------------

@pytest.mark.parametrize("model,sex,optional,expected", [
    ("base_30y", "female", {}, (0.53, 0.354, 0.39)),
    ("base_30y", "male", {}, (0.514, 0.349, 0.424)),
    ("hba1c_10y", "female", dict(hba1c_pct=9.2), (0.165, 0.103, 0.107)),
    ("hba1c_10y", "male", dict(hba1c_pct=9.2), (0.187, 0.112, 0.13)),
    ("uacr_10y", "female", dict(uacr_mgg=92), (0.181, 0.111, 0.105)),
    ("uacr_10y", "male", dict(uacr_mgg=92), (0.195, 0.123, 0.13)),
])
def test_published_reference_values(model, sex, optional, expected):
    values = {k: v for k, v in REFERENCE.items() if k != "sex"}
    result = prevent_model(model, sex=sex, **values, **optional)
    assert as_fractions(result) == expected


@pytest.mark.parametrize("sex,expected", [("female", (0.174, 0.105, 0.114)), ("male", (0.191, 0.112, 0.131))])
def test_full_model_reference_values_in_the_reference_sdi_group(sex, expected):
    """preventr's full-model test (HbA1c 9.2, UACR 92, ZIP 14738) is reproduced with the SDI decile in the reference
    group 1-3, where every SDI term is zero: this checks all non-SDI coefficients of Table S12E."""
    values = {k: v for k, v in REFERENCE.items() if k != "sex"}
    result = prevent_model("full_10y", sex=sex, **values, hba1c_pct=9.2, uacr_mgg=92, sdi_decile=2)
    assert as_fractions(result) == expected
    assert all(t.contribution == 0 for t in result.cvd.terms if "Social Deprivation" in t.label)


def test_full_model_without_sdi_adds_the_missing_sdi_term():
    values = {k: v for k, v in REFERENCE.items() if k != "sex"}
    known = prevent_model("full_10y", sex="female", **values, hba1c_pct=9.2, uacr_mgg=92, sdi_decile=2)
    unknown = prevent_model("full_10y", sex="female", **values, hba1c_pct=9.2, uacr_mgg=92)
    missing_sdi = coefficients()["models"]["full_10y"]["equations"]["female"]["cvd"]["sdi_missing"]
    assert unknown.cvd.log_odds == pytest.approx(known.cvd.log_odds + missing_sdi)


@pytest.mark.parametrize("sex", ["female", "male"])
def test_30y_centring_profile_leaves_only_the_intercepts(sex):
    to_mmol = coefficients()["cholesterol_mgdl_to_mmoll"]
    hdl = 1.3 / to_mmol
    result = prevent_model("base_30y", sex=sex, age_years=55, chol_total_mgdl=3.5 / to_mmol + hdl, hdl_mgdl=hdl,
                           sbp_mmhg=130, bp_treated=False, statin=False, diabetes=False, smoker_current=False,
                           egfr_mlmin173m2=90, bmi_kgm2=25)
    for outcome in (result.cvd, result.ascvd, result.hf):
        constant = coefficients()["models"]["base_30y"]["equations"][sex][outcome.outcome]["constant"]
        assert outcome.log_odds == pytest.approx(constant, abs=1e-9)
        assert math.fsum(t.contribution for t in outcome.terms) == pytest.approx(outcome.log_odds)


def test_hba1c_term_depends_on_diabetes_status():
    values = {k: v for k, v in REFERENCE.items() if k not in ("sex", "diabetes")}
    with_dm = prevent_model("hba1c_10y", sex="female", diabetes=True, hba1c_pct=6.3, **values)
    without = prevent_model("hba1c_10y", sex="female", diabetes=False, hba1c_pct=6.3, **values)
    terms = {t.label: t.value for t in with_dm.cvd.terms}
    assert terms["HbA1c - 5.3 % (with diabetes)"] == pytest.approx(1.0)
    assert terms["HbA1c - 5.3 % (without diabetes)"] == 0
    assert {t.label: t.value for t in without.cvd.terms}["HbA1c - 5.3 % (without diabetes)"] == pytest.approx(1.0)


@pytest.mark.parametrize("has_uacr,has_hba1c,model", [(False, False, None), (True, False, "uacr_10y"),
                                                      (False, True, "hba1c_10y"), (True, True, "full_10y")])
def test_model_choice(has_uacr, has_hba1c, model):
    assert addon_model_for(has_uacr=has_uacr, has_hba1c=has_hba1c) == model


def test_a_model_without_its_predictor_raises():
    values = {k: v for k, v in REFERENCE.items() if k != "sex"}
    with pytest.raises(ValueError):
        prevent_model("uacr_10y", sex="female", **values)
    with pytest.raises(ValueError):
        prevent_model("base_30y", sex="female", **dict(values, hdl_mgdl=250))


# -- the engine ------------------------------------------------------------------------------------------

def test_registered():
    assert isinstance(calculators.get("prevent-2024-30y"), Prevent30yAndAddOns)


def test_30_year_finding_only_without_uacr_or_hba1c():
    fs = reference_features()
    findings = evaluate(fs)
    assert list(findings) == ["prevent-2024-30y:cvd-30y"]
    finding = findings["prevent-2024-30y:cvd-30y"]
    assert finding.status is Status.COMPUTED
    assert round_half_up(finding.value, 1) == 53.0
    assert [round_half_up(m.value, 1) for m in finding.measures] == [35.4, 39.0]
    assert finding.category is None and finding.severity is Severity.INFO
    assert finding.details.model == "base_30y"
    assert all(any(item is fs.get(n) for item in finding.inputs) for n in REFERENCE)


def test_hba1c_adds_the_10_year_hba1c_model():
    fs = reference_features(hba1c_pct=9.2)
    findings = evaluate(fs)
    addon = findings["prevent-2024-30y:cvd-10y-addon"]
    assert addon.status is Status.COMPUTED
    assert addon.details.model == "hba1c_10y"
    assert round_half_up(addon.value, 1) == 16.5
    assert (addon.category, addon.severity) == ("intermediate", Severity.WARNING)
    assert any(item is fs.get("hba1c_pct") for item in addon.inputs)
    assert "HbA1c" in addon.title
    # the 30-year estimate stays on the base model
    assert round_half_up(findings["prevent-2024-30y:cvd-30y"].value, 1) == 53.0


def test_uacr_and_hba1c_use_the_full_model_with_sdi_unknown():
    addon = evaluate(reference_features(hba1c_pct=9.2, uacr_mgg=92))["prevent-2024-30y:cvd-10y-addon"]
    assert addon.details.model == "full_10y"
    assert any("social deprivation index not known" in a for a in addon.assumptions)


@pytest.mark.parametrize("age,status_30y", [(29, Status.NOT_APPLICABLE), (30, Status.COMPUTED),
                                            (59, Status.COMPUTED), (60, Status.NOT_APPLICABLE)])
def test_30_year_estimates_only_from_30_to_59(age, status_30y):
    findings = evaluate(reference_features(age_years=age, uacr_mgg=92))
    assert findings["prevent-2024-30y:cvd-30y"].status is status_30y
    # the 10-year add-on model keeps the 30-79 range of the base equations
    expected_addon = Status.NOT_APPLICABLE if age < 30 else Status.COMPUTED
    assert findings["prevent-2024-30y:cvd-10y-addon"].status is expected_addon


@pytest.mark.parametrize("uacr,used", [(0.09, False), (0.1, True), (25000, True), (25001, False)])
def test_uacr_range(uacr, used):
    findings = evaluate(reference_features(uacr_mgg=uacr))
    assert ("prevent-2024-30y:cvd-10y-addon" in findings) is used
    if not used:
        assert len(findings) == 1


@pytest.mark.parametrize("hba1c,used", [(2.9, False), (3.0, True), (15.0, True), (15.1, False)])
def test_hba1c_range(hba1c, used):
    findings = evaluate(reference_features(hba1c_pct=hba1c))
    assert ("prevent-2024-30y:cvd-10y-addon" in findings) is used


def test_out_of_range_hba1c_is_left_out_and_said_so():
    addon = evaluate(reference_features(hba1c_pct=16, uacr_mgg=92))["prevent-2024-30y:cvd-10y-addon"]
    assert addon.details.model == "uacr_10y"
    assert any("HbA1c 16" in a and "not used" in a for a in addon.assumptions)


def test_established_cvd_is_not_applicable_for_both():
    findings = evaluate(reference_features(ascvd=True, hba1c_pct=7))
    assert {f.status for f in findings.values()} == {Status.NOT_APPLICABLE}
    assert len(findings) == 2


def test_missing_lipids_are_left_to_the_10_year_estimate():
    finding = evaluate(reference_features(hdl_mgdl=None))["prevent-2024-30y:cvd-30y"]
    # The PREVENT 10-year estimate (cardiovascular-risk) asks for the lipid panel; the 30-year one does not ask again.
    assert finding.status is Status.NOT_APPLICABLE
    assert "HDL cholesterol" in finding.message and "PREVENT 10-year" in finding.message
    assert finding.suggestions == ()


def test_without_bmi_heart_failure_is_left_out():
    finding = evaluate(reference_features(bmi_kgm2=None))["prevent-2024-30y:cvd-30y"]
    assert finding.status is Status.COMPUTED
    assert [m.label for m in finding.measures] == ["30-year ASCVD"]
    assert [m.name for m in finding.missing] == ["bmi_kgm2"]


@pytest.mark.parametrize("name,value", [("statin", "yes"), ("egfr_mlmin173m2", "low"), ("sex", "unknown")])
def test_unusable_values_never_raise(name, value):
    finding = evaluate(reference_features(**{name: value}))["prevent-2024-30y:cvd-30y"]
    assert finding.status is Status.NOT_APPLICABLE  # not computed, said why; never an error
    assert feature_label(name) in finding.message


def test_empty_feature_set_through_runner_is_not_an_error():
    findings = run_engines([calculators.get("prevent-2024-30y")], FeatureSet(as_of=AS_OF))
    assert [f.status for f in findings] == [Status.NOT_APPLICABLE]
