"""CHA2DS2-VASc (Lip 2010) with Friberg 2012 rates: points, age and sex boundaries, AF gating, missing items."""
from __future__ import annotations


import pytest

import engine.calculators  # noqa: F401 - registers the calculators
from engine.calculators.cha2ds2_vasc import Cha2ds2Vasc, annual_rates, cha2ds2_vasc_score, risk_category
from engine.finding import Severity, Status
from engine.inputs import FeatureSet
from engine.registry import calculators
from engine.runner import run_engines
from tests.engine import builders
from tests.engine.builders import AS_OF, only_finding

NONE_PRESENT = dict(heart_failure=False, hypertension=False, diabetes=False, stroke_tia_thromboembolism=False,
                    vascular_disease=False)


def features(**values) -> FeatureSet:
    return builders.features(source_type="Condition", **values)  # the items are problem-list entries


def patient(**overrides) -> FeatureSet:
    return features(**{**NONE_PRESENT, "atrial_fibrillation": True, "age_years": 60, "sex": "male", **overrides})


def evaluate(fs: FeatureSet):
    return only_finding(Cha2ds2Vasc(), fs)


def score(**overrides) -> int:
    return cha2ds2_vasc_score(**{**NONE_PRESENT, "age_years": 60, "sex": "male", **overrides}).score


# -- points (Lip 2010) ------------------------------------------------------------------------------------

@pytest.mark.parametrize("item,points", [("heart_failure", 1), ("hypertension", 1), ("diabetes", 1),
                                         ("stroke_tia_thromboembolism", 2), ("vascular_disease", 1)])
def test_each_condition_item(item, points):
    assert score(**{item: True}) == points


@pytest.mark.parametrize("age,points", [(64, 0), (65, 1), (74, 1), (75, 2), (90, 2)])
def test_age_boundaries(age, points):
    assert score(age_years=age) == points


def test_female_sex_adds_one():
    assert score(sex="female") == 1


def test_maximum_is_9():
    result = cha2ds2_vasc_score(age_years=80, sex="female", heart_failure=True, hypertension=True, diabetes=True,
                                stroke_tia_thromboembolism=True, vascular_disease=True)
    assert result.score == 9
    assert sum(t.contribution for t in result.terms) == 9


def test_worked_example_woman_70_with_hypertension_and_diabetes():
    """Age 65-74 (1) + female (1) + hypertension (1) + diabetes (1) = 4."""
    assert score(age_years=70, sex="female", hypertension=True, diabetes=True) == 4


# -- Friberg 2012 rates and ESC 2020 bands ----------------------------------------------------------------

FRIBERG_2012 = {0: (0.2, 0.3), 1: (0.6, 0.9), 2: (2.2, 2.9), 3: (3.2, 4.6), 4: (4.8, 6.7), 5: (7.2, 10.0),
                6: (9.7, 13.6), 7: (11.2, 15.7), 8: (10.8, 15.2), 9: (12.2, 17.4)}


@pytest.mark.parametrize("points", list(FRIBERG_2012))
def test_friberg_rates(points):
    assert annual_rates(points) == FRIBERG_2012[points]


@pytest.mark.parametrize("sex,points,category", [
    ("male", 0, "low"), ("male", 1, "moderate"), ("male", 2, "high"),
    ("female", 1, "low"), ("female", 2, "moderate"), ("female", 3, "high"),
])
def test_sex_specific_band_boundaries(sex, points, category):
    assert risk_category(points, sex) == category


# -- the engine ------------------------------------------------------------------------------------------

def test_registered():
    assert isinstance(calculators.get("cha2ds2-vasc"), Cha2ds2Vasc)


def test_computed_finding():
    fs = patient(age_years=78, hypertension=True)
    finding = evaluate(fs)
    assert finding.status is Status.COMPUTED
    assert finding.id == "cha2ds2-vasc:score"
    assert (finding.value, finding.unit, finding.category) == (3, "points", "high")
    assert finding.severity is Severity.WARNING
    assert [m.value for m in finding.measures] == [3.2, 4.6]
    assert sum(t.contribution for t in finding.explanation) == 3
    assert any(item is fs.get("atrial_fibrillation") for item in finding.inputs)
    assert any("Anticoagulant use not known" in a for a in finding.assumptions)


def test_high_risk_already_anticoagulated_is_information():
    finding = evaluate(patient(age_years=78, hypertension=True, anticoagulant=True))
    assert (finding.category, finding.severity) == ("high", Severity.INFO)


def test_antihypertensive_alone_does_not_count_as_hypertension():
    finding = evaluate(patient(bp_treated=True))
    assert finding.value == 0


@pytest.mark.parametrize("af", [False, None])
def test_without_atrial_fibrillation_not_applicable(af):
    fs = patient(atrial_fibrillation=af)
    finding = evaluate(fs)
    assert finding.status is Status.NOT_APPLICABLE
    assert finding.value is None and "atrial fibrillation" in finding.message


def test_missing_item_is_insufficient_with_the_partial_score():
    fs = features(atrial_fibrillation=True, age_years=76, sex="female", hypertension=True, diabetes=False,
                  stroke_tia_thromboembolism=False, vascular_disease=False)
    fs.mark_missing("heart_failure", "problem list not available")
    finding = evaluate(fs)
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == ["heart_failure"]
    assert finding.details.partial_score == 4
    assert "4 points" in finding.message


@pytest.mark.parametrize("name,value", [("sex", "unknown"), ("diabetes", "maybe"), ("age_years", "old")])
def test_unusable_values_are_insufficient_not_errors(name, value):
    finding = evaluate(patient(**{name: value}))
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == [name]


@pytest.mark.parametrize("age,status", [(17, Status.NOT_APPLICABLE), (18, Status.COMPUTED)])
def test_adults_only(age, status):
    assert evaluate(patient(age_years=age)).status is status


def test_empty_feature_set_through_runner_is_not_an_error():
    findings = run_engines([calculators.get("cha2ds2-vasc")], FeatureSet(as_of=AS_OF))
    assert [f.status for f in findings] == [Status.NOT_APPLICABLE]
