"""HAS-BLED (Pisters 2010): item thresholds, items assumed absent by name, bands and rates, AF gating."""
from __future__ import annotations


import pytest

import engine.calculators  # noqa: F401 - registers the calculators
from engine.calculators.has_bled import HasBled, bleeds_per_100_patient_years, has_bled_score, risk_category
from engine.finding import Severity, Status
from engine.inputs import FeatureSet
from engine.registry import calculators
from engine.runner import run_engines
from tests.engine.builders import AS_OF, features, only_finding

ALL_KNOWN_NEGATIVE = dict(sbp_mmhg=130, creatinine_mgdl=1.0, dialysis_or_transplant=False, liver_disease=False,
                          bilirubin_total_mgdl=0.6, ast_ul=25, alt_ul=25, stroke=False, bleeding_history=False,
                          labile_inr=False, antiplatelet_or_nsaid=False, alcohol_excess=False)
RECORD_NEGATIVE = dict(atrial_fibrillation=True, age_years=60, sbp_mmhg=130, creatinine_mgdl=1.0,
                       dialysis_or_transplant=False, liver_disease=False, bilirubin_total_mgdl=0.6, ast_ul=25,
                       alt_ul=25, stroke_tia_thromboembolism=False, bleeding_history=False,
                       antiplatelet_or_nsaid=False, alcohol_excess=False, anticoagulant=False)


def patient(**overrides) -> FeatureSet:
    return features(**{**RECORD_NEGATIVE, **overrides})


def evaluate(fs: FeatureSet):
    return only_finding(HasBled(), fs)


def score(**overrides):
    return has_bled_score(**{**ALL_KNOWN_NEGATIVE, "age_years": 60, **overrides})


# -- items (Pisters 2010 definitions) ---------------------------------------------------------------------

def test_all_items_present_is_9():
    result = score(age_years=70, sbp_mmhg=170, dialysis_or_transplant=True, liver_disease=True, stroke=True,
                   bleeding_history=True, labile_inr=True, antiplatelet_or_nsaid=True, alcohol_excess=True)
    assert (result.score, result.unknown_items) == (9, ())


def test_all_known_negative_is_0():
    assert (score().score, score().unknown_items) == (0, ())


@pytest.mark.parametrize("overrides,points", [
    (dict(sbp_mmhg=160), 0), (dict(sbp_mmhg=161), 1),                    # H: > 160
    (dict(age_years=65), 0), (dict(age_years=66), 1),                      # E: > 65
    (dict(creatinine_mgdl=2.26), 0), (dict(creatinine_mgdl=2.27), 1),      # >= 200 umol/L = 2.262 mg/dL
    (dict(dialysis_or_transplant=True), 1),
    (dict(bilirubin_total_mgdl=2.41, ast_ul=121), 1),                      # > 2 x 1.2 with > 3 x 40
    (dict(bilirubin_total_mgdl=2.41, alt_ul=121), 1),
    (dict(bilirubin_total_mgdl=2.40, ast_ul=121), 0),                      # bilirubin not > 2 x ULN
    (dict(bilirubin_total_mgdl=2.41, ast_ul=120, alt_ul=120), 0),          # aminotransferases not > 3 x ULN
    (dict(liver_disease=True), 1),
])
def test_item_thresholds(overrides, points):
    assert score(**overrides).score == points


def test_unknown_items_count_zero_and_are_reported():
    result = has_bled_score(age_years=70)
    assert result.score == 1  # elderly only
    assert set(result.unknown_items) == {"H", "A_renal", "A_liver", "S", "B", "L", "D_drugs", "D_alcohol"}
    assert result.maximum_score == 9


def test_bilirubin_normal_settles_the_liver_labs_even_without_aminotransferases():
    assert "A_liver" not in score(ast_ul=None, alt_ul=None).unknown_items


# -- bands and Pisters 2010 rates ---------------------------------------------------------------------------

@pytest.mark.parametrize("points,maximum,category", [(2, 2, "low-moderate"), (3, 3, "high"), (2, 3, "indeterminate"),
                                                     (0, 2, "low-moderate")])
def test_category_boundaries(points, maximum, category):
    assert risk_category(points, maximum) == category


@pytest.mark.parametrize("points,rate", [(0, 1.13), (1, 1.02), (2, 1.88), (3, 3.74), (4, 8.70), (5, 12.50),
                                         (6, None), (9, None)])
def test_bleeds_per_100_patient_years(points, rate):
    assert bleeds_per_100_patient_years(points) == rate


# -- the engine ------------------------------------------------------------------------------------------

def test_registered():
    assert isinstance(calculators.get("has-bled"), HasBled)


def test_computed_finding_with_everything_known():
    fs = patient(age_years=70, sbp_mmhg=165, antiplatelet_or_nsaid=True)
    finding = evaluate(fs)
    assert finding.status is Status.COMPUTED
    assert finding.id == "has-bled:score"
    assert (finding.value, finding.unit, finding.category, finding.severity) == (3, "points", "high", Severity.WARNING)
    assert finding.measures[0].value == 3.74
    assert finding.details.unknown_items == ()
    assert not any(a.startswith("Assumed absent") for a in finding.assumptions)
    assert len(finding.explanation) == 9


def test_labile_inr_is_assumed_absent_by_name_when_anticoagulated():
    finding = evaluate(patient(anticoagulant=True, age_years=70, antiplatelet_or_nsaid=True))
    assert finding.value == 2
    assert finding.details.unknown_items == ("L",)
    assert any(a.startswith("Assumed absent") and "labile INR" in a for a in finding.assumptions)
    assert finding.category == "indeterminate"  # 2 known + labile INR could make 3
    assert finding.severity is Severity.INFO


def test_items_the_record_lacks_are_named():
    fs = features(atrial_fibrillation=True, age_years=70)
    fs.mark_missing("sbp_mmhg", "no blood pressure in the last 12 months")
    finding = evaluate(fs)
    assert finding.status is Status.COMPUTED
    assert finding.value == 1
    assert "sbp_mmhg" in {m.name for m in finding.missing}
    names = " ".join(finding.assumptions)
    for item in ("uncontrolled hypertension", "abnormal renal function", "abnormal liver function", "prior stroke",
                 "bleeding history", "labile INR", "antiplatelet drug or NSAID", "alcohol"):
        assert item in names, item
    assert finding.details.maximum_score == 9


def test_score_above_5_has_no_rate():
    finding = evaluate(patient(age_years=70, sbp_mmhg=170, dialysis_or_transplant=True, liver_disease=True,
                               stroke_tia_thromboembolism=True, bleeding_history=True))
    assert finding.value == 6
    assert finding.measures == ()
    assert any("No published bleeding rate" in a for a in finding.assumptions)


@pytest.mark.parametrize("af", [False, None])
def test_without_atrial_fibrillation_not_applicable(af):
    finding = evaluate(patient(atrial_fibrillation=af))
    assert finding.status is Status.NOT_APPLICABLE and finding.value is None


def test_missing_age_is_insufficient():
    finding = evaluate(patient(age_years=None))
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == ["age_years"]


@pytest.mark.parametrize("name,value", [("sbp_mmhg", "high"), ("bleeding_history", "yes please")])
def test_unusable_values_become_unknown_items_not_errors(name, value):
    finding = evaluate(patient(**{name: value}))
    assert finding.status is Status.COMPUTED
    assert name in {m.name for m in finding.missing}


def test_empty_feature_set_through_runner_is_not_an_error():
    findings = run_engines([calculators.get("has-bled")], FeatureSet(as_of=AS_OF))
    assert [f.status for f in findings] == [Status.NOT_APPLICABLE]
