"""ADA type 2 diabetes risk test (Bang 2009): points and boundaries, items the record lacks, exclusions."""
from __future__ import annotations


import pytest

import engine.calculators  # noqa: F401 - registers the calculators
from engine.calculators.ada_risk import AdaDiabetesRisk, ada_diabetes_risk_score, age_points, bmi_points, risk_category
from engine.finding import Severity, Status
from engine.inputs import FeatureSet
from engine.registry import calculators
from engine.runner import run_engines
from tests.engine.builders import AS_OF, features, only_finding
from tests.proposal_resources import resource as proposal_resource

ALL_KNOWN = dict(hypertension=False, family_history_diabetes=False, physically_active=True, diabetes=False)


def patient(**overrides) -> FeatureSet:
    return features(**{**ALL_KNOWN, "age_years": 45, "sex": "male", "bmi_kgm2": 24, **overrides})


def evaluate(fs: FeatureSet):
    return only_finding(AdaDiabetesRisk(), fs)


# -- points (Bang 2009; ADA risk test) ----------------------------------------------------------------------

@pytest.mark.parametrize("age,expected", [(39, 0), (40, 1), (49, 1), (50, 2), (59, 2), (60, 3), (85, 3)])
def test_age_boundaries(age, expected):
    assert age_points(age) == expected


@pytest.mark.parametrize("bmi,expected", [(24.9, 0), (25, 1), (29.9, 1), (30, 2), (39.9, 2), (40, 3)])
def test_bmi_boundaries(bmi, expected):
    assert bmi_points(bmi) == expected


def test_worked_example_man_with_every_risk_factor():
    """Man 45 (1 + 1), BMI 28 (1), hypertension (1), family history (1), inactive (1) = 6."""
    result = ada_diabetes_risk_score(age_years=45, sex="male", bmi_kgm2=28, hypertension=True,
                                     family_history_diabetes=True, physically_active=False)
    assert (result.score, result.unknown_items) == (6, ())
    assert risk_category(result.score, result.maximum_score) == "increased"


def test_woman_with_every_item_scores_10():
    result = ada_diabetes_risk_score(age_years=65, sex="female", bmi_kgm2=42, hypertension=True,
                                     family_history_diabetes=True, gestational_diabetes_history=True,
                                     physically_active=False)
    assert result.score == 10


def test_gestational_diabetes_is_only_asked_of_women():
    man = ada_diabetes_risk_score(age_years=30, sex="male", bmi_kgm2=22, hypertension=False,
                                  family_history_diabetes=False, physically_active=True)
    woman = ada_diabetes_risk_score(age_years=30, sex="female", bmi_kgm2=22, hypertension=False,
                                    family_history_diabetes=False, physically_active=True)
    assert "gestational_diabetes_history" not in man.unknown_items
    assert woman.unknown_items == ("gestational_diabetes_history",)


@pytest.mark.parametrize("score,maximum,category", [(4, 4, "not increased"), (5, 5, "increased"),
                                                    (4, 5, "indeterminate"), (3, 4, "not increased")])
def test_category_boundaries(score, maximum, category):
    assert risk_category(score, maximum) == category


# -- the engine ------------------------------------------------------------------------------------------

def test_registered():
    assert isinstance(calculators.get("ada-diabetes-risk"), AdaDiabetesRisk)


def test_computed_finding_with_every_item_known():
    fs = patient(bmi_kgm2=31, hypertension=True)
    finding = evaluate(fs)
    assert finding.status is Status.COMPUTED
    assert finding.id == "ada-diabetes-risk:score"
    # age 45 (1) + male (1) + BMI 31 (2) + hypertension (1) = 5
    assert (finding.value, finding.unit, finding.category, finding.severity) == (5, "points", "increased",
                                                                                 Severity.WARNING)
    assert finding.details.unknown_items == ()
    resource = proposal_resource(finding)
    assert resource["code"]["coding"][0]["code"] == "4548-4" and resource["subject"] == {"reference": "Patient/p1"}


def test_no_hba1c_order_when_one_is_on_record():
    finding = evaluate(patient(bmi_kgm2=31, hypertension=True, hba1c_pct=5.6))
    assert finding.category == "increased" and finding.suggestions == ()


def test_unrecorded_items_are_listed_and_can_make_it_indeterminate():
    fs = features(age_years=52, sex="male", bmi_kgm2=26, hypertension=False, diabetes=False)
    fs.mark_missing("family_history_diabetes", "not recorded")
    finding = evaluate(fs)
    # 2 (age) + 1 (male) + 1 (BMI) = 4; family history and inactivity could add 2
    assert (finding.value, finding.category, finding.severity) == (4, "indeterminate", Severity.INFO)
    assert finding.details.maximum_score == 6
    assert {m.name for m in finding.missing} == {"family_history_diabetes", "physically_active"}
    text = " ".join(finding.assumptions)
    assert "parent or sibling with diabetes" in text and "not physically active" in text
    assert finding.suggestions == ()


def test_unknown_items_that_cannot_reach_5_leave_it_not_increased():
    finding = evaluate(features(age_years=30, sex="female", bmi_kgm2=22, hypertension=False, diabetes=False))
    assert finding.value == 0 and finding.details.maximum_score == 3
    assert finding.category == "not increased"


def test_antihypertensive_treatment_counts_as_hypertension():
    finding = evaluate(patient(hypertension=False, bp_treated=True))
    assert finding.value == 3
    assert any("antihypertensive treatment" in a for a in finding.assumptions)


def test_diagnosed_diabetes_is_not_applicable():
    finding = evaluate(patient(diabetes=True))
    assert finding.status is Status.NOT_APPLICABLE and finding.value is None


def test_pregnancy_is_not_applicable():
    assert evaluate(patient(pregnant=True)).status is Status.NOT_APPLICABLE


@pytest.mark.parametrize("age,status", [(19, Status.NOT_APPLICABLE), (20, Status.COMPUTED)])
def test_adults_from_20(age, status):
    assert evaluate(patient(age_years=age)).status is status


def test_missing_bmi_is_insufficient():
    fs = patient(bmi_kgm2=None)
    fs.mark_missing("bmi_kgm2", "no weight in the last 2 years")
    finding = evaluate(fs)
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == ["bmi_kgm2"]


@pytest.mark.parametrize("name,value", [("bmi_kgm2", "obese"), ("sex", "other"), ("age_years", None)])
def test_unusable_values_are_insufficient_not_errors(name, value):
    finding = evaluate(patient(**{name: value}))
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == [name]


def test_empty_feature_set_through_runner_is_not_an_error():
    findings = run_engines([calculators.get("ada-diabetes-risk")], FeatureSet(as_of=AS_OF))
    assert [f.status for f in findings] == [Status.INSUFFICIENT_DATA]
