"""The record model: medications with ingredients, classes and dose; allergies; pregnancy tests; deceased."""
from __future__ import annotations

from datetime import date

import pytest

from fhir_adapter.features import extract_features
from fhir_adapter.parse import parse_resources

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
AS_OF = date(2026, 6, 1)
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-05-01"}


def med(rid, code=None, *, rtype="MedicationStatement", status="active", text=None, dosage=None, **extra):
    resource = {"resourceType": rtype, "id": rid, "status": status, "subject": {"reference": "Patient/p1"}}
    if rtype == "MedicationRequest":
        resource.update(intent="order", authoredOn="2026-01-10")
    else:
        resource["effectiveDateTime"] = "2026-01-10"
    if code is not None:
        resource["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": code}],
                                                 **({"text": text} if text else {})}
    if dosage is not None:
        resource["dosageInstruction" if rtype == "MedicationRequest" else "dosage"] = [dosage]
    resource.update(extra)
    return resource


def features(*resources):
    return extract_features([PATIENT, *resources], as_of=AS_OF, patient_id="p1")


def daily(dose_value=1, dose_unit="tablet", **timing):
    return {"doseAndRate": [{"doseQuantity": {"value": dose_value, "unit": dose_unit}}], "timing": timing}


# -- medications -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("timing,per_day", [
    ({"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}, 1.0),
    ({"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}, 2.0),
    ({"repeat": {"frequency": 1, "period": 12, "periodUnit": "h"}}, 2.0),
    ({"code": {"coding": [{"code": "BID"}]}}, 2.0),
    ({"code": {"coding": [{"code": "TID"}]}}, 3.0),
    ({"repeat": {"timeOfDay": ["08:00:00", "20:00:00"]}}, 2.0),
    ({"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}}, 1 / 7),
])
def test_dosage_frequency(timing, per_day):
    parsed = parse_resources([PATIENT, med("m", "617310", dosage=daily(**timing))], patient_id="p1")
    assert parsed.medications[0].dosage.per_day == pytest.approx(per_day)


@pytest.mark.parametrize("code,dosage,mg,intensity", [
    ("617310", daily(1, "tablet", repeat={"frequency": 1, "period": 1, "periodUnit": "d"}), 20, "moderate"),
    ("617310", daily(2, "tablet", repeat={"frequency": 1, "period": 1, "periodUnit": "d"}), 40, "high"),
    ("617310", daily(40, "mg", repeat={"frequency": 1, "period": 1, "periodUnit": "d"}), 40, "high"),
    ("617310", None, 20, "moderate"),  # no dosage: one unit once daily, said in the note
])
def test_statin_daily_dose_and_intensity(code, dosage, mg, intensity):
    fs = features(med("m", code, dosage=dosage))
    entry = fs.medications[0]
    assert entry.ingredients == ("atorvastatin",) and "statin" in entry.classes
    assert entry.daily_dose_mg == pytest.approx(mg)
    assert entry.statin_intensity == intensity
    assert fs.value("statin") is True
    assert f"{mg:g} mg/day" in fs.get("statin").note and f"{intensity} intensity" in fs.get("statin").note
    if dosage is None:
        assert "taken as one unit once daily" in fs.get("statin").note


def test_medication_reference_contained_and_in_the_bundle():
    medication = {"resourceType": "Medication", "id": "lis",
                  "code": {"coding": [{"system": RXNORM, "code": "314076", "display": "lisinopril 10 MG Oral Tablet"}]}}
    contained = med("m1", rtype="MedicationRequest", contained=[dict(medication, id="c1")],
                    medicationReference={"reference": "#c1"})
    referenced = med("m2", rtype="MedicationStatement", medicationReference={"reference": "Medication/lis"})
    parsed = parse_resources([PATIENT, medication, contained, referenced], patient_id="p1")
    assert {m.ref for m in parsed.medications} == {"MedicationRequest/m1", "MedicationStatement/m2"}
    for m in parsed.medications:
        assert [i.name for i in m.ingredients] == ["lisinopril"]
        assert {"ace_inhibitor", "antihypertensive"} <= set(m.classes)


def test_medication_list_keeps_every_recognised_drug_with_its_status():
    fs = features(
        med("metformin", "860975"),  # metformin 500 MG ER (Synthea)
        med("old", "314076", status="stopped"),
        med("err", "314076", status="entered-in-error"),
        med("plan", "617310", rtype="MedicationRequest", intent="plan"),
    )
    by_source = {m.source: m for m in fs.medications}
    assert "MedicationStatement/err" not in by_source
    assert by_source["MedicationStatement/metformin"].active and "metformin" in by_source[
        "MedicationStatement/metformin"].classes
    assert not by_source["MedicationStatement/old"].active
    assert not by_source["MedicationRequest/plan"].active
    assert fs.value("bp_treated") is False and fs.value("statin") is False


def test_oral_anticoagulant_means_vka_or_doac_not_heparin():
    from fhir_adapter.terminology import drugs

    heparin = next(code for code, p in drugs._data()["products"].items()
                   if [i["name"] for i in p["ingredients"]] == ["heparin"])
    assert features(med("h", heparin)).value("anticoagulant") is False
    apixaban = next(code for code, p in drugs._data()["products"].items()
                    if [i["name"] for i in p["ingredients"]] == ["apixaban"])
    assert features(med("a", apixaban)).value("anticoagulant") is True


# -- allergies -------------------------------------------------------------------------------------------------------
def allergy(rid, coding=None, text=None, *, clinical="active", verification="confirmed"):
    resource = {"resourceType": "AllergyIntolerance", "id": rid, "patient": {"reference": "Patient/p1"},
                "type": "intolerance", "recordedDate": "2024-02-01",
                "clinicalStatus": {"coding": [{"code": clinical}]},
                "verificationStatus": {"coding": [{"code": verification}]},
                "code": {**({"coding": [coding]} if coding else {}), **({"text": text} if text else {})},
                "reaction": [{"manifestation": [{"text": "myalgia"}]}]}
    return resource


@pytest.mark.parametrize("resource", [
    allergy("a1", {"system": RXNORM, "code": "36567"}),  # simvastatin ingredient
    allergy("a2", text="Atorvastatin"),  # text only
    allergy("a3", {"system": SNOMED, "code": "96302009", "display": "Simvastatin (substance)"}),
])
def test_statin_allergy_or_intolerance_from_allergy_intolerance(resource):
    fs = features(resource)
    assert fs.value("statin_intolerance") is True
    assert "myalgia" in fs.get("statin_intolerance").note
    assert fs.allergies and "statin" in fs.allergies[0].classes


def test_refuted_or_resolved_statin_allergy_does_not_count():
    fs = features(allergy("r", {"system": RXNORM, "code": "36567"}, verification="refuted"),
                  allergy("s", {"system": RXNORM, "code": "36567"}, clinical="resolved"))
    assert fs.value("statin_intolerance") is False
    assert "1 inactive or resolved" in fs.get("statin_intolerance").note


def test_statin_myopathy_condition_is_statin_intolerance():
    condition = {"resourceType": "Condition", "id": "sm", "subject": {"reference": "Patient/p1"},
                 "clinicalStatus": {"coding": [{"code": "active"}]},
                 "code": {"coding": [{"system": SNOMED, "code": "788849004"}]}}
    assert features(condition).value("statin_intolerance") is True


def test_allergy_of_another_patient_is_dropped():
    other = allergy("x", {"system": RXNORM, "code": "36567"})
    other["patient"] = {"reference": "Patient/someone-else"}
    fs = features(other)
    assert fs.value("statin_intolerance") is False and fs.allergies == ()


# -- pregnancy -------------------------------------------------------------------------------------------------------
def hcg(rid, answer_code, when):
    return {"resourceType": "Observation", "id": rid, "status": "final", "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": LOINC, "code": "2106-3"}]}, "effectiveDateTime": when,
            "valueCodeableConcept": {"coding": [{"system": LOINC, "code": answer_code}]}}


def test_positive_pregnancy_test_means_pregnant_until_a_newer_negative():
    assert features(hcg("t1", "LA6576-8", "2026-05-01")).value("pregnant") is True
    fs = features(hcg("t1", "LA6576-8", "2026-03-01"), hcg("t2", "LA6577-6", "2026-05-01"))
    assert fs.value("pregnant") is False


def test_pregnancy_coded_with_a_vsac_pregnancy_code():
    condition = {"resourceType": "Condition", "id": "preg", "subject": {"reference": "Patient/p1"},
                 "clinicalStatus": {"coding": [{"code": "active"}]}, "onsetDateTime": "2026-03-01",
                 "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z34.01"}]}}
    assert features(condition).value("pregnant") is True


# -- deceased --------------------------------------------------------------------------------------------------------
def test_deceased_is_read_on_the_patient():
    parsed = parse_resources([dict(PATIENT, deceasedDateTime="2026-02-01T10:00:00Z")], patient_id="p1")
    assert parsed.patient.deceased and parsed.patient.deceased_at is not None
    assert parse_resources([PATIENT], patient_id="p1").patient.deceased is False
