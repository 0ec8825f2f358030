"""Type 2 diabetes with CKD (KDIGO 2022, ADA 2025, metformin label): SGLT2 inhibitor at eGFR 19 / 20, metformin at
29 / 30 and 44 / 45, ACE inhibitor or ARB for albuminuria (29 / 30 mg/g) with hypertension, who is in scope."""
from __future__ import annotations

import pytest

from engine.finding import Severity, Status
from tests.engine.treatment_fixtures import evaluate, features, medication, options, rxnorm_codes, with_medications

RULE = "t2d-ckd-kdigo-2022"
EMPAGLIFLOZIN, DAPAGLIFLOZIN, CANAGLIFLOZIN, METFORMIN, LISINOPRIL, LOSARTAN = (
    "1545658", "1488569", "1373463", "861007", "314076", "979492")
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def patient(egfr=50.0, uacr=10.0, **facts):
    return features(age_years=64, sex="female", diabetes=True, egfr_mlmin173m2=egfr, uacr_mgg=uacr, **facts)


def therapies(fs) -> dict[str, object]:
    """The rule's findings by therapy ("sglt2i", "metformin", "raas")."""
    return {f.id.split(":")[1]: f for f in evaluate(RULE, fs)}


# eGFR is rounded half up before it is compared, as at order-sign: 19.49 is 19, 19.5 is 20.
@pytest.mark.parametrize("egfr, started", [(19.0, False), (19.49, False), (19.5, True), (20.0, True)])
def test_sglt2_inhibitor_from_egfr_20(egfr, started):
    sglt2 = therapies(patient(egfr=egfr, metformin=None))["sglt2i"]
    assert (sglt2.status is Status.COMPUTED) is started
    if started:
        assert sglt2.recommendation.strength == "KDIGO 1A; ADA grade A"
        assert sglt2.recommendation.guideline == "KDIGO 2022 diabetes-in-CKD guideline"
        assert sglt2.severity is Severity.WARNING
        assert f"eGFR {int(egfr + 0.5)} (>= 20)" in sglt2.message  # the number shown is the number compared
    else:
        assert "eGFR below 20" in sglt2.message


@pytest.mark.parametrize("egfr, codes", [(20.0, [EMPAGLIFLOZIN]), (25.0, [EMPAGLIFLOZIN, DAPAGLIFLOZIN]),
                                         (30.0, [EMPAGLIFLOZIN, DAPAGLIFLOZIN, CANAGLIFLOZIN])])
def test_each_sglt2_inhibitor_from_its_label_starting_egfr(egfr, codes):
    fs = with_medications(patient(egfr=egfr), medication("metformin 500 MG", "metformin", daily_dose_mg=500))
    sglt2 = therapies(fs)["sglt2i"]  # the only therapy proposed here: alternatives, at most one
    assert rxnorm_codes(sglt2) == codes
    assert sglt2.suggestions[0].is_choice == (len(codes) > 1)


def test_an_sglt2_inhibitor_already_taken_is_continued_off_the_card():
    fs = with_medications(patient(), medication("empagliflozin 10 MG", "glucose_lowering", "sglt2_inhibitor"))
    sglt2 = therapies(fs)["sglt2i"]
    assert sglt2.status is Status.NOT_APPLICABLE and "continue" in sglt2.message.lower()


@pytest.mark.parametrize("egfr, state, severity", [
    (29.0, "stop", Severity.WARNING), (29.49, "stop", Severity.WARNING), (29.5, "review", Severity.INFO),
    (30.0, "review", Severity.INFO), (44.0, "review", Severity.INFO), (44.49, "review", Severity.INFO),
    (44.5, None, None), (45.0, None, None),
])
def test_metformin_taken_by_egfr(egfr, state, severity):
    fs = with_medications(patient(egfr=egfr), medication("metformin 500 MG Oral Tablet", "glucose_lowering", "metformin",
                                                         daily_dose_mg=1000))
    metformin = therapies(fs)["metformin"]
    if state is None:
        assert metformin.status is Status.NOT_APPLICABLE and "continue metformin" in metformin.message
        return
    assert metformin.severity is severity and not metformin.suggestions
    if state == "stop":
        assert metformin.recommendation.text == "Stop metformin: contraindicated below eGFR 30"
    else:
        assert metformin.recommendation.text.startswith("Review the metformin dose")
        assert "1000 mg a day" in metformin.message


def test_a_metformin_dose_above_1000_mg_at_egfr_30_45_is_a_warning():
    fs = with_medications(patient(egfr=40.0), medication("metformin 1000 MG", "metformin", daily_dose_mg=2000))
    metformin = therapies(fs)["metformin"]
    assert metformin.severity is Severity.WARNING and "above the 1,000 mg limit" in metformin.message


@pytest.mark.parametrize("egfr, started", [(29.0, False), (44.0, False), (44.49, False), (44.5, True), (45.0, True)])
def test_metformin_not_started_below_egfr_45(egfr, started):
    metformin = therapies(patient(egfr=egfr))["metformin"]
    assert (metformin.status is Status.COMPUTED) is started
    if started:
        assert metformin.recommendation.strength == "KDIGO 1B"
    elif egfr >= 30:
        assert "not started" in metformin.message
    else:
        assert "contraindicated" in metformin.message


@pytest.mark.parametrize("uacr, hypertension, started", [(29.0, True, False), (30.0, True, True),
                                                         (300.0, False, False)])
def test_ace_inhibitor_or_arb_for_albuminuria_with_hypertension(uacr, hypertension, started):
    fs = with_medications(patient(egfr=55.0, uacr=uacr, hypertension=hypertension),
                          medication("metformin 500 MG", "metformin", daily_dose_mg=500),
                          medication("empagliflozin 10 MG", "sglt2_inhibitor"))
    raas = therapies(fs)["raas"]
    assert (raas.status is Status.COMPUTED) is started
    if started:
        assert rxnorm_codes(raas) == [LISINOPRIL, LOSARTAN]  # the only therapy proposed: alternatives
        assert raas.recommendation.strength.startswith("KDIGO 1B")


def test_an_ace_inhibitor_already_taken_needs_no_suggestion():
    fs = with_medications(patient(uacr=100.0, hypertension=True), medication("lisinopril 10 MG", "ace_inhibitor"))
    assert therapies(fs)["raas"].status is Status.NOT_APPLICABLE


def test_several_therapies_each_offer_their_preferred_agent():
    found = therapies(patient(egfr=50.0, uacr=100.0, hypertension=True))
    proposed = [f for f in found.values() if f.suggestions]
    assert len(proposed) == 3  # SGLT2 inhibitor, metformin, ACE inhibitor or ARB
    for finding in proposed:
        [suggestion] = finding.suggestions
        assert not suggestion.is_choice  # one card, selection "any": each may be accepted
        options(finding)  # valid FHIR R4
    sglt2 = found["sglt2i"].suggestions[0]
    assert sglt2.label == "Start an SGLT2 inhibitor: Empagliflozin 10 mg daily"
    assert "Alternatives: Dapagliflozin 10 mg daily; Canagliflozin 100 mg daily." in sglt2.proposals[0].description


def test_every_finding_is_about_ckd_and_shares_its_card():
    for finding in evaluate(RULE, patient(egfr=50.0, uacr=100.0, hypertension=True)):
        assert finding.condition.id == "chronic-kidney-disease"


@pytest.mark.parametrize("facts, words", [
    (dict(diabetes=False), "not on the problem list"),
    (dict(egfr_mlmin173m2=60.0, uacr_mgg=29.0), "no CKD criterion"),
    (dict(on_dialysis=True), "dialysis"),
    (dict(pregnant=True), "regnancy"),
])
def test_out_of_scope(facts, words):
    base = dict(age_years=64, sex="female", diabetes=True, egfr_mlmin173m2=50.0, uacr_mgg=10.0)
    base.update(facts)
    [finding] = evaluate(RULE, features(**base))
    assert finding.status is Status.NOT_APPLICABLE and words in finding.message


def test_ckd_on_the_problem_list_counts_at_a_normal_egfr():
    found = therapies(patient(egfr=75.0, uacr=10.0, chronic_kidney_disease=True))
    assert found["sglt2i"].status is Status.COMPUTED


def test_type_1_diabetes_only_is_out_of_scope():
    fs = patient()
    fs.condition_codes = {(ICD10CM, "E10.9")}
    [finding] = evaluate(RULE, fs)
    assert finding.status is Status.NOT_APPLICABLE and "Type 1" in finding.message
    fs.condition_codes = {(ICD10CM, "E10.9"), (ICD10CM, "E11.9")}
    assert therapies(fs)["sglt2i"].status is Status.COMPUTED
