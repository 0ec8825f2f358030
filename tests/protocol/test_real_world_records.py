"""Records coded the way EHRs really code them, through the HTTP hook as an EHR would send them.

The ACC/AHA 2013 worked-example man (55, white, TC 213, HDL 50, SBP 120 untreated, non-smoker: PCE 5.4 %) is the base
record; each test changes one thing the way a real EHR records it (a SNOMED CT descendant, a Procedure instead of a
Condition, a MedicationStatement instead of a MedicationRequest, a local code with good text) and checks the card.
"""
from __future__ import annotations

import copy
import json
import re

import pytest

from cds_hooks.declaration import SERVICES
from cds_hooks.services import load_all
from cds_hooks.config import load_config
from cds_hooks.evaluate import evaluate_document
from tests.conftest import TEST_AS_OF, load_fixture

load_all()

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
PATIENT = "pce-example-man"

# Type 1 / type 2 / other diabetes as EHRs code it: SNOMED CT descendants of 73211009 that the old hand list lacked,
# all in the VSAC Diabetes value set (2.16.840.1.113883.3.464.1003.103.12.1001) that CMS122/CMS347 use.
DIABETES_SNOMED = [
    "237599002",  # insulin treated type 2 diabetes mellitus
    "81531005",  # diabetes mellitus type 2 in obese
    "359642000",  # diabetes mellitus type 2 in nonobese
    "313436004",  # type 2 diabetes mellitus without complication
    "199230006",  # pre-existing type 2 diabetes mellitus
    "1481000119100",  # diabetes mellitus type 2 without retinopathy
    "420279001",  # renal disorder due to type 2 diabetes mellitus
    "190331003",  # hyperosmolar coma due to type 2 diabetes mellitus
    "313435000",  # type 1 diabetes mellitus without complication
    "23045005",  # insulin dependent diabetes mellitus type IA
    "110181000119105",  # peripheral sensory neuropathy due to type 2 diabetes mellitus
    "314902007",  # peripheral angiopathy due to type 2 diabetes mellitus
]

# Clinical ASCVD (2018 AHA/ACC): acute and old MI, ACS, PVD/PAD, CHD, stroke, angina.
ASCVD_CONDITIONS = [
    (SNOMED, "57054005"),  # acute myocardial infarction
    (SNOMED, "164867002"),  # old myocardial infarction
    (SNOMED, "394659003"),  # acute coronary syndrome
    (SNOMED, "400047006"),  # peripheral vascular disease
    (SNOMED, "22298006"),  # myocardial infarction
    (SNOMED, "53741008"),  # coronary arteriosclerosis
    (SNOMED, "422504002"),  # ischemic stroke
    (SNOMED, "4557003"),  # preinfarction syndrome (unstable angina)
    (ICD10CM, "I21.4"),  # NSTEMI
    (ICD10CM, "I25.2"),  # old MI
]

# Revascularisation recorded only as a Procedure.
ASCVD_PROCEDURES = [
    (SNOMED, "232717009"),  # coronary artery bypass grafting
    (SNOMED, "415070008"),  # percutaneous coronary intervention
    (SNOMED, "36969009"),  # placement of stent in coronary artery
]


def _coded(system: str, code: str, display: str | None = None) -> dict:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding], **({"text": display} if display else {})}


def condition(system: str, code: str, *, display: str | None = None, rid: str | None = None,
              status: str = "active", patient: str = PATIENT) -> dict:
    return {
        "resourceType": "Condition", "id": rid or f"c-{re.sub(r'[^A-Za-z0-9]', '', code)}",
        "subject": {"reference": f"Patient/{patient}"},
        "clinicalStatus": _coded("http://terminology.hl7.org/CodeSystem/condition-clinical", status),
        "verificationStatus": _coded("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"),
        "category": [_coded("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")],
        "code": _coded(system, code, display), "onsetDateTime": "2019-04-02",
    }


def procedure(system: str, code: str, *, performed: str = "2018-09-14") -> dict:
    return {"resourceType": "Procedure", "id": f"p-{re.sub(r'[^A-Za-z0-9]', '', code)}", "status": "completed",
            "subject": {"reference": f"Patient/{PATIENT}"}, "code": _coded(system, code), "performedDateTime": performed}


def medication_statement(code: str, display: str, *, rid: str = "ms-1", status: str = "active",
                         dose: float | None = None, per_day: int | None = None) -> dict:
    resource = {"resourceType": "MedicationStatement", "id": rid, "status": status,
                "subject": {"reference": f"Patient/{PATIENT}"}, "effectiveDateTime": "2025-11-03",
                "medicationCodeableConcept": _coded(RXNORM, code, display)}
    if dose is not None:
        resource["dosage"] = [{"doseAndRate": [{"doseQuantity": {"value": dose, "unit": "tablet"}}],
                               **({"timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}}}
                                  if per_day else {})}]
    return resource


def bundle(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}


def hook_request(service_id: str, **prefetch: list[dict]) -> dict:
    """The worked-example request with every prefetch key the service declares: the given resources, else empty."""
    body = copy.deepcopy(load_fixture("hooks/patient-view-prefetch.json"))
    base = body["prefetch"]
    declared = SERVICES.get(service_id).prefetch
    out: dict = {}
    for key in declared:
        if key in prefetch:
            out[key] = bundle(*prefetch[key])
        elif key in base:
            out[key] = base[key]
        else:
            out[key] = bundle()
    body["prefetch"] = out
    return body


def cards_of(client, service_id: str, body: dict) -> list[dict]:
    resp = client.post(f"/cds-services/{service_id}", data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["cards"]


def card_with(cards: list[dict], words: str) -> dict:
    found = [c for c in cards if words in c["summary"]]
    assert found, [c["summary"] for c in cards]
    return found[0]


def percent(summary: str) -> float:
    return float(re.search(r"([0-9.]+) %", summary).group(1))


def row(body: dict, title_words: str, label: str) -> str:
    """The evidence row of an input, as the finding records it for the explainer page (the card shows no resource
    ids): '| Diabetes | yes | Condition/c1 (Type 2 diabetes ... (SNOMED 44054006)) |'. Read in process through the
    offline evaluator, from the same hook request the test posts."""
    result = evaluate_document(copy.deepcopy(body), service_id="cardiovascular-risk",
                               config=load_config({"AS_OF": TEST_AS_OF, "DEV_MODE": True, "WARM_MODELS": False}),
                               include_cards=False)
    finding = next(f for f in result["findings"] if title_words in f["title"])
    for ev in finding["inputs"]:
        if ev["label"] == label:
            value = {True: "yes", False: "no"}.get(ev["value"], ev["value"])
            return f"| {label} | {value} | {ev.get('source') or ''} ({ev.get('note') or ''}) |"
    raise AssertionError(f"no input {label!r} in {finding['title']!r}")


def findings_of(body: dict) -> list[dict]:
    """The findings of a cardiovascular-risk call, as the offline evaluator gives them (the explainer page's evidence)."""
    return evaluate_document(copy.deepcopy(body), service_id="cardiovascular-risk",
                             config=load_config({"AS_OF": TEST_AS_OF, "DEV_MODE": True, "WARM_MODELS": False}),
                             include_cards=False)["findings"]


def based_on(card: dict) -> str:
    """The card's one line of inputs."""
    return next(line for line in card["detail"].splitlines() if line.startswith("**Based on:**"))


# -- diabetes --------------------------------------------------------------------------------------------------------
def test_baseline_worked_example_is_borderline(client):
    cards = cards_of(client, "cardiovascular-risk", hook_request("cardiovascular-risk"))
    assert percent(card_with(cards, "Pooled Cohort")["summary"]) == pytest.approx(5.4)


@pytest.mark.parametrize("code", DIABETES_SNOMED)
def test_diabetes_coded_with_a_snomed_descendant_counts(client, code):
    body = hook_request("cardiovascular-risk", conditions=[condition(SNOMED, code)])
    cards = cards_of(client, "cardiovascular-risk", body)
    pce = card_with(cards, "Pooled Cohort")
    # The same man with diabetes: 10.1 % (intermediate), not 5.4 % (borderline).
    assert percent(pce["summary"]) == pytest.approx(10.1)
    assert "intermediate" in pce["summary"]
    assert "| yes |" in row(body, "Pooled Cohort", "Diabetes") and code in row(body, "Pooled Cohort", "Diabetes")
    assert "· Diabetes" in based_on(pce)
    # PREVENT is on its own card, or beside the PCE on the card of the statin that diabetes calls for.
    prevent = next(line for c in cards for line in [c["summary"], *c["detail"].splitlines()]
                   if "(AHA PREVENT)" in line)
    assert percent(prevent) > 8.0  # 4.1 % without diabetes


def test_icd10cm_diabetes_code_counts_by_category(client):
    body = hook_request("cardiovascular-risk", conditions=[condition(ICD10CM, "E11.65")])
    pce = card_with(cards_of(client, "cardiovascular-risk", body), "Pooled Cohort")
    assert percent(pce["summary"]) == pytest.approx(10.1)


def test_no_second_diabetes_diagnosis_is_offered_for_a_snomed_descendant(client):
    body = copy.deepcopy(load_fixture("hooks/patient-view-diagnosis-gaps.json"))
    before = [c["summary"] for c in cards_of(client, "diagnosis-gaps", body)]
    assert any("undiagnosed diabetes" in s for s in before)
    body["prefetch"]["conditions"]["entry"].append(
        {"resource": condition(SNOMED, "237599002", patient=body["context"]["patientId"])})
    after = [c["summary"] for c in cards_of(client, "diagnosis-gaps", body)]
    assert not any("diabetes" in s.lower() for s in after), after


def test_cha2ds2_vasc_counts_a_snomed_diabetes_descendant(client):
    """A 70-year-old man with AF and type 2 diabetes coded 81531005: CHA2DS2-VASc 2 (age 65-74, diabetes), not 1."""
    body = hook_request("risk-scores", conditions=[condition(SNOMED, "49436004"), condition(SNOMED, "81531005")])
    body["prefetch"]["patient"] = dict(body["prefetch"]["patient"], birthDate="1956-01-20")
    cha = card_with(cards_of(client, "risk-scores", body), "CHA2DS2-VASc")
    assert re.search(r"\b2 points\b", cha["summary"]), cha["summary"]


# -- clinical ASCVD --------------------------------------------------------------------------------------------------
def _primary_prevention_scores_given(cards: list[dict]) -> bool:
    return any("Pooled Cohort" in c["summary"] and "Not applicable" not in c["summary"] for c in cards)


@pytest.mark.parametrize("system,code", ASCVD_CONDITIONS)
def test_clinical_ascvd_condition_stops_primary_prevention_scores(client, system, code):
    body = hook_request("cardiovascular-risk", conditions=[condition(system, code)])
    cards = cards_of(client, "cardiovascular-risk", body)
    assert not _primary_prevention_scores_given(cards), [c["summary"] for c in cards]
    assert "no clinical ASCVD found" not in json.dumps(cards)


@pytest.mark.parametrize("system,code", ASCVD_PROCEDURES)
def test_revascularisation_recorded_only_as_a_procedure_is_clinical_ascvd(client, system, code):
    body = hook_request("cardiovascular-risk", procedures=[procedure(system, code)])
    cards = cards_of(client, "cardiovascular-risk", body)
    assert not _primary_prevention_scores_given(cards), [c["summary"] for c in cards]


def test_icd10pcs_cabg_procedure_is_clinical_ascvd(client):
    from fhir_adapter.terminology import value_set

    pcs = next(c.code for c in value_set("ascvd_procedure").all_codes() if c.system == ICD10PCS)
    body = hook_request("cardiovascular-risk", procedures=[procedure(ICD10PCS, pcs)])
    assert not _primary_prevention_scores_given(cards_of(client, "cardiovascular-risk", body))


def test_a_procedure_that_was_not_done_is_not_ascvd(client):
    not_done = dict(procedure(SNOMED, "232717009"), status="not-done")
    body = hook_request("cardiovascular-risk", procedures=[not_done])
    assert _primary_prevention_scores_given(cards_of(client, "cardiovascular-risk", body))


def test_procedures_are_asked_for_by_the_risk_service():
    prefetch = SERVICES.get("cardiovascular-risk").prefetch
    assert prefetch.get("procedures", "").startswith("Procedure?patient={{context.patientId}}")


# -- medications -----------------------------------------------------------------------------------------------------
def test_antihypertensive_recorded_only_as_medication_statement_counts(client):
    untreated = percent(card_with(cards_of(client, "cardiovascular-risk", hook_request("cardiovascular-risk")),
                                  "Pooled Cohort")["summary"])
    statement = medication_statement("314076", "lisinopril 10 MG Oral Tablet", dose=1, per_day=1)
    body = hook_request("cardiovascular-risk", medication_statements=[statement])
    pce = card_with(cards_of(client, "cardiovascular-risk", body), "Pooled Cohort")
    assert percent(pce["summary"]) > untreated  # treated SBP 120 carries more risk than untreated
    bp_row = row(body, "Pooled Cohort", "On blood-pressure treatment")
    assert "| yes |" in bp_row and "MedicationStatement/ms-1" in bp_row
    assert "On blood-pressure treatment" in based_on(pce)


def test_medication_statements_are_asked_for_and_optional():
    definition = SERVICES.get("cardiovascular-risk")
    assert definition.prefetch["medication_statements"].startswith("MedicationStatement?patient=")
    assert "medication_statements" in definition.optional_prefetch


def test_stopped_medication_statement_does_not_count(client):
    statement = medication_statement("314076", "lisinopril 10 MG Oral Tablet", status="stopped")
    body = hook_request("cardiovascular-risk", medication_statements=[statement])
    pce = card_with(cards_of(client, "cardiovascular-risk", body), "Pooled Cohort")
    assert percent(pce["summary"]) == pytest.approx(5.4)
    assert "| no |" in row(body, "Pooled Cohort", "On blood-pressure treatment")
    assert "On blood-pressure treatment" not in based_on(pce)


def test_statin_with_dose_is_named_with_its_intensity(client):
    # atorvastatin 40 MG Oral Tablet (SCD 617311), one tablet twice a day: 80 mg/day, high intensity.
    statement = medication_statement("617311", "atorvastatin 40 MG Oral Tablet", dose=1, per_day=2)
    body = hook_request("cardiovascular-risk", medication_statements=[statement])
    prevent = card_with(cards_of(client, "cardiovascular-risk", body), "PREVENT")
    statin_row = row(body, "PREVENT", "On statin")
    assert "| yes |" in statin_row and "80 mg/day" in statin_row and "high intensity" in statin_row
    assert "On statin" in based_on(prevent)


def test_brand_name_with_a_local_code_is_recognised_by_name(client):
    statement = medication_statement("LOCAL-123", "Lipitor 10 mg tablet", dose=1, per_day=1)
    statement["medicationCodeableConcept"]["coding"][0]["system"] = "http://ehr.example.org/formulary"
    body = hook_request("cardiovascular-risk", medication_statements=[statement])
    prevent = card_with(cards_of(client, "cardiovascular-risk", body), "PREVENT")
    statin_row = row(body, "PREVENT", "On statin")
    assert "| yes |" in statin_row and "matched by name" in statin_row
    assert "On statin" in based_on(prevent)


# -- unrecognised codes ----------------------------------------------------------------------------------------------
def test_unrecognised_code_naming_diabetes_is_reported_not_silently_absent(client):
    local = condition("http://ehr.example.org/codes/problems", "DM2-GASTRO",
                      display="Type 2 diabetes mellitus with gastroparesis")
    body = hook_request("cardiovascular-risk", conditions=[local])
    pce = card_with(cards_of(client, "cardiovascular-risk", body), "Pooled Cohort")
    assert percent(pce["summary"]) == pytest.approx(5.4)  # a name alone never counts
    detail = pce["detail"]
    assert "unrecognised code" in detail and "Condition/" not in detail  # named on the card, without its id
    result = evaluate_document(copy.deepcopy(body), service_id="cardiovascular-risk",
                               config=load_config({"AS_OF": TEST_AS_OF, "DEV_MODE": True, "WARM_MODELS": False}),
                               include_cards=False)
    finding = next(f for f in result["findings"] if "Pooled Cohort" in f["title"])
    assert any(p["source"] == "Condition/c-DM2GASTRO" and "unrecognised code" in p["reason"]
               for p in finding["input_problems"])


def test_excluded_phrases_are_not_reported_as_unrecognised(client):
    body = hook_request("cardiovascular-risk", conditions=[
        condition("http://ehr.example.org/codes/problems", "DI", display="Diabetes insipidus"),
        condition("http://ehr.example.org/codes/problems", "FHX", display="Family history of diabetes")])
    pce = card_with(cards_of(client, "cardiovascular-risk", body), "Pooled Cohort")
    assert "unrecognised code" not in pce["detail"]


# -- the note service reads the same terminology -----------------------------------------------------------------------
NOTE_PATIENT = "notes-patient"


def _note_request(sentence: str, *conditions: dict) -> dict:
    import base64
    import uuid

    doc = {"resourceType": "DocumentReference", "id": "note-1", "status": "current",
           "subject": {"reference": f"Patient/{NOTE_PATIENT}"}, "date": "2026-05-02T10:00:00Z",
           "content": [{"attachment": {"contentType": "text/plain",
                                       "data": base64.b64encode(sentence.encode()).decode()}}]}
    return {"hookInstance": str(uuid.uuid4()), "hook": "patient-view",
            "context": {"userId": "Practitioner/dr-lee", "patientId": NOTE_PATIENT},
            "prefetch": {"patient": {"resourceType": "Patient", "id": NOTE_PATIENT, "gender": "male",
                                     "birthDate": "1961-01-01"},
                         "documents": bundle(doc), "reports": None, "conditions": bundle(*conditions)}}


@pytest.fixture
def lexical_notes(monkeypatch):
    import engine.models.notes as note_engine_module
    from engine.models.concepts import load_concepts
    from engine.models.matcher import ConceptMatcher

    matcher = ConceptMatcher(load_concepts())
    monkeypatch.setattr(note_engine_module, "shared_matcher", lambda: matcher)


@pytest.mark.parametrize("code", ["81531005", "237599002", "359642000", "313436004"])
def test_note_service_sees_a_snomed_type_2_diabetes_descendant_as_documented(client, lexical_notes, code):
    sentence = "Assessment: type 2 diabetes mellitus, on metformin, HbA1c improving."
    assert any("diabetes" in c["summary"].lower()
               for c in cards_of(client, "note-diagnosis-gaps", _note_request(sentence)))
    documented = condition(SNOMED, code, patient=NOTE_PATIENT)
    cards = cards_of(client, "note-diagnosis-gaps", _note_request(sentence, documented))
    assert not any("diabetes" in c["summary"].lower() for c in cards), [c["summary"] for c in cards]


@pytest.mark.parametrize("code", ["164867002", "394659003", "233817007"])
def test_note_service_sees_old_mi_or_acs_as_documenting_coronary_disease(client, lexical_notes, code):
    sentence = "Assessment: coronary artery disease, stable on current therapy."
    documented = condition(SNOMED, code, patient=NOTE_PATIENT)
    cards = cards_of(client, "note-diagnosis-gaps", _note_request(sentence, documented))
    assert not any("coronary" in c["summary"].lower() for c in cards), [c["summary"] for c in cards]


# -- pregnancy from a qualitative hCG test ---------------------------------------------------------------------------
def test_pregnancy_tests_are_asked_for_and_a_positive_one_stops_pce_and_prevent(client):
    query = SERVICES.get("cardiovascular-risk").prefetch["observations"]
    assert f"{LOINC}|2106-3" in query and f"{LOINC}|82810-3" in query  # hCG urine test and pregnancy status
    body = hook_request("cardiovascular-risk")
    body["prefetch"]["patient"] = dict(body["prefetch"]["patient"], gender="female")
    hcg = {"resourceType": "Observation", "id": "hcg", "status": "final",
           "subject": {"reference": f"Patient/{PATIENT}"}, "effectiveDateTime": "2026-05-10",
           "code": {"coding": [{"system": LOINC, "code": "2106-3"}]},
           "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA6576-8", "display": "Positive"}]}}
    body["prefetch"]["observations"]["entry"].append({"resource": hcg})
    cards = cards_of(client, "cardiovascular-risk", body)
    assert not _primary_prevention_scores_given(cards), [c["summary"] for c in cards]
    # Not applicable, and why: in the findings (the explainer page); not-applicable results are not cards by default.
    pce = next(f for f in findings_of(body) if f["engine_id"] == "pce-2013")
    assert pce["status"] == "not-applicable" and "pregnan" in pce["message"].lower()


# -- a Medication the EHR did not include ------------------------------------------------------------------------------
def test_medication_reference_not_in_the_data_is_reported_not_silently_absent(client):
    request = {"resourceType": "MedicationRequest", "id": "mr-1", "status": "active", "intent": "order",
               "subject": {"reference": f"Patient/{PATIENT}"}, "authoredOn": "2026-01-04",
               "medicationReference": {"reference": "Medication/not-included"}}
    body = hook_request("cardiovascular-risk", medications=[request])
    pce = card_with(cards_of(client, "cardiovascular-risk", body), "Pooled Cohort")
    assert "recorded value" in pce["detail"] and "not used" in pce["detail"]  # said on the card, counted
    finding = next(f for f in findings_of(body) if f["engine_id"] == "pce-2013")
    assert any(p["source"] == "MedicationRequest/mr-1" and "Medication/not-included" in p["reason"]
               for p in finding["input_problems"])


def test_included_medication_resolves_the_reference(client):
    request = {"resourceType": "MedicationRequest", "id": "mr-1", "status": "active", "intent": "order",
               "subject": {"reference": f"Patient/{PATIENT}"}, "authoredOn": "2026-01-04",
               "medicationReference": {"reference": "Medication/lis"}}
    medication = {"resourceType": "Medication", "id": "lis", "code": _coded(RXNORM, "314076")}
    body = hook_request("cardiovascular-risk", medications=[request, medication])
    pce = card_with(cards_of(client, "cardiovascular-risk", body), "Pooled Cohort")
    assert "| yes |" in row(body, "Pooled Cohort", "On blood-pressure treatment")
    assert "On blood-pressure treatment" in based_on(pce)
    assert SERVICES.get("cardiovascular-risk").prefetch["medications"].endswith("&_include=MedicationRequest:medication")


# -- PREVENT is for people without CVD, heart failure included ----------------------------------------------------------
def test_prevent_is_not_applicable_with_heart_failure_but_pce_still_is(client):
    body = hook_request("cardiovascular-risk", conditions=[condition(SNOMED, "84114007")])
    cards = cards_of(client, "cardiovascular-risk", body)
    summaries = [c["summary"] for c in cards]
    assert not any("PREVENT" in s and "%" in s for s in summaries), summaries
    assert _primary_prevention_scores_given(cards)  # the PCE were not limited to people without heart failure
