"""fh-possible: LDL-C >= 190 mg/dL (2018 AHA/ACC) with DLCN LDL points, adults, suppression, bad data."""
from __future__ import annotations

import pytest

from engine.detectors.familial_hypercholesterolemia import dlcn_category, dlcn_ldl_points
from engine.finding import Status
from tests.engine.detector_fixtures import ICD10CM, action_resources, days_ago, ev, features, fired, one, run, sources

FH = "fh-possible"


def record(*ldls, **facts):
    history = {"ldl_mgdl": [ev("ldl_mgdl", v, days_ago(a), source=f"Observation/ldl-{a}") for v, a in ldls]}
    return features(history=history, **{"age_years": 38, "sex": "male", **facts})


@pytest.mark.parametrize("ldl, points", [(154, 0), (155, 1), (189, 1), (190, 3), (249, 3), (250, 5), (329, 5),
                                         (330, 8)])
def test_dlcn_ldl_points(ldl, points):
    assert dlcn_ldl_points(ldl) == points


@pytest.mark.parametrize("points, category", [(2, "unlikely"), (3, "possible"), (5, "possible"), (6, "probable"),
                                              (8, "probable"), (9, "definite")])
def test_dlcn_categories(points, category):
    assert dlcn_category(points) == category


def test_ldl_189_versus_190():
    assert fired(FH, record((189, 10))) is None
    found = fired(FH, record((190, 10)))
    assert found.category == "DLCN 3 points, possible"
    assert found.value == "LDL-C 190 mg/dL"
    condition = action_resources(found, "Condition")[0]
    assert condition["code"]["coding"][1] == {"system": ICD10CM, "code": "E78.01",
                                              "display": "Familial hypercholesterolemia"}


def test_highest_ldl_in_the_window_is_scored_and_all_severe_results_cited():
    found = fired(FH, record((340, 900), (205, 400), (150, 10)))
    assert found.category == "DLCN 8 points, probable"
    assert sources(found) == {"Observation/ldl-900", "Observation/ldl-400"}


def test_results_older_than_five_years_are_not_used():
    assert fired(FH, record((260, 1900), (150, 10))) is None


@pytest.mark.parametrize("age, fires", [(19, False), (20, True), (80, True)])
def test_adult_threshold(age, fires):
    assert (fired(FH, record((200, 10), age_years=age)) is not None) is fires


def test_statin_is_named_and_does_not_suppress():
    found = fired(FH, record((210, 10), statin=True))
    assert any("lower bound" in a for a in found.assumptions)


def test_generic_hypercholesterolaemia_on_the_list_does_not_suppress_but_fh_does():
    assert fired(FH, record((210, 10), codes={(ICD10CM, "E78.00")})) is not None
    assert run(FH, record((210, 10), codes={(ICD10CM, "E78.01")})) == []
    assert run(FH, record((210, 10), familial_hypercholesterolemia=True)) == []


def test_pregnancy_and_unknown_age():
    assert one(FH, record((210, 10), sex="female", pregnant=True)).status is Status.NOT_APPLICABLE
    assert one(FH, record((210, 10), age_years=None)).status is Status.INSUFFICIENT_DATA


def test_mmol_per_litre_value_labelled_mg_dl_is_implausible():
    fs = features(age_years=40, history={"ldl_mgdl": [ev("ldl_mgdl", 5.2, days_ago(10), source="Observation/mmol")]})
    assert run(FH, fs) == []
    fs = features(age_years=40, history={"ldl_mgdl": [ev("ldl_mgdl", 5.2, days_ago(10), unit="mmol/L")]})
    assert run(FH, fs) == []
