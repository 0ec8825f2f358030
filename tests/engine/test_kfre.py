"""Kidney Failure Risk Equation, 4-variable (Tangri 2011/2016): arithmetic, regions, eligibility, bands."""
from __future__ import annotations

import math
from datetime import timedelta

import pytest

import engine.calculators  # noqa: F401 - registers the calculators
from engine.calculators.kfre import KidneyFailureRiskEquation, coefficients, kfre_4v, risk_category
from engine.finding import Severity, Status
from engine.inputs import FeatureSet
from engine.registry import calculators
from engine.runner import run_engines
from tests.engine.builders import AS_OF, MEASURED, ev, features, only_finding, with_persisting_egfr
from tests.proposal_resources import resource as proposal_resource

EXAMPLE = dict(age_years=70, sex="male", egfr_mlmin173m2=30, uacr_mgg=300)
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def evaluate(fs: FeatureSet, *, ckd_established: bool = True):
    """The KFRE of a patient with CKD (the eGFR also 120 days earlier) unless a test says otherwise."""
    return only_finding(KidneyFailureRiskEquation(), with_persisting_egfr(fs) if ckd_established else fs)


# -- the equation ---------------------------------------------------------------------------------------

def test_worked_example_north_american():
    """Man 70, eGFR 30, ACR 300 mg/g. Linear predictor:
    -0.2201 (7.0 - 7.036) + 0.2467 (1 - 0.5642) - 0.5567 (6 - 7.222) + 0.4510 (ln 300 - 5.137)
    = 0.007924 + 0.107512 + 0.680287 + 0.255619 = 1.051342; exp = 2.861.
    2-year 1 - 0.9750^2.861 = 6.99 %; 5-year 1 - 0.9240^2.861 = 20.24 %."""
    result = kfre_4v(**EXAMPLE)
    assert result.linear_predictor == pytest.approx(1.051342, abs=1e-6)
    assert result.risk_2y_percent == pytest.approx(6.99, abs=0.01)
    assert result.risk_5y_percent == pytest.approx(20.24, abs=0.01)
    assert math.fsum(t.contribution for t in result.terms) == pytest.approx(result.linear_predictor)


def test_worked_example_non_north_american():
    """Same man with the non-North-American baseline survival (Tangri 2016): 1 - 0.9832^2.861 = 4.73 % and
    1 - 0.9365^2.861 = 17.12 %."""
    result = kfre_4v(**EXAMPLE, region="non-north-american")
    assert result.risk_2y_percent == pytest.approx(4.73, abs=0.01)
    assert result.risk_5y_percent == pytest.approx(17.12, abs=0.01)


def test_at_the_centring_values_only_the_sex_term_remains():
    """Age 70.36, eGFR 36.11, ACR e^5.137 mg/g, woman: x = 0.2467 x (0 - 0.5642) = -0.139188;
    5-year risk 1 - 0.9240^exp(-0.139188) = 6.65 %."""
    result = kfre_4v(age_years=70.36, sex="female", egfr_mlmin173m2=36.11, uacr_mgg=math.exp(5.137))
    assert result.linear_predictor == pytest.approx(-0.2467 * 0.5642, abs=1e-9)
    survival = coefficients()["baseline_survival"]["north-american"]["5"]
    assert result.risk_5y_percent == pytest.approx(100 * (1 - survival ** math.exp(-0.2467 * 0.5642)))
    assert result.risk_5y_percent == pytest.approx(6.65, abs=0.01)


def test_acr_enters_as_mg_per_g():
    """ACR 300 mg/g is 33.9 mg/mmol; taking 33.9 as mg/g would understate risk (0.451 x ln(8.85) lower)."""
    as_mgg = kfre_4v(**EXAMPLE)
    mistaken = kfre_4v(**dict(EXAMPLE, uacr_mgg=300 / 8.84))
    assert mistaken.linear_predictor == pytest.approx(as_mgg.linear_predictor - 0.4510 * math.log(8.84))
    assert mistaken.risk_5y_percent < as_mgg.risk_5y_percent / 2


@pytest.mark.parametrize("kwargs", [dict(uacr_mgg=0), dict(uacr_mgg=-3), dict(egfr_mlmin173m2=0), dict(sex="x"),
                                    dict(region="europe")])
def test_invalid_input_raises(kwargs):
    with pytest.raises(ValueError):
        kfre_4v(**dict(EXAMPLE, **kwargs))


@pytest.mark.parametrize("risk_2y,risk_5y,category", [
    (1.0, 5.0, "low"), (1.0, 5.01, "elevated"),
    (10.0, 30.0, "elevated"), (10.01, 30.0, "high"),
    (40.0, 80.0, "high"), (40.01, 80.0, "very high"),
])
def test_category_boundaries(risk_2y, risk_5y, category):
    assert risk_category(risk_2y, risk_5y) == category


# -- the engine ------------------------------------------------------------------------------------------

def test_registered():
    assert isinstance(calculators.get("kfre-4v"), KidneyFailureRiskEquation)


def test_computed_finding():
    fs = features(**EXAMPLE)
    finding = evaluate(fs)
    assert finding.status is Status.COMPUTED
    assert finding.id == "kfre-4v:kidney-failure-5y"
    assert finding.value == pytest.approx(20.24, abs=0.01) and finding.unit == "%"
    assert finding.measures[0].value == pytest.approx(6.99, abs=0.01)
    assert (finding.category, finding.severity) == ("elevated", Severity.WARNING)
    assert finding.details.region == "north-american"
    assert all(any(item is fs.get(n) for item in finding.inputs) for n in EXAMPLE)
    assert finding.citation.doi == "10.1001/jama.2015.18202"


def test_region_option():
    finding = evaluate(features(options={"kfre_region": "non-north-american"}, **EXAMPLE))
    assert finding.value == pytest.approx(17.12, abs=0.01)
    assert finding.details.region == "non-north-american"


def test_unknown_region_option_falls_back_to_default_and_says_so():
    finding = evaluate(features(options={"kfre_region": "mars"}, **EXAMPLE))
    assert finding.details.region == "north-american"
    assert any("not recognised" in a for a in finding.assumptions)


@pytest.mark.parametrize("egfr,status", [(59.4, Status.COMPUTED), (59.5, Status.COMPUTED),
                                         (59.9, Status.COMPUTED), (60, Status.NOT_APPLICABLE)])
def test_only_below_60(egfr, status):
    """Eligibility compares the eGFR unrounded, like every kidney staging rule in the project (59.9 < 60)."""
    finding = evaluate(features(**dict(EXAMPLE, egfr_mlmin173m2=egfr)))
    assert finding.status is status
    if status is Status.NOT_APPLICABLE:
        assert finding.value is None and "below 60" in finding.message


def test_dialysis_or_transplant_is_not_applicable():
    finding = evaluate(features(dialysis_or_transplant=True, **EXAMPLE))
    assert finding.status is Status.NOT_APPLICABLE


@pytest.mark.parametrize("age,status", [(17, Status.NOT_APPLICABLE), (18, Status.COMPUTED)])
def test_adults_only(age, status):
    assert evaluate(features(**dict(EXAMPLE, age_years=age))).status is status


def test_missing_acr_asks_for_uacr():
    fs = features(age_years=70, sex="male", egfr_mlmin173m2=30)
    fs.mark_missing("uacr_mgg", "no urine ACR in the last 12 months")
    finding = evaluate(fs)
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == ["uacr_mgg"]
    resource = proposal_resource(finding)
    assert resource["code"]["coding"][0]["code"] == "9318-7" and resource["subject"] == {"reference": "Patient/p1"}


@pytest.mark.parametrize("uacr", [0, "high"])
def test_unusable_acr_is_insufficient_not_an_error(uacr):
    finding = evaluate(features(**dict(EXAMPLE, uacr_mgg=uacr)))
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == ["uacr_mgg"]


def test_very_high_risk_is_critical_and_g5_is_noted():
    finding = evaluate(features(age_years=50, sex="male", egfr_mlmin173m2=12, uacr_mgg=2000))
    assert finding.measures[0].value > 40
    assert (finding.category, finding.severity) == ("very high", Severity.CRITICAL)
    assert any("G5" in a for a in finding.assumptions)


def test_low_risk_is_info():
    finding = evaluate(features(age_years=80, sex="female", egfr_mlmin173m2=55, uacr_mgg=10))
    assert finding.value <= 5
    assert (finding.category, finding.severity) == ("low", Severity.INFO)


def test_empty_feature_set_through_runner_is_not_an_error():
    findings = run_engines([calculators.get("kfre-4v")], FeatureSet(as_of=AS_OF))
    # Without an eGFR below 60 the KFRE is not indicated (its validated population is CKD G3a-G5): not applicable.
    assert [f.status for f in findings] == [Status.NOT_APPLICABLE]
    assert "G3a-G5" in findings[0].message


# -- CKD established: the KFRE is validated in CKD G3-G5 (Tangri 2011/2016); CKD as the CKD detector reads it ----------
def history(fs: FeatureSet, name: str, *results: tuple[float, int]) -> FeatureSet:
    """Results of a feature as (value, days before the newest one, 2024-05-01), the newest also the feature's value."""
    items = [ev(name, value, MEASURED - timedelta(days=n)) for value, n in results]
    fs.put(items[0])
    fs.history[name] = items
    return fs


def test_one_egfr_below_60_is_not_ckd_and_the_kfre_is_not_computed():
    """One eGFR 59, ACR 10 mg/g (the diagnosis card says "needs > 90 days"): no kidney-failure risk, and why, dated."""
    finding = evaluate(features(**dict(EXAMPLE, egfr_mlmin173m2=59, uacr_mgg=10)), ckd_established=False)
    assert finding.status is Status.NOT_APPLICABLE and finding.value is None and not finding.suggestions
    assert finding.message == (
        "CKD not established: one eGFR < 60 (2024-05-01). The KFRE is validated in CKD G3-G5 (Tangri 2011; Tangri "
        "2016, JAMA 315:164), and CKD needs eGFR < 60 or UACR >= 30 mg/g persisting > 90 days (KDIGO 2024 "
        "definition). Repeat the eGFR and UACR after 3 months.")
    assert [i.value for i in finding.inputs if i.name == "egfr_mlmin173m2"] == [59]


@pytest.mark.parametrize("apart, established", [(90, False), (91, True)])
def test_egfr_below_60_establishes_ckd_only_over_more_than_90_days(apart, established):
    fs = history(features(**dict(EXAMPLE, egfr_mlmin173m2=None)), "egfr_mlmin173m2", (30, 0), (45, apart))
    finding = evaluate(fs, ckd_established=False)
    if not established:
        assert finding.status is Status.NOT_APPLICABLE
        assert finding.message.startswith("CKD not established: eGFR < 60 for 90 days (2 results, 2024-02-01 to "
                                          "2024-05-01), not > 90; one UACR >= 30 mg/g (2024-05-01). The KFRE")
        return
    assert finding.status is Status.COMPUTED and finding.value == pytest.approx(20.24, abs=0.01)
    assert ("CKD established: eGFR abnormal for 91 days (> 3 months, KDIGO 2024 definition)."
            ) in finding.assumptions


def test_a_normal_egfr_between_breaks_the_run():
    fs = history(features(**dict(EXAMPLE, egfr_mlmin173m2=None)), "egfr_mlmin173m2", (30, 0), (65, 60), (40, 200))
    finding = evaluate(fs, ckd_established=False)
    assert finding.status is Status.NOT_APPLICABLE and "one eGFR < 60 (2024-05-01)" in finding.message


@pytest.mark.parametrize("entry", [dict(chronic_kidney_disease=True), dict(codes={(ICD10CM, "N18.31")})])
def test_ckd_on_the_problem_list_with_one_egfr(entry):
    fs = features(**EXAMPLE, **{k: v for k, v in entry.items() if k != "codes"})
    fs.condition_codes = set(entry.get("codes", ()))
    finding = evaluate(fs, ckd_established=False)
    assert finding.status is Status.COMPUTED and finding.value == pytest.approx(20.24, abs=0.01)
    assert "CKD established: CKD on the problem list." in finding.assumptions


@pytest.mark.parametrize("uacrs, established", [([(300, 0)], False), ([(300, 0), (100, 91)], True),
                                                ([(300, 0), (100, 90)], False)])
def test_albuminuria_persisting_more_than_90_days_establishes_ckd(uacrs, established):
    fs = history(features(**dict(EXAMPLE, uacr_mgg=None)), "uacr_mgg", *uacrs)
    finding = evaluate(fs, ckd_established=False)
    assert (finding.status is Status.COMPUTED) is established
    if not established:
        assert finding.message.startswith("CKD not established: one eGFR < 60 (2024-05-01); ")
        assert "UACR >= 30 mg/g" in finding.message


@pytest.mark.parametrize("facts, codes, words", [
    (dict(), {(ICD10CM, "Z94.0")}, "A kidney transplant is recorded"),
    (dict(), {(ICD10CM, "Z99.2")}, "Chronic dialysis is recorded"),
    (dict(dialysis_or_transplant=True), set(), "Chronic dialysis or a kidney transplant is recorded"),
])
def test_a_kidney_transplant_or_dialysis_on_the_problem_list_is_not_ckd_for_the_kfre(facts, codes, words):
    """Z94.0 / Z99.2 document CKD for the diagnosis detector; the KFRE was validated without dialysis or transplant
    recipients (Tangri 2016), with or without the dialysis_or_transplant feature."""
    fs = features(**EXAMPLE, **facts)
    fs.condition_codes = codes
    finding = evaluate(fs, ckd_established=False)
    assert finding.status is Status.NOT_APPLICABLE and finding.value is None
    assert finding.message == (f"{words}: the KFRE predicts kidney failure in people not yet receiving kidney "
                               "replacement therapy.")
