"""CKD-EPI 2021 race-free creatinine equation (Inker 2021) and KDIGO 2012 G categories."""
from __future__ import annotations

import math
from datetime import date

import pytest

import engine.calculators  # noqa: F401 - registers the calculators
from engine.calculators.ckd_epi import (
    CkdEpi2021Creatinine,
    ckd_epi_2021_creatinine,
    ckd_epi_2021_creatinine_detail,
    kdigo_g_category,
)
from engine.finding import Evidence, Severity, Status
from engine.inputs import FeatureSet
from engine.registry import calculators
from engine.runner import run_engines
from tests.engine.builders import AS_OF, features, only_finding


def evaluate(fs: FeatureSet):
    return only_finding(CkdEpi2021Creatinine(), fs)


# -- the equation ---------------------------------------------------------------------------------------

def test_woman_60_creatinine_1_0():
    """142 x (1.0/0.7)^-1.200 x 0.9938^60 x 1.012
    = 142 x exp(-1.2 x 0.356675) x exp(60 x ln 0.9938) x 1.012
    = 142 x 0.651805 x 0.688549 x 1.012 = 64.49 -> reported 64."""
    assert ckd_epi_2021_creatinine(creatinine_mgdl=1.0, age_years=60, sex="female") == pytest.approx(64.49, abs=0.01)


def test_man_55_creatinine_1_2_matches_nkf_calculator():
    """NKF CKD-EPI 2021 calculator: man 55, Scr 1.2 -> 71.
    142 x (1.2/0.9)^-1.200 x 0.9938^55 = 142 x 0.708051 x 0.710299 = 71.42."""
    egfr = ckd_epi_2021_creatinine(creatinine_mgdl=1.2, age_years=55, sex="male")
    assert egfr == pytest.approx(71.42, abs=0.01)
    assert round(egfr) == 71


def test_woman_30_creatinine_below_kappa_uses_alpha():
    """Below kappa the alpha exponent applies: 142 x (0.5/0.7)^-0.241 x 0.9938^30 x 1.012
    = 142 x 1.084468 x 0.829789 x 1.012 = 129.32."""
    assert ckd_epi_2021_creatinine(creatinine_mgdl=0.5, age_years=30, sex="female") == pytest.approx(129.32, abs=0.01)


def test_woman_70_creatinine_2_0():
    """142 x (2.0/0.7)^-1.200 x 0.9938^70 x 1.012 = 142 x 0.283719 x 0.647047 x 1.012 = 26.38."""
    assert ckd_epi_2021_creatinine(creatinine_mgdl=2.0, age_years=70, sex="female") == pytest.approx(26.38, abs=0.01)


@pytest.mark.parametrize("sex,kappa,sex_factor", [("female", 0.7, 1.012), ("male", 0.9, 1.0)])
def test_kappa_boundary_is_continuous(sex, kappa, sex_factor):
    """At Scr = kappa both power terms are 1: eGFR = 142 x 0.9938^age (x 1.012 if female).
    Age 40: 142 x 0.779777 = 110.73 (male), x 1.012 = 112.05 (female)."""
    at_kappa = ckd_epi_2021_creatinine(creatinine_mgdl=kappa, age_years=40, sex=sex)
    assert at_kappa == pytest.approx(142 * 0.9938 ** 40 * sex_factor, rel=1e-12)
    assert at_kappa == pytest.approx({"male": 110.73, "female": 112.05}[sex], abs=0.01)
    just_below = ckd_epi_2021_creatinine(creatinine_mgdl=kappa - 1e-9, age_years=40, sex=sex)
    just_above = ckd_epi_2021_creatinine(creatinine_mgdl=kappa + 1e-9, age_years=40, sex=sex)
    assert just_below > at_kappa > just_above
    assert just_below == pytest.approx(at_kappa, rel=1e-8)
    assert just_above == pytest.approx(at_kappa, rel=1e-8)
    # Below kappa the slope is alpha, above it -1.200.
    below = ckd_epi_2021_creatinine(creatinine_mgdl=kappa * 0.5, age_years=40, sex=sex)
    above = ckd_epi_2021_creatinine(creatinine_mgdl=kappa * 2, age_years=40, sex=sex)
    alpha = {"female": -0.241, "male": -0.302}[sex]
    assert below / at_kappa == pytest.approx(0.5 ** alpha)
    assert above / at_kappa == pytest.approx(2 ** -1.2)


def test_terms_sum_to_log_egfr():
    detail = ckd_epi_2021_creatinine_detail(creatinine_mgdl=1.4, age_years=67, sex="male")
    assert math.fsum(t.contribution for t in detail.terms) == pytest.approx(math.log(detail.egfr_mlmin173m2))
    assert math.prod(t.value for t in detail.terms) == pytest.approx(detail.egfr_mlmin173m2)


@pytest.mark.parametrize("kwargs", [
    dict(creatinine_mgdl=0, age_years=50, sex="male"),
    dict(creatinine_mgdl=-1.0, age_years=50, sex="male"),
    dict(creatinine_mgdl=1.0, age_years=17.9, sex="female"),
    dict(creatinine_mgdl=1.0, age_years=50, sex="unknown"),
    dict(creatinine_mgdl=float("nan"), age_years=50, sex="male"),
])
def test_invalid_input_raises_value_error(kwargs):
    with pytest.raises(ValueError):
        ckd_epi_2021_creatinine(**kwargs)


def test_age_18_is_accepted():
    assert ckd_epi_2021_creatinine(creatinine_mgdl=0.8, age_years=18, sex="male") > 0


# -- KDIGO categories ---------------------------------------------------------------------------------

@pytest.mark.parametrize("egfr,category", [
    (120, "G1"), (90, "G1"), (89, "G2"), (60, "G2"), (59, "G3a"), (45, "G3a"), (44, "G3b"),
    (30, "G3b"), (29, "G4"), (15, "G4"), (14, "G5"), (3, "G5"),
])
def test_kdigo_boundaries(egfr, category):
    assert kdigo_g_category(egfr) == category


def test_category_compares_the_unrounded_value():
    """eGFR 59.6 is G3a: staging compares unrounded values everywhere, so the CKD detector, the KDIGO heat map
    and the KFRE never disagree about a patient at a band edge."""
    fs = features(creatinine_mgdl=1.3595, age_years=60, sex="male")
    finding = evaluate(fs)
    assert 59.5 <= finding.value < 60
    assert finding.category == "G3a"


# -- the engine ---------------------------------------------------------------------------------------

def test_registered():
    assert isinstance(calculators.get("ckd-epi-2021-cr"), CkdEpi2021Creatinine)


def test_computed_finding():
    fs = features(creatinine_mgdl=1.2, age_years=55, sex="male")
    finding = evaluate(fs)
    assert finding.status is Status.COMPUTED
    assert finding.id == "ckd-epi-2021-cr:egfr"
    assert finding.value == pytest.approx(71.42, abs=0.01)
    assert finding.unit == "mL/min/1.73m2"
    assert finding.category == "G2"
    assert finding.severity is Severity.INFO
    assert len(finding.thresholds) == 6
    assert all(any(item is fs.get(name) for item in finding.inputs) for name in ("creatinine_mgdl", "age_years", "sex"))
    assert math.fsum(t.contribution for t in finding.explanation) == pytest.approx(math.log(finding.value))
    assert finding.citation.doi == "10.1056/NEJMoa2102953"


@pytest.mark.parametrize("creatinine,sex,age,category,severity", [
    (2.0, "female", 70, "G4", Severity.WARNING),
    (6.0, "male", 60, "G5", Severity.CRITICAL),
    (1.6, "male", 60, "G3a", Severity.WARNING),
])
def test_severity_follows_category(creatinine, sex, age, category, severity):
    finding = evaluate(features(creatinine_mgdl=creatinine, age_years=age, sex=sex))
    assert (finding.category, finding.severity) == (category, severity)


@pytest.mark.parametrize("indication", ["diabetes", "hypertension", "chronic_kidney_disease"])
def test_missing_creatinine_is_insufficient_where_testing_for_ckd_is_indicated(indication):
    fs = features(age_years=50, sex="female", **{indication: True})
    fs.mark_missing("creatinine_mgdl", "no serum creatinine in the last 12 months")
    finding = evaluate(fs)
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == ["creatinine_mgdl"]
    assert finding.missing[0].reason == "no serum creatinine in the last 12 months"
    assert finding.value is None


def test_missing_creatinine_without_an_indication_is_not_a_data_gap():
    """KDIGO 2024 rec. 1.1.1.1 tests for CKD in people at risk (diabetes, hypertension) or with CKD: without any of
    them a missing creatinine is no "data needed" result (a score that needs an eGFR names it itself)."""
    fs = features(age_years=50, sex="female", diabetes=False, hypertension=False)
    fs.mark_missing("creatinine_mgdl", "no serum creatinine in the last 12 months")
    finding = evaluate(fs)
    assert finding.status is Status.NOT_APPLICABLE
    assert "KDIGO 2024" in finding.message and finding.suggestions == ()


@pytest.mark.parametrize("creatinine, extra, shown", [
    (0.73, {}, False),  # G1, no criterion of CKD: explainer page only
    (1.0, {}, False),  # G2
    (1.0, {"uacr_mgg": 45.0}, True),  # G2 with albuminuria (A2): CKD
    (1.0, {"uacr_mgg": 12.0}, False),  # G2 with A1
    (1.0, {"chronic_kidney_disease": True}, True),  # G2 with CKD on the problem list
    (1.0, {"dialysis_or_transplant": True}, True),
    (1.3, {}, True),  # G3a
])
def test_a_normal_egfr_without_a_ckd_criterion_is_kept_off_the_cards(creatinine, extra, shown):
    finding = evaluate(features(creatinine_mgdl=creatinine, age_years=60, sex="female", **extra))
    assert finding.status is Status.COMPUTED
    assert finding.explainer_only is (not shown), (finding.category, extra)


@pytest.mark.parametrize("value", [0, -0.5, "high", float("inf")])
def test_unusable_creatinine_is_insufficient_not_an_error(value):
    finding = evaluate(features(creatinine_mgdl=value, age_years=50, sex="female"))
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == ["creatinine_mgdl"]
    assert finding.inputs and all(item.name != "creatinine_mgdl" for item in finding.inputs)


@pytest.mark.parametrize("age,status", [(17, Status.NOT_APPLICABLE), (18, Status.COMPUTED)])
def test_adults_only(age, status):
    finding = evaluate(features(creatinine_mgdl=0.8, age_years=age, sex="male"))
    assert finding.status is status
    if status is Status.NOT_APPLICABLE:
        assert "18" in finding.message and finding.value is None


def test_empty_feature_set_through_runner_is_not_an_error():
    findings = run_engines([calculators.get("ckd-epi-2021-cr")], FeatureSet(as_of=AS_OF))
    assert [f.status for f in findings] == [Status.NOT_APPLICABLE]  # nothing recorded: no indication for an eGFR
    features = FeatureSet(as_of=AS_OF)
    features.put(Evidence("diabetes", "Diabetes", True, source="Condition/dm"))
    findings = run_engines([calculators.get("ckd-epi-2021-cr")], features)
    assert [f.status for f in findings] == [Status.INSUFFICIENT_DATA]
    assert {m.name for m in findings[0].missing} == {"creatinine_mgdl", "age_years", "sex"}


def test_no_finding_when_the_lab_reported_an_egfr_and_there_is_no_creatinine():
    from engine.inputs import FeatureSet
    from engine.registry import calculators

    features = FeatureSet(as_of=date(2026, 6, 1))
    features.put(Evidence("age_years", "Age", 50, "years", source="Patient/p"))
    features.put(Evidence("sex", "Sex", "female", source="Patient/p"))
    features.put(Evidence("hypertension", "Hypertension", True, source="Condition/htn"))
    features.put(Evidence("egfr_mlmin173m2", "eGFR", 90.0, "mL/min/1.73m2", source="Observation/egfr"))
    assert calculators.get("ckd-epi-2021-cr").evaluate(features) == []
    features.values.pop("egfr_mlmin173m2")
    only = calculators.get("ckd-epi-2021-cr").evaluate(features)
    assert [f.status.value for f in only] == ["insufficient-data"]


def test_value_only_path_equals_the_detailed_product():
    # The adapter derives an eGFR per creatinine of the history with the value-only function: it must give the very
    # float the detailed one gives (same factors, same order of multiplication), and raise the same errors.
    for sex in ("female", "male"):
        for creatinine in (0.1, 0.55, 0.7, 0.71, 0.9, 0.93, 1.2, 2.5, 7.0, 30.0):
            for age in (18, 18.5, 40, 67.25, 90, 120):
                kwargs = {"creatinine_mgdl": creatinine, "age_years": age, "sex": sex}
                assert ckd_epi_2021_creatinine(**kwargs) == ckd_epi_2021_creatinine_detail(**kwargs).egfr_mlmin173m2
    for bad in ({"creatinine_mgdl": 0.0, "age_years": 50, "sex": "male"},
                {"creatinine_mgdl": 1.0, "age_years": 17, "sex": "male"},
                {"creatinine_mgdl": 1.0, "age_years": 50, "sex": "other"},
                {"creatinine_mgdl": float("nan"), "age_years": 50, "sex": "female"}):
        with pytest.raises(ValueError) as fast:
            ckd_epi_2021_creatinine(**bad)
        with pytest.raises(ValueError) as detailed:
            ckd_epi_2021_creatinine_detail(**bad)
        assert str(fast.value) == str(detailed.value)
