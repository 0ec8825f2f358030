"""Statin therapy (2018 AHA/ACC cholesterol guideline, USPSTF 2022): every boundary of the benefit groups and risk
bands, each exclusion, a statin already taken, and the resources the suggestion becomes."""
from __future__ import annotations

import pytest

from engine.finding import Kind, Severity, Status
from tests.engine.treatment_fixtures import (
    features,
    medication,
    one,
    options,
    pce,
    rxnorm_codes,
    with_medications,
)

STATIN = "statin-aha-acc-2018"
MODERATE = ["617310", "617312", "859747"]  # atorvastatin 20, atorvastatin 10, rosuvastatin 10 (RxNorm SCD)
HIGH = ["617311", "259255", "859751"]  # atorvastatin 40, atorvastatin 80, rosuvastatin 20


def patient(age=55, **facts):
    """A primary-prevention adult: no ASCVD, no diabetes, LDL-C 120 mg/dL, HDL 50, no risk factor of USPSTF 2022."""
    base = dict(age_years=age, sex="male", ascvd=False, diabetes=False, ldl_mgdl=120.0, hdl_mgdl=50.0,
                hypertension=False, bp_treated=False, smoker_current=False)
    base.update(facts)
    return features(**base)


def statin(fs, risk=None):
    return one(STATIN, fs, *([pce(risk)] if risk is not None else []))


# -- primary prevention by the PCE band: 4.99 / 5, 7.49 / 7.5, 19.9 / 20 -------------------------------------------------
@pytest.mark.parametrize("risk, group, intensity, strength", [
    (4.99, None, None, None),  # low: no statin
    (5.0, None, None, None),  # borderline without a risk enhancer: no statin
    (7.49, None, None, None),
    (7.5, "intermediate", "moderate", "Class I, LOE A"),
    (19.9, "intermediate", "moderate", "Class I, LOE A"),
    (20.0, "high", "high", "Class I, LOE A"),
])
def test_primary_prevention_follows_the_pce_band(risk, group, intensity, strength):
    finding = statin(patient(), risk)
    if group is None:
        assert finding.status is Status.NOT_APPLICABLE and not finding.suggestions
        return
    assert finding.status is Status.COMPUTED and finding.kind is Kind.TREATMENT
    assert finding.details.benefit_group == group and finding.details.target_intensity == intensity
    assert finding.recommendation.strength == strength
    assert finding.recommendation.guideline == "2018 AHA/ACC cholesterol guideline"
    assert finding.recommendation.text == f"Start a {intensity}-intensity statin"
    assert finding.severity is Severity.WARNING
    assert rxnorm_codes(finding) == (MODERATE if intensity == "moderate" else HIGH)
    assert finding.follows_from == ("pce-2013:ascvd-10y",)  # on the PCE card


@pytest.mark.parametrize("risk, named", [(4.99, False), (5.0, True), (7.49, True)])
def test_borderline_risk_needs_a_named_risk_enhancer(risk, named):
    finding = statin(patient(ldl_mgdl=165.0), risk)  # LDL-C >= 160: a 2018 Table 6 risk enhancer
    if not named:
        assert finding.status is Status.NOT_APPLICABLE and "low" in finding.message
        return
    assert finding.details.benefit_group == "borderline"
    assert finding.recommendation.strength == "Class IIb, LOE B-R"
    assert finding.recommendation.text == "Consider a moderate-intensity statin"
    assert finding.severity is Severity.INFO  # a "may be reasonable" recommendation
    assert finding.details.risk_enhancers == ("LDL-C >= 160 mg/dL",)
    assert "risk enhancers: LDL-C >= 160 mg/dL" in finding.message


def test_ckd_and_problem_list_enhancers_are_named():
    fs = patient(egfr_mlmin173m2=55.0)
    fs.condition_codes = {("http://snomed.info/sct", "237602007")}  # metabolic syndrome X
    finding = statin(fs, 6.0)
    assert finding.details.risk_enhancers == ("CKD (eGFR 15-59)", "metabolic syndrome")
    assert finding.details.benefit_group == "borderline"
    fs = patient()
    fs.condition_codes = {("http://hl7.org/fhir/sid/icd-10-cm", "M06.9")}  # rheumatoid arthritis
    assert statin(fs, 6.0).details.risk_enhancers == ("chronic inflammatory disease (RA, psoriasis, lupus, HIV)",)


@pytest.mark.parametrize("age, expected", [(39, None), (40, "intermediate"), (75, "intermediate"),
                                           (76, "older-primary")])
def test_primary_prevention_ages(age, expected):
    finding = statin(patient(age=age), 12.0)
    if expected is None:
        assert finding.status is Status.NOT_APPLICABLE
    else:
        assert finding.details.benefit_group == expected
    if expected == "older-primary":
        assert finding.recommendation.strength == "Class IIb, LOE B-R"
        assert finding.recommendation.text == "Consider a moderate-intensity statin over 75"


def test_ldl_below_70_is_outside_primary_prevention():
    assert statin(patient(ldl_mgdl=69.0), 12.0).status is Status.NOT_APPLICABLE
    assert statin(patient(ldl_mgdl=70.0), 12.0).details.benefit_group == "intermediate"


def test_no_risk_estimate_means_no_primary_prevention_suggestion():
    finding = statin(patient())
    assert finding.status is Status.NOT_APPLICABLE and "Pooled Cohort Equations" in finding.message


# -- USPSTF 2022: grade C from 7.5 %, grade B from 10 %, with >= 1 risk factor ---------------------------------------------
@pytest.mark.parametrize("risk, grade", [(7.49, None), (7.5, "C"), (9.99, "C"), (10.0, "B")])
def test_uspstf_grade_with_a_risk_factor(risk, grade):
    finding = statin(patient(ldl_mgdl=165.0, hypertension=True), risk)
    assert finding.details.uspstf_grade == grade
    if grade:
        assert finding.recommendation.strength.endswith(f"USPSTF grade {grade}")
        assert f"USPSTF 2022 grade {grade}" in finding.message and "hypertension" in finding.message


def test_no_uspstf_grade_without_a_risk_factor():
    assert statin(patient(), 12.0).details.uspstf_grade is None


def test_no_uspstf_grade_over_75():
    assert statin(patient(age=76, hypertension=True), 12.0).details.uspstf_grade is None


# -- statin benefit groups without risk estimation -------------------------------------------------------------------------
@pytest.mark.parametrize("ldl, age, expected", [(189.0, 30, None), (190.0, 30, "ldl-190"), (190.0, 19, None),
                                                (190.0, 20, "ldl-190"), (190.0, 75, "ldl-190")])
def test_ldl_190_is_a_benefit_group_from_20_to_75(ldl, age, expected):
    finding = statin(patient(age=age, ldl_mgdl=ldl))
    if expected is None:
        assert finding.status is Status.NOT_APPLICABLE
        return
    assert finding.details.benefit_group == "ldl-190" and finding.details.target_intensity == "high"
    assert finding.recommendation.strength == "Class I, LOE B-R"
    assert finding.recommendation.text == "Start a high-intensity statin for LDL-C >= 190 mg/dL"
    assert rxnorm_codes(finding) == HIGH


@pytest.mark.parametrize("age, expected", [(39, None), (40, "diabetes"), (75, "diabetes"), (76, "older-primary")])
def test_diabetes_40_to_75_is_a_benefit_group_whatever_the_risk(age, expected):
    finding = statin(patient(age=age, diabetes=True), 3.0 if 40 <= age <= 79 else None)
    if expected is None:
        assert finding.status is Status.NOT_APPLICABLE
        return
    assert finding.details.benefit_group == expected
    if expected == "diabetes":
        assert finding.recommendation.text == "Start a moderate-intensity statin for diabetes at 40-75"
        assert finding.recommendation.strength == "Class I, LOE A"
        assert rxnorm_codes(finding) == MODERATE


@pytest.mark.parametrize("age, key, strength, severity", [(75, "ascvd", "Class I, LOE A", Severity.WARNING),
                                                          (76, "ascvd-older", "Class IIa, LOE B-R", Severity.INFO)])
def test_clinical_ascvd_high_intensity_to_75(age, key, strength, severity):
    finding = statin(patient(age=age, ascvd=True))
    assert finding.details.benefit_group == key and finding.recommendation.strength == strength
    assert finding.severity is severity
    assert finding.follows_from == ()  # no risk estimate in secondary prevention: a card of its own
    assert finding.details.uspstf_grade is None


# -- exclusions ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flag, words", [
    ("statin_intolerance", "statin allergy or intolerance"),
    ("pregnant", "Pregnancy"),
    ("breastfeeding", "Breastfeeding"),
    ("on_dialysis", "Class III: No Benefit"),
    ("decompensated_liver_disease", "decompensated cirrhosis"),
])
def test_each_exclusion_stops_the_suggestion_and_says_why(flag, words):
    finding = statin(patient(ascvd=True, **{flag: True}))
    assert finding.status is Status.NOT_APPLICABLE and not finding.suggestions
    assert words in finding.message and "clinical ASCVD" in finding.message
    assert any(ev.name == flag and ev.value is True for ev in finding.inputs)


def test_exclusions_recorded_as_absent_are_listed_as_inputs():
    finding = statin(patient(statin_intolerance=False, pregnant=False, on_dialysis=False), 12.0)
    assert finding.status is Status.COMPUTED
    assert {"statin_intolerance", "pregnant", "on_dialysis"} <= {ev.name for ev in finding.inputs}


# -- a statin already taken ------------------------------------------------------------------------------------------------
def test_an_adequate_statin_is_continued_without_a_suggestion():
    fs = with_medications(patient(ascvd=True), medication("atorvastatin 40 MG Oral Tablet", "statin",
                                                           intensity="high", daily_dose_mg=40))
    finding = statin(fs)
    assert finding.status is Status.COMPUTED and not finding.suggestions
    assert finding.details.current_intensity == "high" and finding.severity is Severity.INFO
    assert finding.recommendation.text == "Continue the statin: its intensity is adequate"


def test_a_statin_of_too_low_intensity_is_intensified():
    fs = with_medications(patient(ascvd=True), medication("simvastatin 20 MG Oral Tablet", "statin",
                                                           intensity="moderate", daily_dose_mg=20))
    finding = statin(fs)
    assert finding.severity is Severity.WARNING
    assert finding.recommendation.text == "Intensify to a high-intensity statin for clinical ASCVD"
    assert "moderate intensity" in finding.message
    assert rxnorm_codes(finding) == HIGH
    assert "Replaces simvastatin 20 MG Oral Tablet" in finding.suggestions[0].proposals[0].description


def test_a_statin_of_unknown_dose_is_checked():
    fs = with_medications(patient(diabetes=True), medication("atorvastatin", "statin"))
    finding = statin(fs, 8.0)
    assert not finding.suggestions and finding.recommendation.text.startswith("Check the statin dose")


def test_a_stopped_statin_does_not_count():
    fs = with_medications(patient(), medication("atorvastatin 40 MG Oral Tablet", "statin", intensity="high",
                                                active=False))
    assert statin(fs, 12.0).suggestions


# -- the resources ---------------------------------------------------------------------------------------------------------
def test_the_suggestion_is_valid_medication_requests_with_alternatives():
    finding = statin(patient(), 12.0)
    [suggestion] = finding.suggestions
    assert suggestion.is_choice  # at most one of the alternatives
    resources = options(finding)  # each validated as FHIR R4 by fhir.resources
    first = resources[0]
    assert (first["status"], first["intent"]) == ("draft", "proposal")
    assert first["subject"] == {"reference": "Patient/p1"}
    coding = first["medicationCodeableConcept"]["coding"][0]
    assert coding == {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "617310",
                      "display": "atorvastatin 20 MG Oral Tablet"}
    dose = first["dosageInstruction"][0]
    assert dose["doseAndRate"][0]["doseQuantity"] == {"value": 20, "unit": "mg", "system": "http://unitsofmeasure.org",
                                                      "code": "mg"}
    assert dose["timing"]["repeat"] == {"frequency": 1, "period": 1, "periodUnit": "d"}
    assert "Class I, LOE A" in first["reasonCode"][0]["text"]


def test_the_finding_cites_its_guideline_and_carries_its_evidence():
    finding = statin(patient(), 12.0)
    assert finding.citation.doi == "10.1161/CIR.0000000000000625"
    assert finding.recommendation.citation.url == "https://doi.org/10.1161/CIR.0000000000000625"
    risk = next(ev for ev in finding.inputs if ev.name == "pce_10y_ascvd_risk")
    assert risk.value == 12.0 and risk.unit == "%" and risk.note == "intermediate"
    assert "Applied:" in finding.method
