"""anemia-gap: WHO haemoglobin thresholds by age, sex and pregnancy, severity bands, suppression, bad data."""
from __future__ import annotations

import pytest

from engine.finding import Status
from tests.engine.detector_fixtures import ICD10CM, action_resources, days_ago, ev, features, fired, one, run, sources

AN = "anemia-gap"


def record(hb, ago=10, **facts):
    history = {"hemoglobin_gdl": [ev("hemoglobin_gdl", hb, days_ago(ago), source="Observation/hb")]}
    return features(history=history, **{"age_years": 40, **facts})


@pytest.mark.parametrize("sex, pregnant, hb, band", [
    ("female", False, 12.0, None), ("female", False, 11.9, "mild"), ("female", False, 11.0, "mild"),
    ("female", False, 10.9, "moderate"), ("female", False, 8.0, "moderate"), ("female", False, 7.9, "severe"),
    ("male", None, 13.0, None), ("male", None, 12.9, "mild"), ("male", None, 11.0, "mild"),
    ("male", None, 10.9, "moderate"), ("male", None, 7.9, "severe"),
    ("female", True, 11.0, None), ("female", True, 10.9, "mild"), ("female", True, 10.0, "mild"),
    ("female", True, 9.9, "moderate"), ("female", True, 7.0, "moderate"), ("female", True, 6.9, "severe"),
])
def test_who_thresholds_and_bands(sex, pregnant, hb, band):
    found = fired(AN, record(hb, sex=sex, pregnant=pregnant))
    if band is None:
        assert found is None
        return
    assert found.category.startswith(band)
    assert sources(found) == {"Observation/hb"}
    condition = action_resources(found, "Condition")[0]
    assert condition["code"]["coding"][1] == {"system": ICD10CM, "code": "D64.9", "display": "Anemia, unspecified"}
    assert action_resources(found, "ServiceRequest")[0]["code"]["coding"][0]["code"] == "58410-2"


def test_same_value_differs_by_sex():
    assert fired(AN, record(12.5, sex="male")) is not None
    assert fired(AN, record(12.5, sex="female", pregnant=False)) is None


def test_woman_without_recorded_pregnancy_gets_the_non_pregnant_threshold_and_an_assumption():
    found = fired(AN, record(11.5, sex="female"))
    assert "non-pregnant" in found.category
    assert any("No pregnancy is recorded" in a for a in found.assumptions)


@pytest.mark.parametrize("age, hb, fires", [(10, 11.4, True), (10, 11.5, False), (13, 11.9, True), (13, 12.0, False),
                                            (3, 10.9, True), (3, 11.0, False)])
def test_children_groups(age, hb, fires):
    assert (fired(AN, record(hb, age_years=age, sex="male")) is not None) is fires


def test_unknown_sex_in_an_adult_asks_for_it_unless_hb_is_normal_for_everyone():
    found = one(AN, record(12.5))
    assert found.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in found.missing] == ["sex"]
    assert run(AN, record(13.5)) == []


def test_newest_haemoglobin_decides():
    fs = features(age_years=40, sex="male", history={"hemoglobin_gdl": [
        ev("hemoglobin_gdl", 9.0, days_ago(200)), ev("hemoglobin_gdl", 14.0, days_ago(10))]})
    assert fired(AN, fs) is None


def test_stale_haemoglobin_is_not_used():
    assert fired(AN, record(9.0, ago=400, sex="male")) is None


def test_g_per_litre_values_are_not_read_as_g_per_dl():
    assert fired(AN, record(95, sex="male")) is None  # 95 g/L labelled g/dL: implausible
    fs = features(age_years=40, sex="male", history={"hemoglobin_gdl": [
        ev("hemoglobin_gdl", 9.5, days_ago(10), unit="g/L", source="Observation/gl")]})
    assert fired(AN, fs) is None


@pytest.mark.parametrize("facts, codes", [({"anemia": True}, set()), ({}, {(ICD10CM, "D50.9")}),
                                          ({}, {("http://snomed.info/sct", "271737000")})])
def test_no_finding_when_anaemia_is_on_the_problem_list(facts, codes):
    assert run(AN, record(9.0, sex="male", codes=codes, **facts)) == []
