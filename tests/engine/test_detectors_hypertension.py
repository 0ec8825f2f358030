"""hypertension-gap: ACC/AHA 2017 categories on the average of >= 2 occasions, crisis, suppression, bad data."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.finding import Severity, Status
from tests.engine.detector_fixtures import ICD10CM, action_resources, days_ago, ev, features, fired, one, run, sources

HTN = "hypertension-gap"


def bp(sbp, dbp, ago=10, *, source=None, hour=9):
    """One BP panel: SBP and DBP Evidence sharing the Observation (as the adapter reports a 55284-4 panel)."""
    when = datetime.combine(days_ago(ago), datetime.min.time()) + timedelta(hours=hour)
    src = source or f"Observation/bp-{ago}-{hour}"
    return [ev("sbp_mmhg", sbp, when, source=src), ev("dbp_mmhg", dbp, when, source=src)]


def record(*pairs, **facts):
    history = {"sbp_mmhg": [], "dbp_mmhg": []}
    for s, d in pairs:
        history["sbp_mmhg"].append(s)
        history["dbp_mmhg"].append(d)
    return features(history=history, **{"age_years": 48, "sex": "male", **facts})


# -- categories on two occasions, both sides of every boundary ----------------------------------------------------------
@pytest.mark.parametrize("sbp, dbp, expected", [
    (129, 79, None),  # elevated: no finding
    (130, 79, "stage 1"),
    (129, 80, "stage 1"),
    (130, 80, "stage 1"),
    (139, 89, "stage 1"),
    (140, 89, "stage 2"),
    (139, 90, "stage 2"),
    (140, 90, "stage 2"),
    (180, 120, "stage 2"),  # not a crisis: the crisis is strictly above 180/120
])
def test_stage_boundaries_on_two_occasions(sbp, dbp, expected):
    found = fired(HTN, record(bp(sbp, dbp, 40), bp(sbp, dbp, 5)))
    if expected is None:
        assert found is None
        return
    assert found.category == expected
    assert found.severity is Severity.WARNING
    assert action_resources(found, "Condition")  # confirmed: provisional problem-list entry offered
    condition = action_resources(found, "Condition")[0]
    assert condition["code"]["coding"][1] == {"system": ICD10CM, "code": "I10",
                                              "display": "Essential (primary) hypertension"}


@pytest.mark.parametrize("sbp, dbp", [(181, 100), (150, 121), (181, 121)])
def test_crisis_is_critical_even_once(sbp, dbp):
    found = fired(HTN, record(bp(sbp, dbp, 2, source="Observation/crisis")))
    assert found.severity is Severity.CRITICAL
    assert found.category == "hypertensive crisis"
    assert "Observation/crisis" in sources(found)
    assert f"{sbp}/{dbp}" in found.value
    assert "target-organ damage" in found.message


def test_180_over_120_once_is_not_a_crisis_but_needs_confirmation():
    found = fired(HTN, record(bp(180, 120, 2)))
    # One occasion is a recheck, not a diagnosis (ACC/AHA 2017 section 4.1): info, not warning.
    assert found.severity is Severity.INFO
    assert found.title == "Blood pressure to recheck"
    assert found.category == "stage 2 range, needs a second occasion"
    assert found.value.startswith("BP 180/120 mmHg on ") and found.value.endswith(", one occasion")


def test_old_crisis_reading_is_averaged_not_flagged_as_crisis():
    found = fired(HTN, record(bp(190, 125, 60), bp(150, 95, 5)))
    assert found.severity is Severity.WARNING
    assert found.category == "stage 2"
    fs = record(bp(190, 125, 60), bp(150, 95, 5), options={"bp_crisis_days": 90})
    assert fired(HTN, fs).severity is Severity.CRITICAL


# -- occasions and averaging -------------------------------------------------------------------------------------------
def test_average_of_occasions_decides():
    # 125/75 and 135/85 average exactly 130/80: stage 1
    assert fired(HTN, record(bp(125, 75, 30), bp(135, 85, 5))).category == "stage 1"
    # 124/75 and 135/84 average 129.5/79.5: elevated, unrounded, no finding
    assert fired(HTN, record(bp(124, 75, 30), bp(135, 84, 5))) is None


def test_readings_on_one_day_are_one_occasion():
    found = fired(HTN, record(bp(150, 95, 5, hour=9), bp(146, 92, 5, hour=10)))
    assert found.category == "stage 2 range, needs a second occasion"
    assert found.severity is Severity.INFO
    assert not action_resources(found, "Condition")
    order = action_resources(found, "ServiceRequest")[0]
    assert order["code"]["coding"][0]["code"] == "164783007"  # ambulatory BP recording
    assert (order["status"], order["intent"]) == ("draft", "proposal")


def test_daily_means_are_averaged_so_a_busy_day_does_not_dominate():
    # day A: 170/100 and 170/100 (mean 170/100); day B: 110/70 -> average 140/85 = stage 2.
    # Averaging all three readings instead would give 150/90.
    found = fired(HTN, record(bp(170, 100, 20, hour=9), bp(170, 100, 20, hour=11), bp(110, 70, 5)))
    assert "140/85" in found.value


def test_only_the_most_recent_three_occasions_count():
    old_high = [bp(160, 100, d) for d in (300, 250, 200)]
    recent_normal = [bp(118, 76, d) for d in (60, 30, 5)]
    assert fired(HTN, record(*old_high, *recent_normal)) is None
    fs = record(*old_high, *recent_normal, options={"bp_occasions": 6})
    assert fired(HTN, fs).category == "stage 1"  # 139/88 over six occasions


def test_white_coat_screen_offered_below_160_over_100_only():
    moderate = fired(HTN, record(bp(150, 92, 40), bp(152, 94, 5)))
    assert action_resources(moderate, "ServiceRequest")
    severe = fired(HTN, record(bp(165, 102, 40), bp(170, 104, 5)))
    assert not action_resources(severe, "ServiceRequest")


def test_inputs_are_the_readings_of_the_occasions_used():
    found = fired(HTN, record(bp(150, 95, 40, source="Observation/a"), bp(148, 92, 5, source="Observation/b")))
    assert sources(found) == {"Observation/a", "Observation/b"}
    assert len(found.inputs) == 4  # SBP and DBP of both panels
    labels = [t.label for t in found.explanation]
    assert any(label.startswith("ACC/AHA stage 2") for label in labels)


# -- scope and problem list --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("facts, codes", [({"hypertension": True}, set()), ({}, {(ICD10CM, "I11.9")}),
                                          ({}, {("http://snomed.info/sct", "59621000")})])
def test_no_finding_when_hypertension_is_on_the_problem_list(facts, codes):
    assert run(HTN, record(bp(150, 95, 2), bp(150, 95, 30), codes=codes, **facts)) == []


@pytest.mark.parametrize("facts, codes", [({"hypertension": True}, set()), ({}, {(ICD10CM, "I11.9")})])
def test_crisis_is_critical_even_when_hypertension_is_listed_but_offers_no_problem_entry(facts, codes):
    found = one(HTN, record(bp(185, 125, 2), bp(150, 95, 30), codes=codes, **facts))
    assert found.severity is Severity.CRITICAL
    assert found.title == "Hypertensive crisis reading"
    assert found.suggestions == ()
    assert "problem list" in found.message


def test_children_and_pregnancy():
    assert run(HTN, record(bp(140, 90, 30), bp(140, 90, 5), age_years=16)) == []
    pregnant = one(HTN, record(bp(140, 90, 30), bp(140, 90, 5), sex="female", pregnant=True))
    assert pregnant.status is Status.NOT_APPLICABLE
    crisis = fired(HTN, record(bp(185, 115, 2), sex="female", pregnant=True))
    assert crisis.severity is Severity.CRITICAL
    assert any("pregnancy" in a.lower() for a in crisis.assumptions)


def test_unknown_age_asks_for_it():
    found = one(HTN, record(bp(140, 90, 30), bp(140, 90, 5), age_years=None))
    assert found.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in found.missing] == ["age_years"]


def test_treated_patient_gets_an_assumption():
    found = fired(HTN, record(bp(140, 90, 30), bp(140, 90, 5), bp_treated=True))
    assert any("antihypertensive" in a for a in found.assumptions)


# -- bad data ----------------------------------------------------------------------------------------------------------
def test_kpa_and_stale_readings_are_not_used():
    kpa = [ev("sbp_mmhg", 20.0, days_ago(30), source="Observation/kpa", unit="kPa"),
           ev("dbp_mmhg", 12.5, days_ago(30), source="Observation/kpa", unit="kPa")]
    stale = bp(150, 95, 500, source="Observation/stale")
    found = fired(HTN, record(kpa, stale, bp(150, 95, 5)))
    assert found.category == "stage 2 range, needs a second occasion"  # one usable occasion left
    reasons = {p.source: p.reason for p in found.input_problems}
    assert "mislabelled unit" in reasons["Observation/kpa"]
    assert "older than" in reasons["Observation/stale"]


def test_implausible_diastolic_is_dropped():
    found = fired(HTN, record(bp(120, 800, 30, source="Observation/typo"), bp(120, 76, 5)))
    assert found is None
