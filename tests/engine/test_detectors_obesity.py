"""obesity-gap: WHO adult BMI classes, BMI from height and weight, adults only, suppression, bad data."""
from __future__ import annotations

import pytest

from engine.finding import Status
from tests.engine.detector_fixtures import ICD10CM, SNOMED, action_resources, days_ago, ev, features, fired, one, run, sources

OB = "obesity-gap"


def record(bmi=None, *, ago=20, weight=None, height=None, **facts):
    history = {}
    if bmi is not None:
        history["bmi_kgm2"] = [ev("bmi_kgm2", bmi, days_ago(ago), source="Observation/bmi")]
    if weight is not None:
        history["weight_kg"] = [ev("weight_kg", weight, days_ago(ago), source="Observation/weight")]
    if height is not None:
        history["height_cm"] = [ev("height_cm", height, days_ago(400), source="Observation/height")]
    return features(history=history, **{"age_years": 45, "sex": "female", **facts})


@pytest.mark.parametrize("bmi, klass, icd", [(29.9, None, None), (30, "class 1", "E66.811"), (34.9, "class 1", "E66.811"),
                                             (35, "class 2", "E66.812"), (39.9, "class 2", "E66.812"),
                                             (40, "class 3", "E66.813"), (55, "class 3", "E66.813")])
def test_who_classes_both_sides(bmi, klass, icd):
    found = fired(OB, record(bmi))
    if klass is None:
        assert found is None
        return
    assert found.category == f"obesity {klass}"
    condition = action_resources(found, "Condition")[0]
    assert condition["code"]["coding"][0]["code"] == "414916001"
    assert condition["code"]["coding"][1]["code"] == icd
    assert condition["evidence"][0]["detail"] == [{"reference": "Observation/bmi"}]
    assert sources(found) == {"Observation/bmi"}


def test_bmi_from_height_and_weight():
    found = fired(OB, record(weight=100, height=180))  # 100 / 1.8^2 = 30.86
    assert found.category == "obesity class 1"
    assert found.value == "BMI 30.9 kg/m2"
    assert {"Observation/weight", "Observation/height"} <= sources(found)
    how = {t.label: t.value for t in found.explanation}["BMI computed"]
    assert "100.0 kg / (180 cm / 100)^2 = 30.9" in how  # weight at its display precision


def test_computed_bmi_just_below_30_is_not_obese():
    assert fired(OB, record(weight=97.1, height=180)) is None  # 29.97


def test_recorded_bmi_wins_over_height_and_weight():
    assert fired(OB, record(29.0, weight=100, height=180)) is None


@pytest.mark.parametrize("age, fires", [(19, False), (20, True)])
def test_adults_only(age, fires):
    assert (fired(OB, record(31, age_years=age)) is not None) is fires


def test_unknown_age_and_pregnancy():
    assert one(OB, record(31, age_years=None)).status is Status.INSUFFICIENT_DATA
    assert one(OB, record(31, pregnant=True)).status is Status.NOT_APPLICABLE


@pytest.mark.parametrize("codes, suppressed", [({(SNOMED, "162864005")}, True), ({(ICD10CM, "E66.9")}, True),
                                              ({(ICD10CM, "Z68.35")}, True), ({(ICD10CM, "E66.3")}, False)])
def test_problem_list(codes, suppressed):
    assert (run(OB, record(36, codes=codes)) == []) is suppressed
    assert run(OB, record(36, obesity=True)) == []


def test_stale_bmi_is_not_used():
    assert fired(OB, record(36, ago=800)) is None


def test_height_in_metres_labelled_cm_is_implausible():
    fs = record(weight=100, height=1.8)
    assert fired(OB, fs) is None


def test_weight_in_pounds_is_not_read_as_kg():
    fs = features(age_years=45, history={
        "weight_kg": [ev("weight_kg", 220, days_ago(10), unit="[lb_av]", source="Observation/lb")],
        "height_cm": [ev("height_cm", 180, days_ago(10))]})
    assert fired(OB, fs) is None
