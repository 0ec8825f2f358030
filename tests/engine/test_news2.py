"""NEWS2 (RCP 2017): every band edge of every parameter, SpO2 Scale 2, risk bands, recency, exclusions."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import engine.calculators  # noqa: F401 - registers the calculators
from engine.calculators.news2 import News2, news2_score, risk_category
from engine.finding import Evidence, Severity, Status
from engine.inputs import FeatureSet
from engine.registry import calculators
from engine.runner import run_engines
from tests.engine import builders
from tests.engine.builders import AS_OF, only_finding

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
RECENT = NOW - timedelta(hours=2)
NORMAL = dict(respiratory_rate_min=16, spo2_pct=97, on_supplemental_o2=False, sbp_mmhg=125, heart_rate_min=72,
              consciousness_avpu="A", temperature_c=37.0)


def ev(name: str, value, effective=RECENT) -> Evidence:
    return builders.ev(name, value, effective)


def features(**values) -> FeatureSet:
    return builders.features(now=NOW, effective=RECENT, **values)


def patient(**overrides) -> FeatureSet:
    return features(**{**NORMAL, **overrides})


def evaluate(fs: FeatureSet):
    return only_finding(News2(), fs)


def points(**overrides) -> int:
    return news2_score(**{**NORMAL, **overrides}).score


# -- the chart (RCP 2017), both sides of every band edge ---------------------------------------------------

@pytest.mark.parametrize("rr,expected", [(8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3)])
def test_respiration_rate(rr, expected):
    assert points(respiratory_rate_min=rr) == expected


@pytest.mark.parametrize("spo2,expected", [(91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)])
def test_spo2_scale_1(spo2, expected):
    assert points(spo2_pct=spo2) == expected


@pytest.mark.parametrize("spo2,oxygen,expected", [
    (83, False, 3), (84, False, 2), (85, False, 2), (86, False, 1), (87, False, 1), (88, False, 0), (92, False, 0),
    (93, False, 0), (100, False, 0),                                   # above target on air scores 0
    (88, True, 0), (92, True, 0), (93, True, 1), (94, True, 1), (95, True, 2), (96, True, 2), (97, True, 3),
])
def test_spo2_scale_2(spo2, oxygen, expected):
    """Scale 2 points only (the air/oxygen parameter adds 2 on oxygen, subtracted here)."""
    total = points(spo2_pct=spo2, on_supplemental_o2=oxygen, hypercapnic_target=True)
    assert total - (2 if oxygen else 0) == expected


def test_supplemental_oxygen_scores_2():
    assert points(on_supplemental_o2=True) == 2


@pytest.mark.parametrize("sbp,expected", [(90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0),
                                          (220, 3)])
def test_systolic_bp(sbp, expected):
    assert points(sbp_mmhg=sbp) == expected


@pytest.mark.parametrize("pulse,expected", [(40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2),
                                            (130, 2), (131, 3)])
def test_pulse(pulse, expected):
    assert points(heart_rate_min=pulse) == expected


@pytest.mark.parametrize("letter,expected", [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_consciousness(letter, expected):
    assert points(consciousness_avpu=letter) == expected


@pytest.mark.parametrize("temp,expected", [(35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1),
                                           (39.0, 1), (39.1, 2)])
def test_temperature(temp, expected):
    assert points(temperature_c=temp) == expected


@pytest.mark.parametrize("overrides,expected", [
    (dict(respiratory_rate_min=20.4), 0), (dict(respiratory_rate_min=20.5), 2),
    (dict(temperature_c=38.04), 0), (dict(temperature_c=38.05), 1),
])
def test_values_are_charted_at_chart_precision(overrides, expected):
    assert points(**overrides) == expected


def test_worked_example():
    """RR 23 (2), SpO2 95 on air (1), air (0), SBP 105 (1), pulse 115 (2), Alert (0), 38.5 C (1) = 7."""
    result = news2_score(respiratory_rate_min=23, spo2_pct=95, on_supplemental_o2=False, sbp_mmhg=105,
                         heart_rate_min=115, consciousness_avpu="A", temperature_c=38.5)
    assert [int(t.contribution) for t in result.terms] == [2, 1, 0, 1, 2, 0, 1]
    assert (result.score, result.red_score, risk_category(result.score, result.red_score)) == (7, False, "high")


@pytest.mark.parametrize("score,red,category", [(0, False, "low"), (4, False, "low"), (3, True, "low-medium"),
                                                (4, True, "low-medium"), (5, False, "medium"), (6, True, "medium"),
                                                (7, False, "high"), (12, True, "high")])
def test_risk_bands(score, red, category):
    assert risk_category(score, red) == category


@pytest.mark.parametrize("kwargs", [dict(spo2_pct=101), dict(consciousness_avpu="X"), dict(heart_rate_min=-1),
                                    dict(temperature_c=float("nan"))])
def test_impossible_input_raises(kwargs):
    with pytest.raises(ValueError):
        news2_score(**dict(NORMAL, **kwargs))


# -- the engine ------------------------------------------------------------------------------------------

def test_registered():
    assert isinstance(calculators.get("news2"), News2)


def test_normal_observations():
    fs = patient()
    finding = evaluate(fs)
    assert finding.status is Status.COMPUTED
    assert finding.id == "news2:score"
    assert (finding.value, finding.unit, finding.category, finding.severity) == (0, "points", "low", Severity.INFO)
    assert len(finding.explanation) == 7
    assert finding.details.spo2_scale == 1
    assert any("Scale 1 used" in a for a in finding.assumptions)
    assert all(any(item is fs.get(n) for item in finding.inputs) for n in NORMAL)


def test_single_red_parameter_is_low_medium_warning():
    finding = evaluate(patient(consciousness_avpu="C"))
    assert (finding.value, finding.category, finding.severity) == (3, "low-medium", Severity.WARNING)


def test_high_is_critical():
    finding = evaluate(patient(respiratory_rate_min=23, spo2_pct=95, sbp_mmhg=105, heart_rate_min=115,
                               temperature_c=38.5))
    assert (finding.value, finding.category, finding.severity) == (7, "high", Severity.CRITICAL)
    assert "emergency" in finding.message


def test_hypercapnic_target_uses_scale_2():
    finding = evaluate(patient(spo2_pct=89, hypercapnic_target=True))
    assert finding.details.spo2_scale == 2
    assert finding.value == 0  # on Scale 1, 89 % would score 3


def test_any_stale_parameter_withholds_the_score_and_names_it():
    fs = patient()
    fs.put(ev("temperature_c", 39.5, NOW - timedelta(hours=30)))
    fs.put(ev("heart_rate_min", 120, NOW - timedelta(hours=26)))
    finding = evaluate(fs)
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == ["heart_rate_min", "temperature_c"]
    assert finding.value is None
    assert "Pulse" not in finding.message and "Heart rate" in finding.message


def test_missing_parameter_is_named():
    fs = patient(spo2_pct=None)
    fs.mark_missing("spo2_pct", "no oxygen saturation recorded")
    finding = evaluate(fs)
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [(m.name, m.reason) for m in finding.missing] == [("spo2_pct", "no oxygen saturation recorded")]


def test_stale_oxygen_state_is_not_used_but_an_undated_one_is():
    fs = patient()
    fs.put(ev("on_supplemental_o2", True, NOW - timedelta(hours=48)))
    assert [m.name for m in evaluate(fs).missing] == ["on_supplemental_o2"]
    fs.put(ev("on_supplemental_o2", False, None))
    assert evaluate(fs).status is Status.COMPUTED


@pytest.mark.parametrize("gcs,score", [(15, 0), (14, 3)])
def test_consciousness_from_gcs_when_no_acvpu(gcs, score):
    finding = evaluate(patient(consciousness_avpu=None, gcs_total=gcs))
    assert (finding.status, finding.value) == (Status.COMPUTED, score)
    assert any("from GCS" in a for a in finding.assumptions)


def test_pregnancy_and_children_are_excluded():
    assert evaluate(patient(pregnant=True)).status is Status.NOT_APPLICABLE
    assert evaluate(patient(age_years=15)).status is Status.NOT_APPLICABLE
    assert evaluate(patient(age_years=16)).status is Status.COMPUTED


@pytest.mark.parametrize("name,value", [("spo2_pct", 120), ("temperature_c", 98.6), ("on_supplemental_o2", "2 L/min")])
def test_implausible_or_mislabelled_values_are_not_scored(name, value):
    """98.6 is a Fahrenheit temperature mislabelled as Celsius: outside the sanity limits, so not scored."""
    finding = evaluate(patient(**{name: value}))
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == [name]


def test_empty_feature_set_through_runner_is_not_an_error():
    findings = run_engines([calculators.get("news2")], FeatureSet(as_of=AS_OF))
    assert [f.status for f in findings] == [Status.INSUFFICIENT_DATA]
    assert len(findings[0].missing) == 7
