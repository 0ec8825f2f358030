"""diabetes-gap: ADA Standards of Care 2024 Table 2.1 / 2.5 boundaries, confirmation rules, suppression, bad data."""
from __future__ import annotations

import pytest

from engine.finding import Severity, Status
from tests.engine.detector_fixtures import ICD10CM, SNOMED, action_resources, days_ago, ev, fired, one, run, sources, with_results

DM = "diabetes-gap"


def a1c(value, ago=10, **kw):
    return ev("hba1c_pct", value, days_ago(ago), **kw)


def fpg(value, ago=10, **kw):
    return ev("glucose_fasting_mgdl", value, days_ago(ago), **kw)


def ogtt(value, ago=10, **kw):
    return ev("glucose_ogtt_2h_mgdl", value, days_ago(ago), **kw)


def rpg(value, ago=10, **kw):
    return ev("glucose_random_mgdl", value, days_ago(ago), **kw)


def record(*results, **facts):
    return with_results(*results, **{"age_years": 52, "sex": "female", **facts})


# -- thresholds, both sides --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, below, at", [(a1c, 6.4, 6.5), (fpg, 125, 126), (ogtt, 199, 200)])
def test_diabetes_threshold_boundaries_on_two_days(make, below, at):
    under = fired(DM, record(make(below, 120), make(below, 10)))
    assert under is not None and under.id == "diabetes-gap:prediabetes"  # just below: prediabetes range
    met = fired(DM, record(make(at, 120), make(at, 10)))
    assert met.id == "diabetes-gap:diabetes"
    assert met.category == "ADA criteria met"
    assert met.severity is Severity.WARNING
    assert len(met.inputs) == 2


@pytest.mark.parametrize("make, below, low_end", [(a1c, 5.6, 5.7), (fpg, 99, 100), (ogtt, 139, 140)])
def test_prediabetes_lower_boundaries(make, below, low_end):
    assert fired(DM, record(make(below))) is None
    found = fired(DM, record(make(low_end)))
    assert found.id == "diabetes-gap:prediabetes"
    assert found.category == "ADA prediabetes range"
    resource = action_resources(found, "Condition")[0]
    assert resource["code"]["coding"][1] == {"system": ICD10CM, "code": "R73.03", "display": "Prediabetes"}


# -- confirmation ------------------------------------------------------------------------------------------------------
def test_two_different_tests_from_the_same_sample_confirm():
    a, g = a1c(6.6, 20, source="Observation/a1"), fpg(130, 20, source="Observation/g1")
    found = fired(DM, record(a, g))
    assert found.category == "ADA criteria met"
    assert sources(found) == {"Observation/a1", "Observation/g1"}
    explanation = {t.label: t.value for t in found.explanation}
    assert "Observation/a1" in explanation["HbA1c >= 6.5 %"]
    assert "Observation/g1" in explanation["Fasting plasma glucose >= 126 mg/dL"]
    assert "same sample" in explanation["Confirmation (ADA: two abnormal results)"]
    condition = action_resources(found, "Condition")[0]
    assert condition["verificationStatus"]["coding"][0]["code"] == "provisional"
    assert condition["code"]["coding"][0] == {"system": SNOMED, "code": "73211009", "display": "Diabetes mellitus"}
    assert {d["reference"] for d in condition["evidence"][0]["detail"]} == {"Observation/a1", "Observation/g1"}
    assert not action_resources(found, "ServiceRequest")  # confirmed: nothing to order


def test_two_different_tests_on_different_days_confirm():
    assert fired(DM, record(ogtt(210, 200), a1c(6.7, 10))).category == "ADA criteria met"


def test_one_abnormal_result_needs_confirmation_and_proposes_the_same_test():
    found = fired(DM, record(fpg(126, 10, source="Observation/g1")))
    assert found.id == "diabetes-gap:diabetes"
    assert found.category == "needs confirmation"
    assert not action_resources(found, "Condition")
    order = action_resources(found, "ServiceRequest")[0]
    assert (order["status"], order["intent"]) == ("draft", "proposal")
    assert order["code"]["coding"][0]["code"] == "1558-6"  # fasting glucose again
    assert order["reasonReference"] == [{"reference": "Observation/g1"}]


def test_same_test_twice_on_one_day_is_one_result():
    found = fired(DM, record(a1c(6.8, 10, source="Observation/x"), a1c(6.8, 10, source="Observation/y")))
    assert found.category == "needs confirmation"
    assert action_resources(found, "ServiceRequest")[0]["code"]["coding"][0]["code"] == "4548-4"


def test_later_normal_repeat_of_the_same_test_does_not_confirm():
    found = fired(DM, record(a1c(6.7, 200), a1c(6.1, 10)))
    assert found.id == "diabetes-gap:prediabetes"  # the newest HbA1c 6.1 is in the prediabetes range
    assert "6.1" in found.value


def test_discordant_different_test_still_asks_for_confirmation_and_shows_the_discordant_result():
    found = fired(DM, record(a1c(6.7, 30), fpg(105, 10, source="Observation/g-normal")))
    assert found.category == "needs confirmation"
    context = {t.label: t.value for t in found.explanation}
    assert "Observation/g-normal" in context["Other results below the diabetes threshold (discordant)"]


def test_random_glucose_alone_is_never_diagnostic():
    found = fired(DM, record(rpg(250, 5, source="Observation/r1")))
    assert found.category == "needs confirmation"
    assert "classic symptoms" in found.message
    assert action_resources(found, "ServiceRequest")[0]["code"]["coding"][0]["code"] == "4548-4"
    # ... and does not count as the second abnormal result either
    assert fired(DM, record(rpg(250, 5), a1c(6.6, 10))).category == "needs confirmation"


def test_random_glucose_199_is_no_signal():
    assert fired(DM, record(rpg(199))) is None


# -- problem list ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("facts, codes", [
    ({"diabetes": True}, set()),
    ({}, {(ICD10CM, "E11.65")}),
    ({}, {(SNOMED, "44054006")}),
    ({}, {(SNOMED, "127013003")}),  # diabetic renal disease (Synthea)
])
def test_no_finding_when_diabetes_is_on_the_problem_list(facts, codes):
    assert run(DM, record(a1c(7.5, 100), a1c(7.9, 10), codes=codes, **facts)) == []


def test_prediabetes_on_the_list_suppresses_prediabetes_but_not_diabetes():
    codes = {(SNOMED, "15777000")}
    assert run(DM, record(a1c(6.0), codes=codes)) == []
    assert run(DM, record(a1c(6.0), prediabetes=True)) == []
    assert fired(DM, record(a1c(6.9, 100), a1c(7.0, 10), codes=codes)).id == "diabetes-gap:diabetes"


def test_diabetes_flag_false_does_not_suppress():
    assert fired(DM, record(a1c(6.9, 100), a1c(7.0, 10), diabetes=False)).category == "ADA criteria met"


# -- bad data ----------------------------------------------------------------------------------------------------------
def test_mislabelled_and_implausible_units_are_not_used_and_are_reported():
    found = fired(DM, record(
        a1c(6.6, 10),
        a1c(53, 100, source="Observation/ifcc-as-percent"),  # IFCC mmol/mol value labelled "%"
        fpg(7.4, 100, source="Observation/mmol-as-mgdl"),  # mmol/L value labelled mg/dL
        fpg(7.4, 50, source="Observation/mmol", unit="mmol/L"),  # unit the adapter did not convert
    ))
    assert found.category == "needs confirmation"  # only the 6.6 % counts
    problems = {p.source for p in found.input_problems}
    assert {"Observation/ifcc-as-percent", "Observation/mmol-as-mgdl", "Observation/mmol"} <= problems


def test_stale_results_do_not_confirm():
    found = fired(DM, record(a1c(7.2, 800, source="Observation/old"), a1c(6.9, 10)))
    assert found.category == "needs confirmation"
    assert any(p.source == "Observation/old" and "older than" in p.reason for p in found.input_problems)


def test_lookback_is_configurable():
    fs = record(a1c(7.2, 800), a1c(6.9, 10), options={"diabetes_lookback_days": 1000})
    assert fired(DM, fs).category == "ADA criteria met"


def test_pregnancy_makes_the_criteria_not_applicable():
    found = one(DM, record(a1c(6.9, 40), fpg(130, 10), pregnant=True))
    assert found.status is Status.NOT_APPLICABLE
    assert "pregnancy" in found.message
    assert run(DM, record(a1c(5.9), pregnant=True)) == []


def test_summary_value_lists_results():
    found = fired(DM, record(a1c(7.1, 30), fpg(131, 10)))
    assert found.value == "FPG 131 mg/dL, HbA1c 7.1 %"
    assert found.condition.id == "diabetes-mellitus"
