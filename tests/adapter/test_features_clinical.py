"""Diagnosis and risk-score features (issue 3): labs, vital signs, problem-list booleans, medications,
family history, pregnancy, physical activity and the hypercapnic SpO2 target - from hand-written
fixtures and from small built resources."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine.inputs import FEATURE_LABELS
from fhir_adapter import codes
from fhir_adapter.features import extract_features

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "patients"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
AS_OF = date(2024, 6, 1)
RECENT = "2024-05-31T22:00:00Z"  # inside the 30-day vital-sign window
NOW = datetime(2024, 6, 1, 14, 0, tzinfo=timezone.utc)  # 10:00 in New York
EDT = timezone(timedelta(hours=-4))


# -- builders ----------------------------------------------------------------------------------------
def patient(gender="female", birth="1964-06-02") -> dict:
    return {"resourceType": "Patient", "id": "p1", "gender": gender, "birthDate": birth}


def obs(oid, code, value=None, unit=None, when="2024-03-01", status="final", ucum=None, system=LOINC, **extra):
    res = {"resourceType": "Observation", "id": oid, "status": status, "subject": {"reference": "Patient/p1"},
           "code": {"coding": [{"system": system, "code": code}]}}
    if when is not None:
        res["effectiveDateTime"] = when
    if value is not None:
        res["valueQuantity"] = {"value": value}
        if unit is not None:
            res["valueQuantity"].update({"unit": unit, "system": UCUM, "code": ucum or unit})
    res.update(extra)
    return res


def answer(system, code):
    return {"coding": [{"system": system, "code": code}]}


def condition(cid, system, code, clinical="active", verification="confirmed", onset="2020-01-01", **extra):
    res = {"resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/p1"},
           "code": {"coding": [{"system": system, "code": code}]}, "onsetDateTime": onset}
    if clinical:
        res["clinicalStatus"] = answer("http://terminology.hl7.org/CodeSystem/condition-clinical", clinical)
    if verification:
        res["verificationStatus"] = answer("http://terminology.hl7.org/CodeSystem/condition-ver-status", verification)
    res.update(extra)
    return res


def med(mid, code=None, text=None, system=RXNORM, status="active"):
    concept = {}
    if code:
        concept["coding"] = [{"system": system, "code": code}]
    if text:
        concept["text"] = text
    return {"resourceType": "MedicationRequest", "id": mid, "status": status, "intent": "order",
            "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": concept, "authoredOn": "2024-01-01"}


def family(fid, relationship, code="44054006", system=SNOMED, status="completed"):
    return {"resourceType": "FamilyMemberHistory", "id": fid, "status": status, "patient": {"reference": "Patient/p1"},
            "relationship": answer(ROLE, relationship), "condition": [{"code": answer(system, code)}]}


def goal(gid, low=88, high=92, status="active", code="59408-5", text="Oxygen saturation target"):
    target = {"measure": answer(LOINC, code), "detailRange": {}}
    if low is not None:
        target["detailRange"]["low"] = {"value": low, "unit": "%", "system": UCUM, "code": "%"}
    if high is not None:
        target["detailRange"]["high"] = {"value": high, "unit": "%", "system": UCUM, "code": "%"}
    return {"resourceType": "Goal", "id": gid, "lifecycleStatus": status, "subject": {"reference": "Patient/p1"},
            "description": {"text": text}, "startDate": "2023-01-01", "target": [target]}


def procedure(pid_, code, when, status="completed"):
    return {"resourceType": "Procedure", "id": pid_, "status": status, "subject": {"reference": "Patient/p1"},
            "code": answer(SNOMED, code), "performedDateTime": when}


def run(*resources, as_of=AS_OF, **kw):
    return extract_features([patient(), *resources], as_of=as_of, **kw)


def reasons(fs, name):
    return [p.reason for p in fs.problems if p.name == name]


# -- fixture: acute admission with atrial fibrillation ------------------------------------------------
@pytest.fixture(scope="module")
def acute():
    data = json.loads((FIXTURES / "adapter-acute-af.json").read_text())
    return extract_features(data, as_of=AS_OF, now=NOW)


def test_acute_labs_converted_from_si_units(acute):
    assert acute.value("hemoglobin_gdl") == pytest.approx(11.8)
    assert acute.get("hemoglobin_gdl").note == "converted from 118 g/L"
    assert acute.value("platelets_10e9l") == 95 and acute.get("platelets_10e9l").unit == "10^9/L"
    assert acute.value("ast_ul") == 88 and acute.value("alt_ul") == 40  # [IU]/L is U/L
    assert acute.value("bilirubin_total_mgdl") == pytest.approx(34.2 / 17.1)
    assert acute.value("inr") == 2.6 and acute.get("inr").unit is None  # INR sent without a unit
    assert acute.value("cystatin_c_mgl") == 1.4
    assert acute.value("uacr_mgg") == pytest.approx(35 * 8.842)  # 35 mg/mmol = 309.5 mg/g (A3)
    assert acute.get("uacr_mgg").note == "converted from 35 mg/mmol"
    assert acute.value("waist_cm") == pytest.approx(40.5 * 2.54)
    assert acute.get("ast_ul").source == "Observation/l-ast"


def test_acute_vitals_keep_time_and_zone(acute):
    rr = acute.get("respiratory_rate_min")
    assert rr.value == 24 and rr.unit == "/min"
    assert rr.effective == datetime(2024, 6, 1, 9, 40, tzinfo=EDT)
    assert rr.effective.utcoffset() == timedelta(hours=-4)
    assert NOW - rr.effective == timedelta(minutes=20)  # recency is computable against FeatureSet.now
    assert acute.now == NOW
    assert acute.value("heart_rate_min") == 112  # "beats/minute" text, /min UCUM code
    assert acute.value("temperature_c") == pytest.approx((101.3 - 32) * 5 / 9)  # 38.5 Cel from degF
    assert acute.get("temperature_c").note == "converted from 101.3 \u00b0F"
    assert acute.value("spo2_pct") == 90 and acute.value("gcs_total") == 14
    assert (acute.value("sbp_mmhg"), acute.value("dbp_mmhg")) == (98, 60)


def test_acute_oxygen_from_pulse_oximetry_component(acute):
    o2 = acute.get("on_supplemental_o2")
    assert o2.value is True and o2.source == "Observation/v-spo2"
    assert o2.note == "inhaled oxygen flow 2 L/min"


def test_acute_consciousness_new_confusion_and_history(acute):
    assert acute.value("consciousness_avpu") == "C"
    assert acute.get("consciousness_avpu").note == "Acute confusion (SNOMED 130987000)"
    assert [e.value for e in acute.history["consciousness_avpu"]] == ["C", "A"]  # yesterday's valueString "A"


def test_acute_hypercapnic_target_from_goal(acute):
    ev = acute.get("hypercapnic_target")
    assert ev.value is True and ev.source == "Goal/g-spo2" and ev.note == "SpO2 target 88-92 % (Goal)"


@pytest.mark.parametrize("name, source, fragment", [
    ("atrial_fibrillation", "Condition/c-af", "I48.0"),
    ("heart_failure", "Condition/c-hf", "history counts"),  # resolved heart failure still counts
    ("stroke_tia_thromboembolism", "Condition/c-tia", "Z86.73"),
    ("vascular_disease", "Condition/c-pad", "I70.213"),
    ("chronic_kidney_disease", "Condition/c-ckd", "N18.31"),
    ("liver_disease", "Condition/c-cirrhosis", "19943007"),
    ("bleeding_history", "Condition/c-gibleed", "history counts"),
    ("alcohol_excess", "Condition/c-alcohol", "F10.20"),
    ("obesity", "Condition/c-obesity", "E66.01"),
    ("familial_hypercholesterolemia", "Condition/c-fh", "398036000"),
    ("anemia", "Condition/c-anemia", "D63.1"),
    ("gestational_diabetes_history", "Condition/c-gdm", "Z86.32"),
    ("anticoagulant", "MedicationRequest/m-apixaban", "1364430"),
    ("antiplatelet_or_nsaid", "MedicationRequest/m-aspirin", "matched by name 'aspirin'"),
    ("family_history_diabetes", "FamilyMemberHistory/fmh-mother", "first-degree relative (mother)"),
])
def test_acute_true_booleans_carry_their_source(acute, name, source, fragment):
    ev = acute.get(name)
    assert ev.value is True and ev.source == source and fragment in ev.note


def test_acute_false_booleans_and_derived_egfr(acute):
    for name in ("prediabetes", "pregnant", "dialysis_or_transplant", "diabetes"):
        assert acute.value(name) is False and acute.get(name).source is None
    assert acute.value("physically_active") is False
    assert acute.get("physically_active").note.startswith("60 min/week")
    # CKD-EPI 2021: female 68 y, Scr 1.3 mg/dL -> 142 x (1.3/0.7)^-1.2 x 0.9938^68 x 1.012 = 44.8
    assert acute.value("egfr_mlmin173m2") == pytest.approx(44.8, abs=0.1)
    assert acute.problems == []


# -- fixture: diagnosis screening ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def screen():
    return extract_features(json.loads((FIXTURES / "adapter-diagnosis-screen.json").read_text()), as_of=AS_OF)


def test_screen_glucose_tests(screen):
    assert screen.value("glucose_fasting_mgdl") == pytest.approx(7.2 * 18.016)  # 129.7 mg/dL >= 126
    assert screen.get("glucose_fasting_mgdl").note == "converted from 7.2 mmol/L"
    ogtt = screen.get("glucose_ogtt_2h_mgdl")
    assert ogtt.value == 212 and "does not state the glucose dose" in ogtt.note
    assert screen.value("glucose_random_mgdl") == 143


def test_screen_repeated_results_for_detectors(screen):
    a1c = screen.history["hba1c_pct"]
    assert [(e.source, round(e.value, 2)) for e in a1c] == [("Observation/a1c-2", 6.54), ("Observation/a1c-1", 6.6)]
    assert [e.value for e in screen.history["egfr_mlmin173m2"]] == [52, 55, 58]
    egfr = screen.history["egfr_mlmin173m2"]
    assert (egfr[0].effective - egfr[-1].effective).days > 90  # KDIGO chronicity is visible
    assert [round(e.value, 1) for e in screen.history["uacr_mgg"]] == [36.3, 41.0]
    assert [e.value for e in screen.history["sbp_mmhg"]] == [146, 138, 142]
    assert [e.source for e in screen.history["dbp_mmhg"]] == ["Observation/bp-3", "Observation/bp-2",
                                                              "Observation/bp-1"]


def test_screen_other_features(screen):
    preg = screen.get("pregnant")
    assert preg.value is False and preg.source == "Observation/preg"
    active = screen.get("physically_active")
    assert active.value is True and active.note.startswith("5 days/week x 40 min/day = 200 min/week")
    fh = screen.get("family_history_diabetes")
    assert fh.value is False and "second-degree relative(s) only: maternal grandmother" in fh.note
    dialysis = screen.get("dialysis_or_transplant")
    assert dialysis.value is True and dialysis.source == "Procedure/p-hd"
    assert screen.value("gestational_diabetes_history") is True  # resolved GDM is a history
    assert screen.value("hypertension") is False  # the I10 entry is refuted


def test_screen_problem_list_codes(screen):
    # asthma (system given as the SNOMED OID) only: the sinusitis is resolved, I10 refuted, GDM resolved
    assert screen.condition_codes == {(SNOMED, "195967001")}


# -- labs from built resources ------------------------------------------------------------------------
@pytest.mark.parametrize("code, value, unit, name, expected", [
    ("33863-2", 1.1, "mg/L", "cystatin_c_mgl", 1.1),
    ("14959-1", 30, "mg/g", "uacr_mgg", 30),
    ("32294-1", 3.4, "mg/mmol", "uacr_mgg", 3.4 * 8.842),
    ("1558-6", 126, "mg/dL", "glucose_fasting_mgdl", 126),
    ("20438-8", 11.1, "mmol/L", "glucose_ogtt_2h_mgdl", 11.1 * 18.016),
    ("2339-0", 99, "mg/dL", "glucose_random_mgdl", 99),
    ("15074-8", 5.5, "mmol/L", "glucose_random_mgdl", 5.5 * 18.016),
    ("59260-0", 7.45, "mmol/L", "hemoglobin_gdl", 7.45 * 1.6114),
    ("26515-7", 150000, "/uL", "platelets_10e9l", 150),
    ("30239-8", 0.5, "ukat/L", "ast_ul", 30),
    ("1744-2", 45, "U/L", "alt_ul", 45),
    ("1975-2", 1.2, "mg/dL", "bilirubin_total_mgdl", 1.2),
    ("34714-6", 1.1, "{INR}", "inr", 1.1),
    ("8280-0", 94, "cm", "waist_cm", 94),
])
def test_lab_codes_and_units(code, value, unit, name, expected):
    fs = run(obs("x", code, value, unit))
    assert fs.value(name) == pytest.approx(expected)
    assert fs.get(name).source == "Observation/x"


@pytest.mark.parametrize("code, value, unit, name", [
    ("1558-6", 126, "mmol/L", "glucose_fasting_mgdl"),  # a mg/dL value labelled mmol/L = 2270 mg/dL
    ("718-7", 118, "g/dL", "hemoglobin_gdl"),  # a g/L value labelled g/dL
    ("1975-2", 342, "mg/dL", "bilirubin_total_mgdl"),  # a umol/L value labelled mg/dL
    ("6301-6", 25, None, "inr"),
    ("9279-1", 120, "/min", "respiratory_rate_min"),
    ("8310-5", 98.6, "Cel", "temperature_c"),  # Fahrenheit value labelled Celsius
    ("59408-5", 0.95, "%", "spo2_pct"),  # a fraction labelled percent
    ("9269-2", 2, None, "gcs_total"),
])
def test_mislabelled_or_implausible_values(code, value, unit, name):
    fs = run(obs("x", code, value, unit, when="2024-05-31"))
    assert not fs.has(name)
    assert reasons(fs, name)[0].startswith("implausible value")


def test_urine_bilirubin_and_capillary_glucose_are_not_read():
    fs = run(obs("u", "20505-4", 1, "mg/dL"), obs("g", "41653-7", 250, "mg/dL"))
    assert not fs.has("bilirubin_total_mgdl") and not fs.has("glucose_random_mgdl")


def test_ogtt_with_75g_code_has_no_dose_note():
    fs = run(obs("x", "20438-8", 199, "mg/dL"))
    assert fs.value("glucose_ogtt_2h_mgdl") == 199 and fs.get("glucose_ogtt_2h_mgdl").note is None


# -- vital signs --------------------------------------------------------------------------------------
def test_vital_signs_panel_components():
    def member(code, value, unit):
        return {"code": answer(LOINC, code), "valueQuantity": {"value": value, "unit": unit, "system": UCUM,
                                                               "code": unit}}

    panel = obs("vs", "85353-1", when="2024-06-01T08:00:00Z", component=[
        member("9279-1", 16, "/min"), member("8867-4", 70, "/min"), member("8310-5", 36.8, "Cel"),
        member("2708-6", 97, "%")])
    fs = run(panel)
    assert [fs.value(n) for n in ("respiratory_rate_min", "heart_rate_min", "temperature_c", "spo2_pct")] == [
        16, 70, 36.8, 97]
    assert fs.get("heart_rate_min").source == "Observation/vs"


def test_vitals_window_is_30_days():
    fs = run(obs("hr", "8867-4", 80, "/min", when="2024-05-01"), obs("rr", "9279-1", 14, "/min", when="2024-05-02"))
    assert not fs.has("heart_rate_min")
    assert fs.missing["heart_rate_min"].reason == (
        "latest heart rate result (2024-05-01) older than the 30-day look-back")
    assert fs.value("respiratory_rate_min") == 14  # exactly 30 days before as_of: inside


@pytest.mark.parametrize("resource, expected, note", [
    (obs("f", "3150-0", 0.21, "1", when=RECENT), False, "inhaled oxygen concentration 21 %"),
    (obs("f", "3150-0", 28, "%", when=RECENT), True, "inhaled oxygen concentration 28 %"),
    (obs("f", "3151-8", 0, "L/min", when=RECENT), False, "inhaled oxygen flow 0 L/min"),
    (obs("d", "41925-9", when=RECENT, valueCodeableConcept=answer(SNOMED, "722742002")), False, "722742002 (SNOMED"),
    (obs("d", "41925-9", when=RECENT, valueString="Room air"), False, "oxygen delivery recorded as 'Room air'"),
    (obs("d", "41925-9", when=RECENT, valueCodeableConcept={"text": "Nasal cannula"}), True,
     "oxygen delivery device 'Nasal cannula'"),
])
def test_supplemental_oxygen_sources(resource, expected, note):
    fs = run(resource)
    assert fs.value("on_supplemental_o2") is expected
    assert fs.get("on_supplemental_o2").note.startswith(note.split(" (")[0])


def test_supplemental_oxygen_newest_wins_and_missing_when_undocumented():
    fs = run(obs("old", "3151-8", 4, "L/min", when="2024-05-30T10:00:00Z"),
             obs("new", "3150-0", 21, "%", when="2024-05-31T10:00:00Z"))
    assert fs.value("on_supplemental_o2") is False and fs.get("on_supplemental_o2").source == "Observation/new"
    assert [e.value for e in fs.history["on_supplemental_o2"]] == [False, True]
    fs = run()
    assert fs.missing["on_supplemental_o2"].reason == (
        "no oxygen flow, FiO2 or oxygen-delivery result in the last 30 days")


@pytest.mark.parametrize("value, letter", [
    ({"valueCodeableConcept": answer(SNOMED, "248234008")}, "A"),
    ({"valueCodeableConcept": answer(SNOMED, "300202002")}, "V"),
    ({"valueCodeableConcept": answer(SNOMED, "450847001")}, "P"),
    ({"valueCodeableConcept": answer(SNOMED, "422768004")}, "U"),
    ({"valueCodeableConcept": answer(SNOMED, "286933003")}, "C"),
    ({"valueString": "v"}, "V"),
    ({"valueString": "Responds to pain"}, "P"),
    ({"valueCodeableConcept": {"text": "New confusion"}}, "C"),
])
def test_acvpu_answers(value, letter):
    fs = run(obs("c", "67775-7", when="2024-06-01T09:00:00Z", **value))
    assert fs.value("consciousness_avpu") == letter


def test_acvpu_uk_snomed_observable_and_unknown_answer():
    fs = run(obs("c", "1104441000000107", system=SNOMED, when="2024-06-01",
                 valueCodeableConcept=answer(SNOMED, "248234008")))
    assert fs.value("consciousness_avpu") == "A"
    for text in ("drowsy", "not alert"):
        fs = run(obs("c", "67775-7", when="2024-06-01", valueString=text))
        assert not fs.has("consciousness_avpu")
        assert "not a recognised ACVPU" in reasons(fs, "consciousness_avpu")[0]
    fs = run(obs("c", "67775-7", when="2024-06-01", valueString="Not alert, responds to voice"))
    assert fs.value("consciousness_avpu") == "V"


# -- problem-list booleans ----------------------------------------------------------------------------
@pytest.mark.parametrize("name, system, code", [
    ("atrial_fibrillation", SNOMED, "49436004"), ("atrial_fibrillation", SNOMED, "5370000"),
    ("atrial_fibrillation", ICD10CM, "I48.92"),
    ("heart_failure", SNOMED, "84114007"), ("heart_failure", ICD10CM, "I50.22"), ("heart_failure", ICD10CM, "I11.0"),
    ("stroke_tia_thromboembolism", SNOMED, "230690007"), ("stroke_tia_thromboembolism", SNOMED, "266257000"),
    ("stroke_tia_thromboembolism", ICD10CM, "I63.9"), ("stroke_tia_thromboembolism", ICD10CM, "G45.9"),
    ("stroke_tia_thromboembolism", ICD10CM, "I74.3"),
    ("vascular_disease", SNOMED, "22298006"), ("vascular_disease", ICD10CM, "I25.2"),
    ("vascular_disease", ICD10CM, "I70.0"), ("vascular_disease", ICD10CM, "I73.9"),
    ("chronic_kidney_disease", SNOMED, "709044004"), ("chronic_kidney_disease", SNOMED, "431855005"),
    ("chronic_kidney_disease", ICD10CM, "N18.4"), ("chronic_kidney_disease", ICD10CM, "E11.22"),
    ("dialysis_or_transplant", ICD10CM, "Z99.2"), ("dialysis_or_transplant", ICD10CM, "Z94.0"),
    ("liver_disease", SNOMED, "19943007"), ("liver_disease", ICD10CM, "K70.30"), ("liver_disease", ICD10CM, "K74.60"),
    ("bleeding_history", ICD10CM, "K92.2"), ("bleeding_history", ICD10CM, "I61.9"),
    ("bleeding_history", ICD10CM, "D68.0"),
    ("alcohol_excess", ICD10CM, "F10.20"), ("alcohol_excess", SNOMED, "7200002"),
    ("obesity", SNOMED, "414916001"), ("obesity", SNOMED, "162864005"), ("obesity", ICD10CM, "E66.9"),
    ("obesity", ICD10CM, "Z68.41"),
    ("familial_hypercholesterolemia", SNOMED, "398036000"), ("familial_hypercholesterolemia", ICD10CM, "E78.01"),
    ("anemia", SNOMED, "271737000"), ("anemia", ICD10CM, "D50.9"), ("anemia", ICD10CM, "D64.9"),
    ("prediabetes", SNOMED, "714628002"), ("prediabetes", SNOMED, "15777000"), ("prediabetes", ICD10CM, "R73.03"),
    ("gestational_diabetes_history", SNOMED, "11687002"), ("gestational_diabetes_history", ICD10CM, "O24.419"),
])
def test_condition_codes_make_booleans_true(name, system, code):
    fs = run(condition("c", system, code))
    assert fs.value(name) is True and fs.get(name).source == "Condition/c"


@pytest.mark.parametrize("name, system, code", [
    ("stroke_tia_thromboembolism", ICD10CM, "I26.99"),  # pulmonary embolism: venous, not systemic
    ("stroke_tia_thromboembolism", ICD10CM, "Z86.711"),
    ("stroke_tia_thromboembolism", ICD10CM, "G45.4"),  # transient global amnesia
    ("alcohol_excess", ICD10CM, "F10.21"),  # alcohol dependence in remission
    ("alcohol_excess", ICD10CM, "F10.11"),
    ("anemia", ICD10CM, "D57.3"),  # sickle-cell trait
    ("anemia", ICD10CM, "D56.3"),  # thalassaemia minor
    ("obesity", ICD10CM, "E66.3"),  # overweight
    ("obesity", ICD10CM, "Z68.29"),  # BMI 29
    ("chronic_kidney_disease", ICD10CM, "N17.9"),  # acute kidney injury
    ("prediabetes", ICD10CM, "E11.9"),
])
def test_near_miss_codes_do_not_count(name, system, code):
    fs = run(condition("c", system, code))
    assert fs.value(name) is False


@pytest.mark.parametrize("name, code, counts", [
    ("atrial_fibrillation", "I48.0", True), ("stroke_tia_thromboembolism", "I63.9", True),
    ("bleeding_history", "K92.2", True), ("familial_hypercholesterolemia", "E78.01", True),
    ("chronic_kidney_disease", "N18.3", False), ("anemia", "D50.9", False), ("obesity", "E66.9", False),
    ("alcohol_excess", "F10.20", False), ("prediabetes", "R73.03", False), ("liver_disease", "K74.60", False),
])
def test_history_counts_only_for_lifetime_items(name, code, counts):
    fs = run(condition("c", ICD10CM, code, clinical="resolved"))
    assert fs.value(name) is counts
    if not counts:
        assert "1 inactive or resolved entry not counted" in fs.get(name).note


def test_absent_booleans_are_false_with_a_note():
    fs = run()
    for name in ("atrial_fibrillation", "heart_failure", "chronic_kidney_disease", "bleeding_history", "anemia",
                 "antiplatelet_or_nsaid", "anticoagulant", "pregnant", "family_history_diabetes",
                 "hypercapnic_target", "dialysis_or_transplant", "gestational_diabetes_history"):
        ev = fs.get(name)
        assert ev.value is False and ev.source is None and ev.note, name


# -- dialysis, pregnancy, family history, hypercapnic target -----------------------------------------
def test_dialysis_procedure_recent_counts_old_does_not():
    fs = run(procedure("hd", "302497006", "2024-03-04"))  # 89 days before as_of
    assert fs.value("dialysis_or_transplant") is True
    fs = run(procedure("hd", "302497006", "2024-03-02"))  # 91 days
    assert fs.value("dialysis_or_transplant") is False
    assert "1 older dialysis procedure not counted" in fs.get("dialysis_or_transplant").note


def test_kidney_transplant_counts_whenever_done():
    fs = run(procedure("tx", "70536003", "2010-05-05"))
    assert fs.value("dialysis_or_transplant") is True and fs.get("dialysis_or_transplant").source == "Procedure/tx"
    fs = run(procedure("tx", "70536003", "2010-05-05", status="not-done"))
    assert fs.value("dialysis_or_transplant") is False


def test_pregnancy_condition_and_status_newest_wins():
    fs = run(condition("p", SNOMED, "72892002", onset="2024-02-01"))
    assert fs.value("pregnant") is True and fs.get("pregnant").source == "Condition/p"
    fs = run(condition("p", SNOMED, "72892002", onset="2024-02-01"),
             obs("s", "82810-3", when="2024-05-20", valueCodeableConcept=answer(LOINC, "LA26683-5")))
    assert fs.value("pregnant") is False and fs.get("pregnant").source == "Observation/s"
    fs = run(obs("s", "82810-3", when="2024-05-20", valueCodeableConcept=answer(SNOMED, "77386006")))
    assert fs.value("pregnant") is True


def test_stale_active_pregnancy_is_not_counted():
    fs = run(condition("p", ICD10CM, "Z34.90", onset="2023-05-01"))  # 397 days: cannot still be pregnant
    assert fs.value("pregnant") is False
    assert "more than 294 days (42 weeks) ago" in reasons(fs, "pregnant")[0]


@pytest.mark.parametrize("relationship, expected", [("MTH", True), ("FTH", True), ("BRO", True), ("DAU", True),
                                                    ("GRMTH", False), ("PAUNT", False), ("FRND", False)])
def test_family_history_first_degree_only(relationship, expected):
    fs = run(family("f", relationship))
    assert fs.value("family_history_diabetes") is expected


def test_family_history_icd_code_status_and_problem_list_finding():
    assert run(family("f", "SIS", code="E11.9", system=ICD10CM)).value("family_history_diabetes") is True
    assert run(family("f", "MTH", status="entered-in-error")).value("family_history_diabetes") is False
    fs = run(condition("c", SNOMED, "160303001"))
    assert fs.value("family_history_diabetes") is True
    assert "degree not recorded" in fs.get("family_history_diabetes").note
    fs = run(condition("c", SNOMED, "160274005"))
    assert fs.value("family_history_diabetes") is False and fs.get("family_history_diabetes").source == "Condition/c"


@pytest.mark.parametrize("resource, expected", [
    (goal("g"), True),
    (goal("g", low=None, high=92), True),
    (goal("g", low=94, high=98), False),  # the usual target, not the hypercapnic one
    (goal("g", status="completed"), False),
    (goal("g", low=None, high=None, code="8867-4", text="SpO2 target 88 - 92%"), True),  # by text
])
def test_hypercapnic_target_from_goals(resource, expected):
    assert run(resource).value("hypercapnic_target") is expected


def test_hypercapnic_target_from_news2_scale2_observation():
    fs = run(obs("s2", "1104321000000108", 0, "{score}", system=SNOMED, when="2024-05-31"))
    assert fs.value("hypercapnic_target") is True and fs.get("hypercapnic_target").source == "Observation/s2"


def test_hypercapnic_condition_needs_the_service_option():
    fs = run(condition("h", ICD10CM, "J96.12"))
    ev = fs.get("hypercapnic_target")
    assert ev.value is False and "Condition/h" in ev.note and "prescribed target" in ev.note
    fs = run(condition("h", ICD10CM, "J96.12"), options={"hypercapnic_condition_counts": True})
    assert fs.value("hypercapnic_target") is True and fs.get("hypercapnic_target").source == "Condition/h"


# -- physical activity -----------------------------------------------------------------------------------
@pytest.mark.parametrize("minutes, active", [(149, False), (150, True)])
def test_physical_activity_threshold_both_sides(minutes, active):
    fs = run(obs("pa", "82290-8", minutes, "min/wk"))
    assert fs.value("physically_active") is active


def test_physical_activity_threshold_option_and_unpaired_days():
    fs = run(obs("pa", "82290-8", 180, "min/wk"), options={"physically_active_min_per_week": 210})
    assert fs.value("physically_active") is False and "active if >= 210" in fs.get("physically_active").note
    fs = run(obs("d", "89555-7", 5, "d/wk"))
    assert not fs.has("physically_active")
    assert "without minutes per day" in reasons(fs, "physically_active")[0]


# -- medications ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code, system, name, expected", [
    ("309362", RXNORM, "antiplatelet_or_nsaid", True),  # Synthea clopidogrel 75 mg
    ("1191", RXNORM, "antiplatelet_or_nsaid", True),
    ("310965", RXNORM, "antiplatelet_or_nsaid", True),  # Synthea ibuprofen 200 mg
    ("849574", RXNORM, "antiplatelet_or_nsaid", True),  # Synthea naproxen sodium 220 mg
    ("B01AC06", ATC, "antiplatelet_or_nsaid", True),
    ("M01AE01", ATC, "antiplatelet_or_nsaid", True),
    ("M01AX05", ATC, "antiplatelet_or_nsaid", False),  # glucosamine is not an NSAID
    ("313782", RXNORM, "antiplatelet_or_nsaid", False),  # acetaminophen
    ("855332", RXNORM, "anticoagulant", True),  # Synthea warfarin 5 mg
    ("1114195", RXNORM, "anticoagulant", True),
    ("B01AF02", ATC, "anticoagulant", True),
    ("B01AE07", ATC, "anticoagulant", True),
    ("B01AB05", ATC, "anticoagulant", False),  # enoxaparin: parenteral
    ("B01AE06", ATC, "anticoagulant", False),  # bivalirudin: parenteral
])
def test_medication_codes(code, system, name, expected):
    assert run(med("m", code, system=system)).value(name) is expected


def test_medication_text_fallback_and_stopped():
    fs = run(med("m", "LOCAL", system="http://local.example/drugs", text="Eliquis 5 mg tablet"))
    assert fs.value("anticoagulant") is True
    assert fs.get("anticoagulant").note == "matched by name 'eliquis' in the medication text"
    fs = run(med("m", "855332", status="stopped"))
    assert fs.value("anticoagulant") is False
    assert "1 stopped, completed or not-yet-active entry not counted" in fs.get("anticoagulant").note


# -- contract ---------------------------------------------------------------------------------------------
def test_every_contract_feature_is_produced():
    fs = run()
    for name in FEATURE_LABELS:
        assert name in fs.values or name in fs.missing, name


def test_prefetch_codes_for_every_observation_feature():
    observation_features = [n for n, sources in codes.FEATURE_RESOURCES.items() if "Observation" in sources]
    for name in observation_features:
        if name == "hypercapnic_target":
            continue  # its Observation code is SNOMED (UK NEWS2 scale 2); Goals and Conditions carry the rest
        assert codes.OBSERVATION_CODES[name], name
    assert {"9318-7", "14959-1", "32294-1"} <= set(codes.OBSERVATION_CODES["uacr_mgg"])
    assert {"2345-7", "2339-0"} <= set(codes.OBSERVATION_CODES["glucose_random_mgdl"])
    assert {"3151-8", "3150-0", "59408-5"} <= set(codes.OBSERVATION_CODES["on_supplemental_o2"])
    assert {"8310-5", "8331-1", "85353-1"} <= set(codes.OBSERVATION_CODES["temperature_c"])
    missing = set(FEATURE_LABELS) - set(codes.FEATURE_RESOURCES) - {"age_years", "sex", "race", "ethnicity"}
    assert missing == set()
    assert set(codes.ALL_OBSERVATION_LOINC) >= set(codes.OBSERVATION_CODES["inr"])


def test_condition_concepts_helper_reads_problem_list_codes():
    pairs = {(ICD10CM, "E11.9"), (SNOMED, "49436004"), (SNOMED, "195967001")}
    assert codes.condition_concepts(pairs) == {"diabetes", "atrial_fibrillation"}
    assert codes.has_condition(pairs, "diabetes") and not codes.has_condition(pairs, "anemia")
