"""Oral anticoagulation in AF (2023 ACC/AHA/ACCP/HRS): CHA2DS2-VASc 1 vs 2 by sex, DOAC alternatives and their label
ranges of Cockcroft-Gault creatinine clearance, warfarin with a mechanical valve or mitral stenosis, aspirin alone, HAS-BLED as factors to modify."""
from __future__ import annotations

import pytest

from engine.calculators.common import load_data
from engine.finding import Evidence, Severity, Status
from engine.inputs import feature_label
from tests.engine.treatment_fixtures import (
    cha2ds2_vasc,
    features,
    has_bled,
    medication,
    one,
    options,
    rxnorm_codes,
    with_medications,
)

AF = "af-anticoagulation-2023"
APIXABAN_5, APIXABAN_2_5, RIVAROXABAN, EDOXABAN, DABIGATRAN, WARFARIN = (
    "1364445", "1364435", "1232086", "1599555", "1037045", "855332")


def patient(sex="male", egfr=80.0, **facts):
    return features(age_years=70, sex=sex, atrial_fibrillation=True, egfr_mlmin173m2=egfr, weight_kg=80.0,
                    creatinine_mgdl=1.0, **facts)


def oac(fs, points, sex="male", *bleeding_items):
    return one(AF, fs, cha2ds2_vasc(points, sex), has_bled(*bleeding_items))


@pytest.mark.parametrize("sex, points, action", [
    ("male", 0, None), ("male", 1, "consider"), ("male", 2, "recommend"),
    ("female", 1, None), ("female", 2, "consider"), ("female", 3, "recommend"),
])
def test_cha2ds2_vasc_thresholds_by_sex(sex, points, action):
    finding = oac(patient(sex=sex), points, sex)
    if action is None:
        assert finding.status is Status.NOT_APPLICABLE and not finding.suggestions
        assert "no anticoagulation" in finding.message
        return
    assert finding.details.action == action
    assert finding.recommendation.guideline == "2023 ACC/AHA/ACCP/HRS AF guideline"
    if action == "recommend":
        assert finding.recommendation.strength == "Class 1, LOE A" and finding.severity is Severity.WARNING
    else:
        assert finding.recommendation.strength == "Class 2a, LOE A" and finding.severity is Severity.INFO
    assert finding.follows_from == ("cha2ds2-vasc:score", "has-bled:score")  # one card with both scores


def test_doacs_are_alternatives_apixaban_first():
    finding = oac(patient(egfr=80.0), 3)
    assert rxnorm_codes(finding) == [APIXABAN_5, RIVAROXABAN, EDOXABAN, DABIGATRAN]
    [suggestion] = finding.suggestions
    assert suggestion.is_choice and suggestion.proposals[0].recommended == 0
    first = options(finding)[0]
    assert first["dosageInstruction"][0]["timing"]["repeat"]["frequency"] == 2  # twice daily
    assert "Class 1, LOE A" in finding.message  # DOAC over warfarin


def with_crcl(crcl: float, egfr: float = 80.0):
    """A man of 68 with creatinine 1.0 mg/dL: Cockcroft-Gault (140 - 68) x weight / (72 x 1.0) is his weight in kg.
    The eGFR is set apart from it, to show it is not what the labels' ranges are judged by."""
    return features(age_years=68, sex="male", atrial_fibrillation=True, weight_kg=crcl, creatinine_mgdl=1.0,
                    egfr_mlmin173m2=egfr)


@pytest.mark.parametrize("crcl, codes", [
    (96.0, [APIXABAN_5, RIVAROXABAN, DABIGATRAN]),  # edoxaban: not above CrCl 95 (boxed warning)
    (95.0, [APIXABAN_5, RIVAROXABAN, EDOXABAN, DABIGATRAN]),
    (95.4, [APIXABAN_5, RIVAROXABAN, DABIGATRAN]),  # rounds to 95 but is above it: the upper bound is unrounded
    (51.0, [APIXABAN_5, RIVAROXABAN, EDOXABAN, DABIGATRAN]),
    (50.0, [APIXABAN_5, DABIGATRAN]),  # rivaroxaban 20 mg and edoxaban 60 mg need > 50
    (31.0, [APIXABAN_5, DABIGATRAN]),
    (30.0, [APIXABAN_5]),  # dabigatran 150 mg needs > 30
])
def test_each_doac_only_in_its_label_range_of_creatinine_clearance(crcl, codes):
    finding = oac(with_crcl(crcl, egfr=70.0), 3)
    assert rxnorm_codes(finding) == codes
    [judged_by] = [e for e in finding.inputs if e.name == "crcl_cockcroft_gault_mlmin"]
    assert judged_by.value == round(crcl) and judged_by.unit == "mL/min"
    assert [e.name for e in judged_by.derived_from] == ["creatinine_mgdl", "age_years", "sex", "weight_kg"]
    if len(codes) < 4:
        assert "Not offered at the standard dose" in finding.message
        assert f"CrCl {crcl:.0f} mL/min outside its standard-dose range" in finding.message
        if crcl == 95.4:
            assert "(95.4 before rounding, above 95)" in finding.message
        assert f"(labels: CrCl {crcl:.0f} mL/min (Cockcroft–Gault, " in finding.message
    else:
        assert "Not offered" not in finding.message


def test_an_elderly_low_weight_woman_is_judged_by_her_crcl_not_her_egfr():
    """85 years, 50 kg, creatinine 0.9 mg/dL: eGFR (CKD-EPI 2021) about 63, above 50, but Cockcroft-Gault
    (140 - 85) x 50 / (72 x 0.9) x 0.85 = 36 mL/min: rivaroxaban 20 mg and edoxaban 60 mg are not her dose."""
    fs = features(age_years=85, sex="female", atrial_fibrillation=True, weight_kg=50.0, creatinine_mgdl=0.9,
                  egfr_mlmin173m2=63.0)
    finding = oac(fs, 4, "female")
    assert rxnorm_codes(finding) == [APIXABAN_2_5, DABIGATRAN]  # age >= 80 and weight <= 60 kg: apixaban 2.5 mg
    assert "rivaroxaban-20: CrCl 36 mL/min outside its standard-dose range" in finding.message
    assert "edoxaban-60: CrCl 36 mL/min outside its standard-dose range" in finding.message
    assert finding.details.left_out == ("rivaroxaban-20: CrCl 36 mL/min outside its standard-dose range",
                                        "edoxaban-60: CrCl 36 mL/min outside its standard-dose range")


@pytest.mark.parametrize("missing, named", [("weight_kg", "weight"), ("creatinine_mgdl", "serum creatinine"),
                                            ("sex", "sex"), ("age_years", "age")])
def test_without_weight_or_creatinine_the_doacs_dosed_by_crcl_are_left_out(missing, named):
    """The eGFR does not stand in for the CrCl the labels define their ranges on."""
    facts = dict(age_years=70, sex="male", atrial_fibrillation=True, weight_kg=80.0, creatinine_mgdl=1.0,
                 egfr_mlmin173m2=80.0)
    del facts[missing]
    finding = oac(features(**facts), 2)
    assert rxnorm_codes(finding) == [APIXABAN_5]
    # The missing input named once, for the three DOACs dosed by CrCl.
    assert finding.details.left_out == (f"rivaroxaban-20, edoxaban-60, dabigatran-150: CrCl unknown (no {named})",)
    assert "(labels: CrCl (Cockcroft–Gault); the dose is checked again when the order is signed)" in finding.message
    assert not [e for e in finding.inputs if e.name == "crcl_cockcroft_gault_mlmin"]
    # One option: the button names its drug and dose, not "a DOAC".
    assert [s.label for s in finding.suggestions] == ["Apixaban 5 mg twice daily"]


def test_each_doac_option_names_its_label_among_the_sources():
    data = load_data("af_anticoagulation_2023.json")
    sources = data["_about"]["sources"]
    assert "acc-aha-2023" in sources  # the guideline stays cited
    for option in data["doac_options"]:
        assert option["label"] in sources


@pytest.mark.parametrize("facts, code", [
    (dict(age_years=80, weight_kg=60.0), APIXABAN_2_5),
    (dict(age_years=80, creatinine_mgdl=1.5), APIXABAN_2_5),
    (dict(age_years=79, weight_kg=60.0, creatinine_mgdl=1.49), APIXABAN_5),
    (dict(age_years=85, weight_kg=61.0, creatinine_mgdl=1.4), APIXABAN_5),
])
def test_apixaban_dose_reduction_needs_two_label_criteria(facts, code):
    base = dict(sex="male", atrial_fibrillation=True, egfr_mlmin173m2=60.0, weight_kg=80.0, creatinine_mgdl=1.0,
                age_years=70)
    base.update(facts)
    finding = oac(features(**base), 4)
    assert rxnorm_codes(finding)[0] == code


def with_condition(fs, name: str, note: str):
    """The condition as the adapter writes it: its coding's display and code in the note."""
    fs.put(Evidence(name=name, label=feature_label(name), value=True, source=f"Condition/{name}", note=note))
    return fs


@pytest.mark.parametrize("flag, note", [
    ("mechanical_heart_valve", "Presence of mechanical heart valve (ICD-10-CM Z95.2)"),
    ("mechanical_heart_valve", "Presence of prosthetic heart valve (ICD-10-CM Z95.2)"),
    ("mitral_stenosis", "Rheumatic mitral stenosis (ICD-10-CM I05.0)"),
])
def test_warfarin_not_a_doac_with_a_prosthetic_valve_or_rheumatic_mitral_stenosis(flag, note):
    finding = oac(with_condition(patient(), flag, note), 3)
    assert rxnorm_codes(finding) == [WARFARIN]
    assert finding.details.doac_excluded_by == flag
    assert "warfarin, not a DOAC" in finding.recommendation.text
    resource = options(finding)[0]
    assert "INR of 2.0-3.0" in resource["dosageInstruction"][0]["text"]


def test_a_valve_of_uncoded_type_is_to_be_confirmed_a_mechanical_one_is_not():
    uncoded = oac(with_condition(patient(), "mechanical_heart_valve", "Presence of prosthetic heart valve "
                                                                       "(ICD-10-CM Z95.2)"), 3)
    assert "type not coded" in uncoded.message and "confirm the valve type" in uncoded.message
    assert "if it is bioprosthetic, a DOAC is reasonable" in uncoded.message
    mechanical = oac(with_condition(patient(), "mechanical_heart_valve", "Mechanical aortic valve (ICD-10-CM Z95.2)"),
                     3)
    assert "A mechanical heart valve is recorded" in mechanical.message
    assert "confirm the valve type" not in mechanical.message


CONFIRM_MITRAL = ("Mitral stenosis of uncoded type: if rheumatic and moderate or severe, warfarin is recommended over "
                  "a DOAC (2023 ACC/AHA/ACCP/HRS AF) — confirm the type and severity.")


@pytest.mark.parametrize("note", ["Nonrheumatic mitral (valve) stenosis (ICD-10-CM I34.2)",
                                  "Mitral valve stenosis (SNOMED 79619009)"])
def test_a_non_rheumatic_or_uncoded_mitral_stenosis_does_not_exclude_a_doac(note):
    finding = oac(with_condition(patient(), "mitral_stenosis", note), 3)
    assert rxnorm_codes(finding)[0] == APIXABAN_5 and finding.details.doac_excluded_by is None
    assert "Condition/mitral_stenosis" in [e.source for e in finding.inputs]


def test_only_a_mitral_stenosis_of_uncoded_type_asks_to_confirm_it():
    uncoded = oac(with_condition(patient(), "mitral_stenosis", "Mitral valve stenosis (SNOMED 79619009)"), 3)
    assert CONFIRM_MITRAL in uncoded.message
    non_rheumatic = oac(with_condition(patient(), "mitral_stenosis",
                                       "Nonrheumatic mitral (valve) stenosis (ICD-10-CM I34.2)"), 3)
    assert "confirm the type" not in non_rheumatic.message
    rheumatic = oac(with_condition(patient(), "mitral_stenosis", "Rheumatic mitral stenosis (ICD-10-CM I05.0)"), 3)
    assert "confirm the type" not in rheumatic.message and rxnorm_codes(rheumatic) == [WARFARIN]
    assert "confirm the type" not in oac(patient(), 3).message


def test_on_an_anticoagulant_a_mitral_stenosis_of_uncoded_type_is_still_to_be_confirmed():
    fs = with_medications(with_condition(patient(), "mitral_stenosis", "Mitral valve stenosis (SNOMED 79619009)"),
                          medication("apixaban 5 MG Oral Tablet", "anticoagulant", "doac"))
    finding = oac(fs, 4)
    assert finding.details.action == "continue" and CONFIRM_MITRAL in finding.message


def test_already_anticoagulated_gets_no_suggestion():
    fs = with_medications(patient(), medication("apixaban 5 MG Oral Tablet", "anticoagulant", "doac"))
    finding = oac(fs, 4)
    assert finding.status is Status.COMPUTED and not finding.suggestions
    assert finding.details.action == "continue" and finding.severity is Severity.INFO
    assert "DOAC is recommended over warfarin" not in finding.message


def test_on_warfarin_the_card_says_a_doac_is_preferred():
    fs = with_medications(patient(), medication("warfarin sodium 5 MG Oral Tablet", "anticoagulant",
                                                "vitamin_k_antagonist"))
    finding = oac(fs, 4)
    assert not finding.suggestions and "A DOAC is recommended over warfarin (Class 1, LOE A)" in finding.message


def test_aspirin_alone_is_flagged_as_no_substitute():
    fs = with_medications(patient(), medication("aspirin 81 MG Oral Tablet", "antiplatelet", ingredients=("aspirin",)))
    finding = oac(fs, 3)
    assert finding.suggestions  # anticoagulation is still proposed
    assert "aspirin alone is not a substitute for anticoagulation (Class 3: Harm, LOE B-R)" in finding.message


def test_has_bled_names_the_modifiable_factors_and_does_not_withhold():
    finding = oac(patient(), 3, "male", "H", "D_drugs", "E")
    assert finding.suggestions and finding.severity is Severity.WARNING  # a high HAS-BLED does not stop it
    assert "HAS-BLED 3 (high): address uncontrolled hypertension" in finding.message
    assert "antiplatelet drug or NSAID" in finding.message
    assert "elderly" not in finding.message  # age is not modifiable
    assert "not a reason to withhold anticoagulation" in finding.message
    assert len(finding.details.modifiable_bleeding_factors) == 2


def test_no_score_no_suggestion():
    finding = one(AF, patient())
    assert finding.status is Status.NOT_APPLICABLE


def test_pregnancy_is_for_specialist_care():
    finding = oac(patient(sex="female", pregnant=True), 3, "female")
    assert finding.status is Status.NOT_APPLICABLE and "pregnancy" in finding.message


def shown(finding, name):
    """The evidence of ``name`` among the finding's inputs or what they were derived from."""
    return [e for i in finding.inputs for e in (i, *i.derived_from) if e.name == name]


@pytest.mark.parametrize("facts, code", [
    (dict(age_years=85, creatinine_mgdl=1.6), APIXABAN_2_5),  # two criteria met without the weight
    (dict(age_years=85, creatinine_mgdl=1.0), APIXABAN_5),  # one met, the weight unknown: the note says so
    (dict(age_years=70, creatinine_mgdl=1.0), APIXABAN_5),
])
def test_without_a_weight_apixaban_is_dosed_by_what_is_recorded_and_shows_it(facts, code):
    fs = features(sex="male", atrial_fibrillation=True, egfr_mlmin173m2=60.0, **facts)
    finding = one(AF, fs, cha2ds2_vasc(4, "male"))  # no HAS-BLED finding either
    assert rxnorm_codes(finding) == [code]
    for name in ("age_years", "creatinine_mgdl"):
        [evidence] = shown(finding, name)
        assert evidence.value == facts[name] and evidence.effective is not None
    assert shown(finding, "creatinine_mgdl")[0].unit == "mg/dL"
    assert not shown(finding, "weight_kg")
    if code == APIXABAN_5 and facts["age_years"] >= 80:
        assert "Apixaban dose: weight <= 60 kg not recorded" in finding.message
