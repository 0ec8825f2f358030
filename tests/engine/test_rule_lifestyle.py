"""Tobacco cessation (USPSTF 2021, grade A) and weight management for BMI >= 30 (USPSTF 2018, grade B)."""
from __future__ import annotations

import pytest

from engine.finding import Severity, Status
from engine.proposals import OrderTest, StartMedication
from engine.registry import detectors
from tests.engine.detector_fixtures import days_ago, ev
from tests.engine.treatment_fixtures import features, medication, one, orders, pce, rxnorm_codes, with_medications

TOBACCO = "tobacco-cessation-uspstf-2021"
WEIGHT = "weight-loss-uspstf-2018"
VARENICLINE, NICOTINE_PATCH, BUPROPION = "636676", "198030", "993518"


# -- tobacco -------------------------------------------------------------------------------------------------------------
def smoker(**facts):
    return features(**{"age_years": 45, "sex": "male", "smoker_current": True, **facts})


def test_a_current_smoker_is_offered_pharmacotherapy_with_counselling():
    finding = one(TOBACCO, smoker(), pce(12.0))
    assert finding.status is Status.COMPUTED and finding.severity is Severity.WARNING
    assert finding.recommendation.strength == "USPSTF grade A"
    assert finding.recommendation.guideline == "USPSTF 2021 tobacco cessation recommendation"
    assert rxnorm_codes(finding) == [VARENICLINE, NICOTINE_PATCH, BUPROPION]
    choice, counselling_only = finding.suggestions
    assert choice.is_choice  # one drug at most, each with the counselling order
    assert [type(p) for p in choice.proposals] == [StartMedication, OrderTest]
    assert [type(p) for p in counselling_only.proposals] == [OrderTest]
    request = orders(finding)[0]  # valid FHIR R4 ServiceRequest
    assert request["code"]["coding"][0] == {"system": "http://snomed.info/sct", "code": "711028002",
                                            "display": "Counseling about tobacco use (procedure)"}
    assert (request["status"], request["intent"]) == ("draft", "proposal")
    assert "10-year ASCVD risk of 12.0 % (PCE)" in finding.message


def test_in_pregnancy_counselling_only():
    finding = one(TOBACCO, smoker(sex="female", pregnant=True))
    assert finding.recommendation.strength.startswith("USPSTF grade A (behavioural)")
    assert not rxnorm_codes(finding) and len(orders(finding)) == 1


@pytest.mark.parametrize("facts", [dict(smoker_current=False), dict(smoker_current=None)])
def test_no_card_for_a_non_smoker_or_unknown_status(facts):
    assert one(TOBACCO, features(age_years=45, **facts)).status is Status.NOT_APPLICABLE


def test_adults_only():
    assert one(TOBACCO, features(age_years=17, smoker_current=True)).status is Status.NOT_APPLICABLE


def test_cessation_pharmacotherapy_under_way():
    fs = with_medications(smoker(), medication("varenicline 1 MG Oral Tablet", ingredients=("varenicline",)))
    assert one(TOBACCO, fs).status is Status.NOT_APPLICABLE


# -- weight --------------------------------------------------------------------------------------------------------------
def obese(bmi, **facts):
    return features(history={"bmi_kgm2": [ev("bmi_kgm2", bmi, days_ago(20))]},
                    **{"age_years": 50, "sex": "female", **facts})


@pytest.mark.parametrize("bmi, referred", [(29.99, False), (30.0, True), (42.0, True)])
def test_bmi_30_is_referred(bmi, referred):
    finding = one(WEIGHT, obese(bmi))
    assert (finding.status is Status.COMPUTED) is referred
    if referred:
        assert finding.recommendation.strength == "USPSTF grade B"
        assert finding.condition.id == "obesity"  # on the obesity diagnosis card when that card is shown
        [request] = orders(finding)
        assert request["code"]["coding"][0]["code"] == "408289007"  # Refer to weight management program


def test_on_the_card_of_the_obesity_diagnosis():
    fs = obese(33.0, obesity=False)
    [gap] = evaluate_detector(fs)
    finding = one(WEIGHT, fs, gap)
    assert finding.follows_from == (gap.id,)


@pytest.mark.parametrize("facts", [dict(age_years=17), dict(pregnant=True)])
def test_adults_outside_pregnancy(facts):
    assert one(WEIGHT, obese(35.0, **facts)).status is Status.NOT_APPLICABLE


def evaluate_detector(fs):
    return detectors.get("obesity-gap").evaluate(fs)
