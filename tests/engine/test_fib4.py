"""FIB-4 (Sterling 2006) with the Shah 2009 / McPherson 2017 cut-offs, the age rules and missing data."""
from __future__ import annotations

import math
from datetime import date

import pytest

import engine.calculators  # noqa: F401 - registers the calculators
from engine.calculators.fib4 import Fib4, fib4, fib4_category, fib4_detail
from engine.finding import Severity, Status
from engine.inputs import FeatureSet
from engine.registry import calculators
from engine.runner import run_engines
from tests.engine.builders import AS_OF, ev, features, only_finding

EXAMPLE = dict(age_years=50, ast_ul=40, alt_ul=36, platelets_10e9l=200)


def evaluate(fs: FeatureSet):
    return only_finding(Fib4(), fs)


# -- the index --------------------------------------------------------------------------------------------

def test_worked_example():
    """50 x 40 / (200 x sqrt(36)) = 2000 / 1200 = 1.667."""
    assert fib4(**EXAMPLE) == pytest.approx(2000 / 1200)


def test_second_example():
    """Age 62, AST 85, ALT 49, platelets 110: 62 x 85 / (110 x 7) = 5270 / 770 = 6.844."""
    assert fib4(age_years=62, ast_ul=85, alt_ul=49, platelets_10e9l=110) == pytest.approx(5270 / 770)


def test_contributions_sum_to_log_fib4():
    result = fib4_detail(**EXAMPLE)
    assert math.fsum(t.contribution for t in result.terms) == pytest.approx(math.log(result.fib4))


@pytest.mark.parametrize("name", list(EXAMPLE))
def test_non_positive_input_raises(name):
    with pytest.raises(ValueError):
        fib4(**dict(EXAMPLE, **{name: 0}))


# -- cut-offs (Shah 2009; McPherson 2017), compared at two decimals ---------------------------------------

@pytest.mark.parametrize("value,age,category", [
    (1.29, 50, "low"), (1.2949, 50, "low"), (1.295, 50, "indeterminate"), (1.30, 50, "indeterminate"),
    (2.67, 50, "indeterminate"), (2.674, 50, "indeterminate"), (2.675, 50, "high"), (2.68, 50, "high"),
    (1.50, 64, "indeterminate"), (1.50, 65, "low"),          # lower cut-off 2.0 from 65 years
    (1.99, 65, "low"), (2.00, 65, "indeterminate"),
    (2.67, 65, "indeterminate"), (2.68, 65, "high"),         # the upper cut-off does not change with age
])
def test_category_boundaries(value, age, category):
    assert fib4_category(value, age) == category


# -- the engine ------------------------------------------------------------------------------------------

def test_registered():
    assert isinstance(calculators.get("fib-4"), Fib4)


def test_computed_finding():
    fs = features(**EXAMPLE)
    finding = evaluate(fs)
    assert finding.status is Status.COMPUTED
    assert finding.id == "fib-4:score"
    assert finding.value == pytest.approx(1.6667, abs=1e-4)
    assert (finding.category, finding.severity) == ("indeterminate", Severity.INFO)
    assert "1.67" in finding.message
    assert all(any(item is fs.get(n) for item in finding.inputs) for n in EXAMPLE)
    assert finding.citation.doi == "10.1002/hep.21178"
    assert not any("same day" in a for a in finding.assumptions)


def test_high_is_a_warning():
    finding = evaluate(features(age_years=62, ast_ul=85, alt_ul=49, platelets_10e9l=110))
    assert (finding.category, finding.severity) == ("high", Severity.WARNING)


def test_older_people_get_the_2_0_cut_off():
    """Age 70, AST 30, ALT 36, platelets 250: 70 x 30 / (250 x 6) = 1.40: low from 65 (else indeterminate)."""
    finding = evaluate(features(age_years=70, ast_ul=30, alt_ul=36, platelets_10e9l=250))
    assert finding.value == pytest.approx(1.4)
    assert finding.category == "low"
    assert any("2" in a and "McPherson" in a for a in finding.assumptions)


@pytest.mark.parametrize("age,status", [(35, Status.NOT_APPLICABLE), (36, Status.COMPUTED)])
def test_not_interpreted_below_36(age, status):
    finding = evaluate(features(**dict(EXAMPLE, age_years=age)))
    assert finding.status is status
    if status is Status.NOT_APPLICABLE:
        assert finding.value is None and "36" in finding.message


def test_labs_from_different_days_are_noted():
    fs = features(age_years=50, ast_ul=40, alt_ul=36)
    fs.put(ev("platelets_10e9l", 200, date(2024, 3, 1)))
    finding = evaluate(fs)
    assert any("61 days apart" in a for a in finding.assumptions)


def test_missing_platelets_is_insufficient():
    fs = features(age_years=50, ast_ul=40, alt_ul=36)
    fs.mark_missing("platelets_10e9l", "no platelet count in the last 12 months")
    finding = evaluate(fs)
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == ["platelets_10e9l"]
    assert finding.missing[0].reason == "no platelet count in the last 12 months"


@pytest.mark.parametrize("name,value", [("alt_ul", 0), ("platelets_10e9l", "low"), ("age_years", "unknown")])
def test_unusable_values_are_insufficient_not_errors(name, value):
    # With an indication (diabetes), whatever the aminotransferases say, so that the unusable value is what is tested.
    finding = evaluate(features(**dict(EXAMPLE, diabetes=True, **{name: value})))
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == [name]


def test_empty_feature_set_through_runner_is_not_an_error():
    findings = run_engines([calculators.get("fib-4")], FeatureSet(as_of=AS_OF))
    # No indication for a fibrosis assessment (AASLD 2023): not applicable, so no "data needed" card asks for labs.
    assert [f.status for f in findings] == [Status.NOT_APPLICABLE]
    assert "No indication" in findings[0].message
