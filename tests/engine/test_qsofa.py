"""qSOFA (Seymour 2016): criteria boundaries, mentation from GCS or ACVPU, recency of vitals, partial data."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

import engine.calculators  # noqa: F401 - registers the calculators
from engine.calculators.qsofa import Qsofa, altered_mentation, qsofa_score
from engine.calculators.vitals import measured_at, reference_time
from engine.finding import Evidence, Severity, Status
from engine.inputs import FeatureSet
from engine.registry import calculators
from engine.runner import run_engines
from tests.engine import builders
from tests.engine.builders import AS_OF, only_finding

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
RECENT = NOW - timedelta(hours=1)
NORMAL = dict(respiratory_rate_min=16, sbp_mmhg=125, consciousness_avpu="A", gcs_total=15)


def ev(name: str, value, effective=RECENT) -> Evidence:
    return builders.ev(name, value, effective)


def features(now=NOW, options=None, **values) -> FeatureSet:
    return builders.features(now=now, options=options, effective=RECENT, **values)


def patient(**overrides) -> FeatureSet:
    return features(**{**NORMAL, **overrides})


def evaluate(fs: FeatureSet):
    return only_finding(Qsofa(), fs)


# -- criteria (Seymour 2016) ------------------------------------------------------------------------------

@pytest.mark.parametrize("rr,sbp,altered,score", [
    (21, 101, False, 0), (22, 101, False, 1),     # respiratory rate >= 22
    (16, 101, False, 0), (16, 100, False, 1),     # systolic BP <= 100
    (16, 120, True, 1), (30, 90, True, 3),
])
def test_criteria_boundaries(rr, sbp, altered, score):
    assert qsofa_score(respiratory_rate_min=rr, sbp_mmhg=sbp, altered_mentation=altered).score == score


@pytest.mark.parametrize("gcs,avpu,altered", [(15, None, False), (14, None, True), (None, "A", False),
                                              (None, "C", True), (None, "V", True), (15, "C", True),
                                              (None, None, None)])
def test_altered_mentation(gcs, avpu, altered):
    assert altered_mentation(gcs_total=gcs, consciousness_avpu=avpu) is altered


def test_unknown_criteria_count_zero_and_are_reported():
    result = qsofa_score(respiratory_rate_min=None, sbp_mmhg=95, altered_mentation=None)
    assert (result.score, result.unknown) == (1, ("respiratory_rate", "mentation"))


# -- the engine ------------------------------------------------------------------------------------------

def test_registered():
    assert isinstance(calculators.get("qsofa"), Qsofa)


def test_normal_observations_score_zero():
    fs = patient()
    finding = evaluate(fs)
    assert finding.status is Status.COMPUTED
    assert finding.id == "qsofa:score"
    assert (finding.value, finding.category, finding.severity) == (0, "not high", Severity.INFO)
    assert any(item is fs.get("respiratory_rate_min") for item in finding.inputs)
    assert any("24 h before 2024-06-01T12:00" in a for a in finding.assumptions)


def test_two_criteria_are_high_risk():
    finding = evaluate(patient(respiratory_rate_min=24, sbp_mmhg=98))
    assert (finding.value, finding.category, finding.severity) == (2, "high", Severity.WARNING)
    assert [t.contribution for t in finding.explanation] == [1.0, 0.0, 1.0]


def test_stale_respiratory_rate_is_named():
    fs = patient()
    fs.put(ev("respiratory_rate_min", 30, NOW - timedelta(hours=25)))
    finding = evaluate(fs)
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == ["respiratory_rate_min"]
    assert "25.0 h old" in finding.missing[0].reason and "last 24 h" in finding.missing[0].reason


@pytest.mark.parametrize("age_h,status", [(24, Status.COMPUTED), (24 + 1 / 60, Status.INSUFFICIENT_DATA)])
def test_recency_boundary_is_inclusive(age_h, status):
    fs = patient()
    fs.put(ev("sbp_mmhg", 125, NOW - timedelta(hours=age_h)))
    assert evaluate(fs).status is status


def test_recency_is_configurable():
    fs = features(options={"vitals_max_age_h": 48}, **NORMAL)
    fs.put(ev("respiratory_rate_min", 16, NOW - timedelta(hours=30)))
    assert evaluate(fs).status is Status.COMPUTED


@pytest.mark.parametrize("option", [0, -5, "soon", float("nan")])
def test_unusable_recency_option_falls_back_to_24_h_and_says_so(option):
    finding = evaluate(features(options={"vitals_max_age_h": option}, **NORMAL))
    assert finding.status is Status.COMPUTED
    assert any("vitals_max_age_h" in a and "24 h used" in a for a in finding.assumptions)


def test_without_a_clock_the_end_of_the_as_of_day_is_used():
    fs = features(now=None, **NORMAL)
    assert reference_time(fs) == datetime(2024, 6, 1, 23, 59, 59, 999999, tzinfo=timezone.utc)
    fs.put(ev("sbp_mmhg", 125, datetime(2024, 5, 31, 23, 30, tzinfo=timezone.utc)))  # 24.5 h before the day's end
    finding = evaluate(fs)
    assert finding.status is Status.INSUFFICIENT_DATA and [m.name for m in finding.missing] == ["sbp_mmhg"]


def test_a_date_without_time_counts_from_the_start_of_that_day():
    assert measured_at(ev("sbp_mmhg", 120, date(2024, 6, 1))) == datetime(2024, 6, 1, tzinfo=timezone.utc)
    fs = patient()
    fs.put(ev("sbp_mmhg", 125, date(2024, 5, 31)))  # 36 h before noon on 1 June
    assert evaluate(fs).status is Status.INSUFFICIENT_DATA


def test_observation_without_a_time_is_not_used():
    fs = patient()
    fs.put(ev("respiratory_rate_min", 16, None))
    finding = evaluate(fs)
    assert finding.status is Status.INSUFFICIENT_DATA
    assert "recency cannot be checked" in finding.missing[0].reason


def test_two_known_criteria_make_the_score_even_without_mentation():
    fs = features(respiratory_rate_min=28, sbp_mmhg=88)
    finding = evaluate(fs)
    assert finding.status is Status.COMPUTED
    assert (finding.value, finding.category) == (2, "high")
    assert {m.name for m in finding.missing} == {"consciousness_avpu", "gcs_total"}
    assert any("at least" in a for a in finding.assumptions)


def test_one_known_criterion_without_mentation_is_insufficient():
    finding = evaluate(features(respiratory_rate_min=28, sbp_mmhg=120))
    assert finding.status is Status.INSUFFICIENT_DATA
    assert finding.details.partial_score == 1


def test_gcs_alone_is_enough_for_mentation():
    finding = evaluate(features(respiratory_rate_min=16, sbp_mmhg=120, gcs_total=13))
    assert (finding.status, finding.value) == (Status.COMPUTED, 1)


@pytest.mark.parametrize("name,value", [("respiratory_rate_min", 0), ("sbp_mmhg", 400), ("gcs_total", 14.5),
                                        ("consciousness_avpu", "drowsy")])
def test_implausible_values_are_not_scored(name, value):
    fs = features(**{"respiratory_rate_min": 16, "sbp_mmhg": 120, name: value})
    finding = evaluate(fs)
    assert finding.status is Status.INSUFFICIENT_DATA
    assert name in {m.name for m in finding.missing}


@pytest.mark.parametrize("age,status", [(17, Status.NOT_APPLICABLE), (18, Status.COMPUTED)])
def test_adults_only(age, status):
    assert evaluate(patient(age_years=age)).status is status


def test_empty_feature_set_through_runner_is_not_an_error():
    findings = run_engines([calculators.get("qsofa")], FeatureSet(as_of=AS_OF))
    assert [f.status for f in findings] == [Status.INSUFFICIENT_DATA]
