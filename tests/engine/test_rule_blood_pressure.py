"""BP drug therapy (2017 ACC/AHA): the averaged office BP of >= 2 occasions at 129/130 and 139/140 (and the diastolic
79/80, 89/90), stage 1 with clinical ASCVD, diabetes, CKD or a 10-year risk of 9.99 / 10 %, and who is in scope."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.finding import Severity, Status
from tests.engine.detector_fixtures import days_ago, ev
from tests.engine.treatment_fixtures import features, one, options, pce, rxnorm_codes

RULE = "bp-treatment-acc-aha-2017"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CHLORTHALIDONE, AMLODIPINE, LISINOPRIL, LOSARTAN = "197499", "197361", "314076", "979492"


def bp(sbp, dbp, ago):
    when = datetime.combine(days_ago(ago), datetime.min.time()) + timedelta(hours=9)
    source = f"Observation/bp-{ago}"
    return ev("sbp_mmhg", sbp, when, source=source), ev("dbp_mmhg", dbp, when, source=source)


def patient(*readings, codes=((ICD10CM, "I10"),), **facts):
    """A 55-year-old with hypertension on the problem list, untreated; readings as (sbp, dbp) on separate days."""
    pairs = [bp(s, d, 10 + 30 * i) for i, (s, d) in enumerate(readings)]
    base = dict(age_years=55, sex="male", hypertension=True, bp_treated=False, ascvd=False, diabetes=False,
                chronic_kidney_disease=False)
    base.update(facts)
    return features(history={"sbp_mmhg": [p[0] for p in pairs], "dbp_mmhg": [p[1] for p in pairs]},
                    codes=set(codes), **base)


def rule(fs, risk=None):
    return one(RULE, fs, *([pce(risk)] if risk is not None else []))


@pytest.mark.parametrize("sbp, dbp, started", [
    (139, 89, False), (140, 85, True), (135, 90, True), (139.9, 89.9, False),
])
def test_stage_2_starts_drug_treatment_at_low_risk(sbp, dbp, started):
    finding = rule(patient((sbp, dbp), (sbp, dbp)), 5.0)
    assert (finding.status is Status.COMPUTED) is started
    if started:
        assert finding.recommendation.strength == "Class I, LOE C-LD"
        assert finding.recommendation.guideline == "2017 ACC/AHA high blood pressure guideline"
        assert finding.severity is Severity.WARNING
        assert finding.condition.id == "hypertension"


@pytest.mark.parametrize("sbp, dbp, risk, started", [
    (129, 79, 15.0, False),  # elevated: no threshold met, whatever the risk
    (130, 79, 9.99, False),  # stage 1, risk < 10 %: nonpharmacological therapy
    (130, 79, 10.0, True),
    (125, 80, 10.0, True),
])
def test_stage_1_needs_a_10_year_risk_of_10_percent(sbp, dbp, risk, started):
    finding = rule(patient((sbp, dbp), (sbp, dbp)), risk)
    assert (finding.status is Status.COMPUTED) is started
    if started:
        assert finding.recommendation.strength == "Class I, LOE A (SBP) / C-EO (DBP)"
        assert "10-year ASCVD risk 10.0 %" in finding.message


@pytest.mark.parametrize("flag, strength", [("ascvd", "Class I, LOE A (SBP) / C-EO (DBP)"),
                                            ("diabetes", "Class I, LOE B-R (SBP) / C-EO (DBP)"),
                                            ("chronic_kidney_disease", "Class I, LOE B-R (SBP) / C-EO (DBP)")])
def test_stage_1_with_ascvd_diabetes_or_ckd(flag, strength):
    finding = rule(patient((132, 78), (134, 82), **{flag: True}), 4.0)
    assert finding.status is Status.COMPUTED and finding.recommendation.strength == strength


def test_the_average_of_the_occasions_decides_not_the_last_reading():
    # 150/95 then 126/78 and 128/80: the average of the three occasions is 135/84 - stage 1, low risk.
    finding = rule(patient((150, 95), (126, 78), (128, 80)), 5.0)
    assert finding.status is Status.NOT_APPLICABLE and "stage 1" in finding.message


def test_one_occasion_is_not_enough():
    finding = rule(patient((160, 100)), 5.0)
    assert finding.status is Status.NOT_APPLICABLE and ">= 2 occasions" in finding.message


def test_no_risk_estimate_at_stage_1_is_no_suggestion():
    assert rule(patient((132, 82), (134, 84))).status is Status.NOT_APPLICABLE


def test_undiagnosed_hypertension_is_the_diagnosis_cards():
    finding = rule(patient((160, 100), (158, 98), codes=(), hypertension=False), 5.0)
    assert finding.status is Status.NOT_APPLICABLE and "not on the problem list" in finding.message


def test_treated_hypertension_is_not_started_again():
    finding = rule(patient((160, 100), (158, 98), bp_treated=True), 5.0)
    assert finding.status is Status.NOT_APPLICABLE and "antihypertensive is active" in finding.message


def test_pregnancy_is_out_of_scope():
    assert rule(patient((160, 100), (158, 98), pregnant=True), 5.0).status is Status.NOT_APPLICABLE


@pytest.mark.parametrize("facts, preferred", [
    ({}, CHLORTHALIDONE),
    ({"race": "african-american"}, CHLORTHALIDONE),
    ({"egfr_mlmin173m2": 55.0}, LISINOPRIL),
    ({"uacr_mgg": 300.0}, LISINOPRIL),
])
def test_first_line_alternatives_with_the_preferred_agent(facts, preferred):
    finding = rule(patient((150, 95), (148, 94), **facts), 5.0)
    [suggestion] = finding.suggestions
    assert suggestion.is_choice
    assert rxnorm_codes(finding) == [CHLORTHALIDONE, AMLODIPINE, LISINOPRIL, LOSARTAN]
    proposal = suggestion.proposals[0]
    assert proposal.options[proposal.recommended].medication.code == preferred
    resource = options(finding)[0]
    assert resource["reasonCode"][0]["coding"][0]["code"] == "38341003"  # hypertensive disorder (SNOMED CT)
    assert resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 12.5


def test_far_above_goal_two_agents_are_named():
    finding = rule(patient((165, 100), (162, 98)), 5.0)
    assert "2 first-line agents of different classes" in finding.message


def test_the_bp_readings_are_the_evidence():
    finding = rule(patient((150, 95), (148, 94)), 5.0)
    assert {ev.source for ev in finding.inputs} == {"Observation/bp-10", "Observation/bp-40"}
    assert "average 149/94 mmHg (stage 2, 2 occasions)" in finding.value

