"""Type 2 diabetes with CKD (KDIGO 2022, ADA 2025, metformin label): SGLT2 inhibitor at eGFR 19 / 20, metformin at
29 / 30 and 44 / 45, ACE inhibitor or ARB for albuminuria (29 / 30 mg/g) with hypertension, who is in scope, and
when CKD is established (a CKD entry, or eGFR < 60 / UACR >= 30 mg/g over 90 / 91 days, as the CKD detector reads it)."""
from __future__ import annotations

import pytest

from engine.finding import Severity, Status
from tests.engine.detector_fixtures import days_ago, run
from tests.engine.treatment_fixtures import (
    ev,
    evaluate,
    features,
    medication,
    options,
    rxnorm_codes,
    with_medications,
)

RULE = "t2d-ckd-kdigo-2022"
EMPAGLIFLOZIN, DAPAGLIFLOZIN, CANAGLIFLOZIN, METFORMIN, LISINOPRIL, LOSARTAN = (
    "1545658", "1488569", "1373463", "861007", "314076", "979492")
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def patient(egfr=50.0, uacr=10.0, **facts):
    """CKD established unless a test says otherwise: the eGFR at this value 10 and 130 days ago (120 days' persistence
    when below 60; a CKD entry is needed at a higher one)."""
    return features(age_years=64, sex="female", diabetes=True, uacr_mgg=uacr,
                    history={"egfr_mlmin173m2": egfrs((egfr, 10), (egfr, 130))}, **facts)


def egfrs(*results: tuple[float, int]):
    """eGFR results as (value, days before the request)."""
    return [ev("egfr_mlmin173m2", value, days_ago(n)) for value, n in results]


def uacrs(*results: tuple[float, int]):
    return [ev("uacr_mgg", value, days_ago(n)) for value, n in results]


def record(*, egfr=(), uacr=(), **facts):
    """Diabetes with exactly these eGFR and UACR results (no CKD entry unless given)."""
    history = {name: items for name, items in (("egfr_mlmin173m2", egfrs(*egfr)), ("uacr_mgg", uacrs(*uacr))) if items}
    return features(age_years=64, sex="female", diabetes=True, history=history, **facts)


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


# -- CKD established: a CKD entry, or a marker persisting > 90 days (KDIGO 2024 definition, as the CKD detector) -----------
def test_one_egfr_below_60_does_not_establish_ckd():
    """The record of the report: one eGFR 59, metformin taken, no CKD entry. The CKD diagnosis card says "needs > 90
    days"; this rule proposes nothing and says why, rather than an SGLT2 inhibitor for CKD not yet diagnosed."""
    fs = with_medications(record(egfr=[(59.0, 10)]), medication("metformin 500 MG", "metformin", daily_dose_mg=1000))
    [finding] = evaluate(RULE, fs)
    assert finding.status is Status.NOT_APPLICABLE and not finding.suggestions
    assert finding.message.startswith("CKD not established: one eGFR < 60 (2026-05-22). KDIGO defines CKD by > 3 "
                                      "months' persistence (KDIGO 2024")
    assert [i.value for i in finding.inputs if i.name == "egfr_mlmin173m2"] == [59.0]


@pytest.mark.parametrize("apart, established", [(89, False), (90, False), (91, True)])
def test_two_egfrs_below_60_establish_ckd_more_than_90_days_apart(apart, established):
    found = therapies(record(egfr=[(55.0, 10), (58.0, 10 + apart)]))
    if not established:
        [finding] = found.values()
        assert finding.status is Status.NOT_APPLICABLE
        assert f"eGFR < 60 for {apart} days (2 results, {days_ago(10 + apart)} to 2026-05-22), not > 90" in \
            finding.message
        return
    sglt2 = found["sglt2i"]
    assert sglt2.status is Status.COMPUTED and sglt2.value == "T2D, eGFR 55 → SGLT2 inhibitor"
    [since] = [i for i in sglt2.inputs if i.value == 58.0]  # the first result of the run, and how long it lasted
    assert "eGFR abnormal since this result: 91 days, no normal result between" in since.note


def test_a_normal_egfr_between_breaks_the_run():
    found = therapies(record(egfr=[(55.0, 10), (65.0, 60), (55.0, 200)]))
    [finding] = found.values()
    assert finding.status is Status.NOT_APPLICABLE and "one eGFR < 60 (2026-05-22)" in finding.message


def test_ckd_on_the_problem_list_with_one_egfr_59():
    sglt2 = therapies(record(egfr=[(59.0, 10)], chronic_kidney_disease=True))["sglt2i"]
    assert sglt2.status is Status.COMPUTED and sglt2.recommendation.strength == "KDIGO 1A; ADA grade A"


@pytest.mark.parametrize("uacr, established", [([(100.0, 10)], False), ([(100.0, 10), (45.0, 101)], True)])
def test_albuminuria_establishes_ckd_when_it_persists(uacr, established):
    found = therapies(record(egfr=[(75.0, 10)], uacr=uacr, hypertension=True))
    if not established:
        [finding] = found.values()
        assert finding.status is Status.NOT_APPLICABLE
        assert "CKD not established: one UACR >= 30 mg/g (2026-05-22)" in finding.message
        return
    assert found["sglt2i"].status is Status.COMPUTED
    assert found["raas"].status is Status.COMPUTED and found["raas"].value == "T2D, eGFR 75, A2 → ACE inhibitor or ARB"


def test_below_egfr_20_without_established_ckd_nothing_is_started():
    [finding] = evaluate(RULE, record(egfr=[(15.0, 10)]))
    assert finding.status is Status.NOT_APPLICABLE and "CKD not established: one eGFR < 60" in finding.message


@pytest.mark.parametrize("egfr, state", [(25.0, "Stop metformin"), (40.0, "Review the metformin dose"), (50.0, None)])
def test_a_metformin_taken_is_still_reviewed_by_the_label_when_ckd_is_not_established(egfr, state):
    """The label's limits hold at any low eGFR, chronic or not: stopping metformin is not a CKD drug decision."""
    fs = with_medications(record(egfr=[(egfr, 10)]), medication("metformin 500 MG", "metformin", daily_dose_mg=1000))
    found = therapies(fs)
    assert found["ckd"].message.startswith("CKD not established")
    if state is None:
        assert "metformin" not in found
    else:
        assert found["metformin"].status is Status.COMPUTED and found["metformin"].recommendation.text.startswith(state)
        assert not found["metformin"].suggestions


def test_a_ckd_condition_code_without_the_feature_establishes_ckd_as_for_the_detector():
    """One definition with the CKD detector (``ckd_establishment``): a CKD code on the problem list counts whether or
    not the chronic_kidney_disease feature was extracted, as it silences the diagnosis card."""
    fs = record(egfr=[(45.0, 10)])
    fs.condition_codes = {(ICD10CM, "E11.9"), (ICD10CM, "N18.31")}
    assert therapies(fs)["sglt2i"].status is Status.COMPUTED
    assert run("ckd-gap", fs) == []


# -- kidney replacement therapy: dialysis and kidney transplant are outside KDIGO 2022 rec 1.3.1's trials ------------
@pytest.mark.parametrize("facts, codes, words", [
    (dict(), {(ICD10CM, "Z94.0")}, "A kidney transplant is recorded"),
    (dict(dialysis_or_transplant=True, on_dialysis=False), set(), "A kidney transplant is recorded"),
    (dict(), {(ICD10CM, "Z99.2")}, "Chronic dialysis is recorded"),
    (dict(on_dialysis=True, dialysis_or_transplant=True), set(), "Chronic dialysis is recorded"),
    (dict(dialysis_or_transplant=True), set(), "Chronic dialysis or a kidney transplant is recorded"),
])
def test_kidney_replacement_therapy_is_excluded_with_its_own_words(facts, codes, words):
    """The reviewer's record: T2D, Z94.0 on the problem list, one eGFR 45. The CKD detector is silent (Z94.0 documents
    CKD); the rule does not call CKD unestablished but excludes the transplant recipient, as it excludes dialysis."""
    fs = record(egfr=[(45.0, 10)], **facts)
    fs.condition_codes = {(ICD10CM, "E11.9"), *codes}
    assert run("ckd-gap", fs) == []
    [finding] = evaluate(RULE, fs)
    assert finding.status is Status.NOT_APPLICABLE and not finding.suggestions
    assert finding.message.startswith(f"{words}: the KDIGO 2022 drug recommendations for diabetes with CKD do not "
                                      "apply")
    if words.startswith("A kidney transplant"):
        assert "excluded kidney transplant recipients" in finding.message


def test_the_ckd_definition_in_the_texts_is_the_detectors_declared_once():
    """The data file's sentence names no threshold of its own: the markers and the persistence come from the CKD
    detector's constants (EGFR_ABNORMAL_BELOW, ACR_ABNORMAL_FROM, PERSISTENCE_DAYS)."""
    from engine.detectors.ckd import ACR_ABNORMAL_FROM, ACR_MARKER, EGFR_ABNORMAL_BELOW, EGFR_MARKER, PERSISTENCE_DAYS
    from engine.rules.diabetes_kidney import _not_established_text, data

    template = data()["ckd"]["not_established"]
    assert not any(literal in template for literal in ("60", "30 mg", "90", "> 3 months"))
    assert (EGFR_MARKER, ACR_MARKER) == (f"eGFR < {EGFR_ABNORMAL_BELOW:g}", f"UACR >= {ACR_ABNORMAL_FROM:g} mg/g")
    assert f"{EGFR_MARKER} or {ACR_MARKER} over > {PERSISTENCE_DAYS} days" in _not_established_text()


def test_the_not_established_finding_shows_the_egfr_as_the_markers_judged_it():
    """eGFR 59.6 is < 60 for the CKD markers (unrounded) and 60 for the drug thresholds (rounded half up): the finding
    about CKD says 59.6 beside "one eGFR < 60", and its inputs hold 59.6, not a rounded 60."""
    [finding] = evaluate(RULE, record(egfr=[(59.6, 10)]))
    assert finding.message.startswith("CKD not established: one eGFR < 60 (2026-05-22). Newest eGFR 59.6 (unrounded, "
                                      "as the CKD markers compare it). KDIGO defines")
    assert [i.value for i in finding.inputs if i.name == "egfr_mlmin173m2"] == [59.6]
