"""Clinical rules that follow from the record: pregnancy, an active statin, LDL-C >= 190 mg/dL and clinical ASCVD on
the PCE and PREVENT cards; one eGFR per patient on every kidney card."""
from __future__ import annotations

from datetime import date

import pytest

import engine.calculators  # noqa: F401 - registers the calculators
from engine.calculators.ckd_epi import (
    CkdEpi2021Creatinine,
    ckd_epi_2021_creatinine,
    coefficients as ckd_epi_coefficients,
    reported_egfr_discordant,
)
from engine.calculators.ckd_epi_cr_cys import CkdEpi2021CreatinineCystatin
from engine.calculators.kdigo_ckd import KdigoCkdStage
from engine.calculators.kfre import KidneyFailureRiskEquation
from engine.calculators.pce import PooledCohortEquations
from engine.calculators.prevent import PreventBase
from engine.calculators.prevent_30y import Prevent30yAndAddOns
from engine.finding import Evidence, Severity, Status
from engine.inputs import feature_label, feature_unit
from tests.engine.builders import MEASURED, ev, features, only_finding

PCE_CASE = dict(age_years=55, sex="female", race="white", chol_total_mgdl=213, hdl_mgdl=50, sbp_mmhg=120,
                bp_treated=False, smoker_current=False, diabetes=False)
PREVENT_CASE = dict(age_years=50, sex="female", chol_total_mgdl=200, hdl_mgdl=45, sbp_mmhg=160, bp_treated=True,
                    diabetes=True, smoker_current=False, egfr_mlmin173m2=90, bmi_kgm2=35, statin=False)


def pce(**overrides):
    return only_finding(PooledCohortEquations(), features(**{**PCE_CASE, **overrides}))


def prevent_findings(**overrides):
    fs = features(**{**PREVENT_CASE, **overrides})
    return [only_finding(PreventBase(), fs)] + Prevent30yAndAddOns().evaluate(fs)


# -- pregnancy ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sex", ["female", "male"])
def test_recorded_pregnancy_makes_pce_not_applicable(sex):
    finding = pce(sex=sex, pregnant=True)
    assert finding.status is Status.NOT_APPLICABLE
    assert "Pregnancy is recorded" in finding.message and "not derived in pregnancy" in finding.message
    assert "cholesterol and blood pressure change during pregnancy" in finding.message
    assert [e.name for e in finding.inputs] == ["pregnant"]


@pytest.mark.parametrize("sex", ["female", "male"])
def test_recorded_pregnancy_makes_every_prevent_model_not_applicable(sex):
    findings = prevent_findings(sex=sex, pregnant=True, hba1c_pct=6.0)
    assert len(findings) == 3  # base 10-year, 30-year, 10-year with HbA1c
    for finding in findings:
        assert finding.status is Status.NOT_APPLICABLE
        assert "PREVENT equations were not derived in pregnancy" in finding.message
        assert "eGFR change during pregnancy" in finding.message


@pytest.mark.parametrize("sex", ["female", "male"])
def test_not_pregnant_is_computed_without_a_pregnancy_note(sex):
    finding = pce(sex=sex, pregnant=False)
    assert finding.status is Status.COMPUTED
    assert not any("Pregnancy" in a for a in finding.assumptions)
    for finding in prevent_findings(sex=sex, pregnant=False):
        assert finding.status is Status.COMPUTED
        assert not any("Pregnancy" in a for a in finding.assumptions)


def test_unknown_pregnancy_of_a_woman_is_computed_and_says_so():
    finding = pce(sex="female")
    assert finding.status is Status.COMPUTED
    assert "Pregnancy status is not known: assumed not pregnant" in " ".join(finding.assumptions)
    for finding in prevent_findings(sex="female"):
        assert "Pregnancy status is not known" in " ".join(finding.assumptions)


def test_unknown_pregnancy_of_a_man_is_not_mentioned():
    assert not any("Pregnancy" in a for a in pce(sex="male").assumptions)
    for finding in prevent_findings(sex="male"):
        assert not any("Pregnancy" in a for a in finding.assumptions)


def test_clinical_ascvd_is_named_before_pregnancy():
    finding = pce(ascvd=True, pregnant=True)
    assert finding.message.startswith("Clinical ASCVD is recorded")


# -- statin ------------------------------------------------------------------------------------------------------------
def test_active_statin_is_named_on_the_pce_card_and_the_estimate_is_on_treatment():
    finding = pce(statin=True, pregnant=False)
    assert finding.status is Status.COMPUTED
    assert finding.message.startswith("A statin is active")
    assert "on-treatment cholesterol" in finding.message
    assert "statin" in [e.name for e in finding.inputs]
    assert finding.details.on_statin is True
    # The number itself is the same: the equations have no statin term.
    assert finding.value == pce(statin=False, pregnant=False).value


def test_no_statin_says_nothing():
    finding = pce(statin=False, pregnant=False)
    assert finding.message is None
    assert "statin" not in [e.name for e in finding.inputs]


def test_pce_reads_statin_ldl_and_pregnancy_as_optional_features():
    assert {"statin", "ldl_mgdl", "pregnant"} <= set(PooledCohortEquations.optional)
    assert not {"statin", "ldl_mgdl", "pregnant"} & set(PooledCohortEquations.requires)


def test_prevent_says_the_statin_was_included():
    for finding in prevent_findings(statin=True, pregnant=False):
        assert any("PREVENT includes statin use as a predictor" in a for a in finding.assumptions)
    for finding in prevent_findings(statin=False, pregnant=False):
        assert not any("statin" in a.lower() for a in finding.assumptions)


# -- LDL-C >= 190 mg/dL ------------------------------------------------------------------------------------------------
def test_ldl_190_is_a_statin_benefit_group_named_on_the_pce_card():
    finding = pce(ldl_mgdl=190, pregnant=False)
    assert finding.status is Status.COMPUTED
    assert finding.message.startswith("LDL-C 190 mg/dL (>= 190): severe hypercholesterolaemia is a statin benefit "
                                      "group without risk estimation")
    assert "does not apply to the statin decision" in finding.message
    assert "ldl_mgdl" in [e.name for e in finding.inputs]
    assert finding.details.statin_benefit_group == "ldl-c-190"
    assert finding.severity is Severity.WARNING  # the estimate alone (2.1 %) would be information


def test_ldl_189_is_not():
    finding = pce(ldl_mgdl=189, pregnant=False)
    assert finding.message is None
    assert finding.details.statin_benefit_group is None
    assert finding.severity is Severity.INFO
    assert "ldl_mgdl" not in [e.name for e in finding.inputs]


def test_ldl_just_under_190_unrounded_is_not():
    assert pce(ldl_mgdl=189.99, pregnant=False).message is None


def test_ldl_190_above_the_recommendation_ages_says_so():
    finding = pce(ldl_mgdl=210, age_years=78, pregnant=False)
    assert "(the recommendation is written for ages 20-75)" in finding.message


def test_ldl_190_is_named_when_total_cholesterol_is_above_the_validated_range():
    finding = pce(ldl_mgdl=260, chol_total_mgdl=340, pregnant=False)
    assert finding.status is Status.NOT_APPLICABLE
    assert "outside the validated range" in finding.message
    assert "LDL-C 260 mg/dL (>= 190): severe hypercholesterolaemia is a statin benefit group" in finding.message


def test_ldl_190_is_named_when_the_estimate_lacks_data():
    finding = pce(ldl_mgdl=200, hdl_mgdl=None, pregnant=False)
    assert finding.status is Status.INSUFFICIENT_DATA
    assert finding.message.startswith("Cannot compute: missing HDL cholesterol. LDL-C 200 mg/dL (>= 190)")


def test_ldl_190_and_a_statin_are_both_named():
    finding = pce(ldl_mgdl=230, statin=True, pregnant=False)
    assert finding.message.startswith("LDL-C 230 mg/dL")
    assert "A statin is active" in finding.message


def test_clinical_ascvd_says_risk_estimation_does_not_apply_to_the_statin_decision():
    finding = pce(ascvd=True)
    assert finding.status is Status.NOT_APPLICABLE
    assert "Risk estimation does not apply to the statin decision" in finding.message
    assert "high-intensity statin" in finding.message


# -- one eGFR per patient ----------------------------------------------------------------------------------------------
SEX, AGE, CREATININE = "male", 60, 1.0
RECOMPUTED = ckd_epi_2021_creatinine(creatinine_mgdl=CREATININE, age_years=AGE, sex=SEX)  # 86.2


def reported_egfr(value: float, effective=MEASURED) -> Evidence:
    return ev("egfr_mlmin173m2", value, effective)


def kidney_features(egfr: Evidence | None, **extra):
    fs = features(age_years=AGE, sex=SEX, creatinine_mgdl=CREATININE, **extra)
    if egfr is not None:
        fs.put(egfr)
    return fs


def test_threshold_is_ten_percent_of_the_recomputed_value():
    assert ckd_epi_coefficients()["reported_egfr_comparison"]["max_relative_difference"] == 0.10
    assert not reported_egfr_discordant(RECOMPUTED * 1.0999, RECOMPUTED)
    assert reported_egfr_discordant(RECOMPUTED * 1.1001, RECOMPUTED)
    assert not reported_egfr_discordant(RECOMPUTED * 0.9001, RECOMPUTED)
    assert reported_egfr_discordant(RECOMPUTED * 0.8999, RECOMPUTED)


def test_egfr_card_shows_the_lab_reported_value_and_the_recomputation_as_comparison():
    finding = only_finding(CkdEpi2021Creatinine(), kidney_features(reported_egfr(84.0)))
    assert finding.title == "eGFR (lab-reported)"
    assert finding.value == 84.0 and finding.category == "G2"
    assert finding.measures == ()  # the summary shows one eGFR
    # Numbers at their display precision: creatinine 2 decimals, eGFR whole (84.0 vs 86.2 unrounded).
    assert finding.message == ("For comparison only: CKD-EPI 2021 from the same-day creatinine 1.00 mg/dL gives 86 "
                               "(G2), within 10 % of the lab-reported value.")
    assert finding.details.comparison_ckd_epi_2021 == pytest.approx(RECOMPUTED)
    assert finding.details.egfr_source == "lab-reported"
    assert finding.explanation == ()  # the lab's number is not explained by our equation


@pytest.mark.parametrize("factor,discordant", [(1.0999, False), (1.1001, True), (0.9001, False), (0.8999, True)])
def test_a_materially_different_lab_egfr_gives_way_to_ckd_epi_2021(factor, discordant):
    finding = only_finding(CkdEpi2021Creatinine(), kidney_features(reported_egfr(RECOMPUTED * factor)))
    if discordant:
        # New policy (docs/calculators.md, "One eGFR per patient"): the race-free recomputation from the creatinine.
        assert finding.value == pytest.approx(RECOMPUTED)
        assert finding.title == CkdEpi2021Creatinine.title
        assert "differ by over 10 %; CKD-EPI 2021 is used" in finding.message
        assert "older race-based or different equation, or a data error" in finding.message
        assert finding.details.lab_reported == pytest.approx(RECOMPUTED * factor)
        assert finding.severity is Severity.WARNING
    else:
        assert finding.value == pytest.approx(RECOMPUTED * factor)
        assert finding.message.startswith("For comparison only")


def test_issue_example_lab_84_and_creatinine_based_19_differ():
    fs = features(age_years=70, sex="female", creatinine_mgdl=2.6)
    fs.put(reported_egfr(84.2))
    finding = only_finding(CkdEpi2021Creatinine(), fs)
    assert finding.value == pytest.approx(19.26, abs=0.01) and finding.category == "G4"
    assert finding.details.lab_reported == 84.2
    assert finding.message == ("Lab-reported eGFR 84 vs CKD-EPI 2021 19 (G4) from the same-day creatinine 2.60 mg/dL "
                               "differ by over 10 %; CKD-EPI 2021 is used: the lab value may be from an older "
                               "race-based or different equation, or a data error.")


def test_creatinine_of_another_day_is_not_compared():
    fs = kidney_features(reported_egfr(60.0, date(2024, 5, 20)))
    finding = only_finding(CkdEpi2021Creatinine(), fs)
    assert finding.value == 60.0 and finding.measures == () and finding.message is None
    assert any("not from the day of the lab-reported eGFR" in a for a in finding.assumptions)


def test_egfr_card_derived_value_equals_the_record_value():
    # The adapter derived eGFR at the age at the creatinine date (59), the patient is now 60: the card shows 59's.
    creatinine = ev("creatinine_mgdl", CREATININE)
    age_then = Evidence("age_years", feature_label("age_years"), 59, "years", MEASURED, "Patient/p")
    sex = ev("sex", SEX)
    value = ckd_epi_2021_creatinine(creatinine_mgdl=CREATININE, age_years=59, sex=SEX)
    derived = Evidence("egfr_mlmin173m2", feature_label("egfr_mlmin173m2"), value, feature_unit("egfr_mlmin173m2"),
                       MEASURED, None, derived_from=(creatinine, age_then, sex), note="CKD-EPI 2021")
    finding = only_finding(CkdEpi2021Creatinine(), kidney_features(derived))
    assert finding.value == value
    assert finding.title == CkdEpi2021Creatinine.title


def test_every_kidney_card_shows_the_same_egfr():
    egfr = reported_egfr(52.0, date(2024, 5, 20))  # newer than the creatinine: the record's eGFR, not compared
    fs = kidney_features(egfr, uacr_mgg=200.0, cystatin_c_mgl=1.1)
    egfr_card = only_finding(CkdEpi2021Creatinine(), fs)
    kfre = only_finding(KidneyFailureRiskEquation(), fs)
    kdigo = only_finding(KdigoCkdStage(), fs)
    cr_cys = only_finding(CkdEpi2021CreatinineCystatin(), fs)
    assert egfr_card.value == 52.0
    assert next(e.value for e in kfre.inputs if e.name == "egfr_mlmin173m2") == 52.0
    # KDIGO stages with creatinine-cystatin C (a second, named estimate) and shows the record's eGFR beside it.
    assert any(m.label == "eGFR from creatinine (lab-reported)" and m.value == 52.0 for m in kdigo.measures)
    assert [m.value for m in cr_cys.measures] == [52.0]
    assert cr_cys.measures[0].label == "eGFR from creatinine (lab-reported)"
    prevent = only_finding(PreventBase(), features(**{**PREVENT_CASE, "egfr_mlmin173m2": None}, pregnant=False))
    assert prevent.status is Status.INSUFFICIENT_DATA  # PREVENT too reads the one eGFR feature, nothing else
    fs_prevent = features(**{**PREVENT_CASE, "egfr_mlmin173m2": None}, pregnant=False)
    fs_prevent.put(egfr)
    prevent = only_finding(PreventBase(), fs_prevent)
    assert next(e.value for e in prevent.inputs if e.name == "egfr_mlmin173m2") == 52.0
