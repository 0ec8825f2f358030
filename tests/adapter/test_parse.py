"""Parsing: walking Bundles, picking candidates, subject checks, validation without leaking values."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_adapter import codes
from fhir_adapter.parse import (
    ConditionRecord,
    MedicationRecord,
    ObservationRecord,
    iter_entries,
    parse_fhir_datetime,
    parse_resources,
    validation_problem,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "patients"
LOINC = "http://loinc.org"


def _obs(oid: str, code: str, value=None, *, subject="Patient/p1", **extra) -> dict:
    res = {"resourceType": "Observation", "id": oid, "status": "final",
           "code": {"coding": [{"system": LOINC, "code": code}]}, "effectiveDateTime": "2024-01-02"}
    if subject is not None:
        res["subject"] = {"reference": subject}
    if value is not None:
        res["valueQuantity"] = {"value": value, "unit": "mg/dL", "system": "http://unitsofmeasure.org",
                                "code": "mg/dL"}
    res.update(extra)
    return res


PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1960-01-01"}


# -- codes ------------------------------------------------------------------------------------------
def test_concept_lookup_exact_prefix_and_aliases():
    assert codes.concept_of_coding(LOINC, "2093-3") == "chol_total"
    assert codes.concept_of_coding("urn:oid:2.16.840.1.113883.6.1", "2085-9") == "hdl"
    assert codes.concept_of_coding("http://hl7.org/fhir/sid/icd-10-cm", "E11.65") == "diabetes"
    assert codes.concept_of_coding("http://hl7.org/fhir/sid/icd-10-cm", "E1165") == "diabetes"
    assert codes.concept_of_coding("http://hl7.org/fhir/sid/icd-10-cm", "I70.213") == "ascvd"
    # aortic atherosclerosis: clinical ASCVD in the VSAC set CMS347 uses (Atherosclerosis and Peripheral Arterial
    # Disease) and CHA2DS2-VASc vascular disease (aortic plaque)
    assert codes.concepts_of_coding("http://hl7.org/fhir/sid/icd-10-cm", "I70.0") == ("ascvd", "vascular_disease")
    assert codes.concept_of_coding("http://hl7.org/fhir/sid/icd-10-cm", "G45.4") is None  # transient global amnesia
    # gestational diabetes and prediabetes are their own concepts, never diabetes
    # (O24.4 is also a pregnancy code: the VSAC Pregnancy set lists it)
    assert codes.concepts_of_coding("http://hl7.org/fhir/sid/icd-10-cm", "O24.410") == ("pregnancy",
                                                                                       "gestational_diabetes")
    assert codes.concepts_of_coding("http://snomed.info/sct", "15777000") == ("prediabetes",)
    assert codes.concept_of_coding("http://www.whocc.no/atc", "C10AA05") == "statin"
    assert codes.concept_of_coding(None, "2093-3") is None  # a code without a system is ambiguous


def test_combination_product_has_both_concepts_by_text():
    assert codes.medication_concepts_by_text("amlodipine 5 MG / atorvastatin 10 MG Oral Tablet") == {
        "antihypertensive": "amlodipine", "statin": "atorvastatin"}
    assert codes.medication_concepts_by_text("Acetaminophen 325 MG Oral Tablet") == {}


def test_observation_codes_for_prefetch():
    assert "14647-2" in codes.OBSERVATION_CODES["chol_total_mgdl"]
    assert {"8480-6", "85354-9", "55284-4"} <= set(codes.OBSERVATION_CODES["sbp_mmhg"])
    assert {"33914-3", "98979-8", "2160-0"} <= set(codes.OBSERVATION_CODES["egfr_mlmin173m2"])
    assert {"39156-5", "8302-2", "29463-7"} <= set(codes.OBSERVATION_CODES["bmi_kgm2"])


def test_every_value_set_names_source_and_version():
    for name in codes.value_set_names():
        vs = codes.value_set(name)
        assert vs.source.strip() and vs.version.strip(), name
        assert vs.all_codes() or vs.prefixes, name


# -- dates --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("2024", date(2024, 1, 1)),
    ("2024-03", date(2024, 3, 1)),
    ("2024-03-10", date(2024, 3, 10)),
    ("2024-03-10T08:15:00Z", datetime(2024, 3, 10, 8, 15, tzinfo=timezone.utc)),
    ("2013-02-19T20:32:26.828+00:00", datetime(2013, 2, 19, 20, 32, 26, 828000, tzinfo=timezone.utc)),
    ("not a date", None), ("2024-13-01", None), (None, None), (20240101, None),
])
def test_parse_fhir_datetime(raw, expected):
    assert parse_fhir_datetime(raw) == expected


# -- walking input --------------------------------------------------------------------------------------
def test_iter_entries_bundles_lists_and_garbage():
    inner = {"resourceType": "Bundle", "entry": [{"resource": _obs("b", "2085-9")}]}
    outer = {"resourceType": "Bundle", "entry": [
        {"fullUrl": "urn:uuid:a", "resource": _obs("a", "2093-3")},
        {"resource": inner},
        {"resource": "junk"},
        {"search": {"mode": "outcome"}},
        "not an entry",
    ]}
    problems = []
    got = list(iter_entries([outer, 42, "str", None, {"no": "type"}], problems))
    assert [(r["id"], url) for r, url in got] == [("a", "urn:uuid:a"), ("b", None)]
    assert len(problems) == 4  # bad entry, 42, "str", object without resourceType


def test_parse_keeps_only_candidates():
    claim = {"resourceType": "Claim", "id": "c1", "patient": {"reference": "Patient/p1"}}
    triglycerides = _obs("g", "2571-8", 99)  # a lab no feature reads
    tc = _obs("tc", "2093-3", 200)
    parsed = parse_resources([PATIENT, claim, triglycerides, tc])
    assert [o.ref for o in parsed.observations] == ["Observation/tc"]
    assert parsed.patient is not None and parsed.patient.ref == "Patient/p1"
    assert parsed.problems == []


def test_duplicates_are_read_once():
    tc = _obs("tc", "2093-3", 200)
    parsed = parse_resources([{"resourceType": "Bundle", "entry": [{"resource": tc}]}, tc])
    assert len(parsed.observations) == 1


# -- subject checks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("subject", ["Patient/p1", "https://ehr.example.org/fhir/Patient/p1",
                                     "Patient/p1/_history/3", "urn:uuid:p1"])
def test_subject_forms_that_mean_this_patient(subject):
    parsed = parse_resources([PATIENT, _obs("tc", "2093-3", 200, subject=subject)])
    assert len(parsed.observations) == 1 and parsed.problems == []


def test_other_patient_and_missing_subject_are_skipped_with_problems():
    parsed = parse_resources([PATIENT, _obs("x", "2093-3", 200, subject="Patient/p2"),
                              _obs("y", "2085-9", 50, subject=None)])
    assert parsed.observations == []
    assert [(p.source, p.name) for p in parsed.problems] == [("Observation/x", "chol_total_mgdl"),
                                                              ("Observation/y", "hdl_mgdl")]
    assert "different patient" in parsed.problems[0].reason
    assert "no subject" in parsed.problems[1].reason


def test_fullurl_subject_of_synthea_style_bundle():
    bundle = {"resourceType": "Bundle", "entry": [
        {"fullUrl": "urn:uuid:abc", "resource": {"resourceType": "Patient", "gender": "female"}},
        {"fullUrl": "urn:uuid:o1", "resource": _obs("o1", "2093-3", 180, subject="urn:uuid:abc")},
    ]}
    parsed = parse_resources(bundle)
    assert len(parsed.observations) == 1 and parsed.problems == []


def test_patient_id_of_the_request_filters_without_a_patient_resource():
    parsed = parse_resources([_obs("a", "2093-3", 180, subject="Patient/p1"),
                              _obs("b", "2093-3", 190, subject="Patient/p2")], patient_id="p1")
    assert [o.ref for o in parsed.observations] == ["Observation/a"]


def test_patient_resource_of_another_patient_is_not_used():
    parsed = parse_resources([PATIENT], patient_id="p9")
    assert parsed.patient is None
    assert "not the patient of the request" in parsed.problems[0].reason


def test_no_patient_and_no_id_means_no_filter():
    parsed = parse_resources([_obs("a", "2093-3", 180, subject="Patient/anyone")])
    assert len(parsed.observations) == 1


# -- validation ---------------------------------------------------------------------------------------
def test_invalid_resource_problem_names_the_reference_not_the_value():
    bad = _obs("bad", "2093-3")
    bad["valueQuantity"] = {"value": "two hundred and thirteen", "unit": "mg/dL"}
    bad["status"] = "final-ish-SECRET"
    problem = validation_problem(bad, "Observation/bad")
    assert problem is not None and problem.source == "Observation/bad"
    assert "two hundred" not in problem.reason and "SECRET" not in problem.reason
    assert "valueQuantity" in problem.reason or "status" in problem.reason


def test_valid_resource_has_no_problem():
    assert validation_problem(_obs("ok", "2093-3", 200)) is None


def test_lazy_mode_validates_nothing_but_the_patient_until_asked():
    parsed = parse_resources([PATIENT] + [_obs(f"o{i}", "2093-3", 200) for i in range(30)])
    assert list(parsed._checked) == ["Patient/p1"]
    assert parsed.check(parsed.observations[0], "chol_total_mgdl") is None
    assert len(parsed._checked) == 2


def test_eager_mode_drops_invalid_resources():
    bad = _obs("bad", "2093-3")
    bad["valueQuantity"] = {"value": "oops"}
    parsed = parse_resources([PATIENT, bad, _obs("ok", "2093-3", 200)], validate="eager")
    assert [o.ref for o in parsed.observations] == ["Observation/ok"]
    assert parsed.problems[0].source == "Observation/bad" and parsed.problems[0].name == "chol_total_mgdl"


def test_invalid_patient_is_not_used_for_demographics_but_still_filters():
    bad_patient = dict(PATIENT, birthDate="1960-13-45")
    parsed = parse_resources([bad_patient, _obs("x", "2093-3", 200, subject="Patient/p2")])
    assert parsed.patient is None
    reasons = [p.reason for p in parsed.problems]
    assert any("not a valid FHIR R4 Patient" in r for r in reasons)
    assert any("different patient" in r for r in reasons)


# -- records ---------------------------------------------------------------------------------------------
def test_bp_panel_components_are_read():
    data = json.loads((FIXTURES / "adapter-synthea-style.json").read_text())
    parsed = parse_resources(data)
    panel = [o for o in parsed.observations if "bp_panel" in o.concepts][0]
    assert isinstance(panel, ObservationRecord)
    assert {c.concepts[0] for c in panel.components} == {"sbp", "dbp"}
    assert parsed.observations_with("sbp") == [panel]


def test_condition_and_medication_records_from_fixture():
    data = json.loads((FIXTURES / "adapter-complete.json").read_text())
    parsed = parse_resources(data)
    conds = {c.ref: c for c in parsed.conditions}
    assert isinstance(conds["Condition/ad-dm"], ConditionRecord)
    assert conds["Condition/ad-dm"].concepts[0] == "diabetes"
    assert conds["Condition/ad-mi-refuted"].verification_status == "refuted"
    meds = {m.ref: m for m in parsed.medications}
    assert isinstance(meds["MedicationStatement/ad-atorva"], MedicationRecord)
    assert meds["MedicationStatement/ad-atorva"].concepts == ("statin",)
    assert meds["MedicationRequest/ad-lisinopril"].date == date(2023, 8, 1)


def test_medication_reference_is_resolved_contained_and_in_bundle():
    med = {"resourceType": "Medication", "id": "m1",
           "code": {"coding": [{"system": codes.RXNORM, "code": "83367", "display": "atorvastatin"}]}}
    req = {"resourceType": "MedicationRequest", "id": "r1", "status": "active", "intent": "order",
           "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": "Medication/m1"}}
    contained = {"resourceType": "MedicationRequest", "id": "r2", "status": "active", "intent": "order",
                 "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": "#c"},
                 "contained": [{"resourceType": "Medication", "id": "c", "code": {"text": "Losartan 50 mg tab"}}]}
    parsed = parse_resources([PATIENT, req, med, contained])
    by_ref = {m.ref: m for m in parsed.medications}
    assert by_ref["MedicationRequest/r1"].concepts == ("statin",)
    assert by_ref["MedicationRequest/r2"].text_matches == {"antihypertensive": "losartan"}


# -- robustness --------------------------------------------------------------------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["resourceType", "id", "code", "coding", "system", "subject", "reference", "entry",
                         "resource", "valueQuantity", "value", "unit", "component", "status", "extension"]),
        children, max_size=5),
    max_leaves=20,
)
_types = st.sampled_from(["Patient", "Observation", "Condition", "MedicationRequest", "MedicationStatement",
                          "Procedure", "FamilyMemberHistory", "Goal", "Bundle", "Medication", 7, None])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(st.tuples(_types, _json), max_size=5))
def test_parse_never_raises_on_arbitrary_json(items):
    resources = []
    for rtype, body in items:
        res = dict(body) if isinstance(body, dict) else {"x": body}
        res["resourceType"] = rtype
        resources.append(res)
    parse_resources(resources, validate="eager")


# -- issue 3 resource types ------------------------------------------------------------------------------
def test_procedure_family_history_and_goal_records():
    proc = {"resourceType": "Procedure", "id": "hd", "status": "completed", "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": codes.SNOMED, "code": "302497006"}]},
            "performedPeriod": {"start": "2024-05-01T08:00:00Z", "end": "2024-05-01T12:00:00Z"}}
    fmh = {"resourceType": "FamilyMemberHistory", "id": "f", "status": "completed",
           "patient": {"reference": "Patient/p1"},
           "relationship": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "FTH"}]},
           "condition": [{"code": {"coding": [{"system": codes.ICD10CM, "code": "E11.9"}]}}]}
    goal = {"resourceType": "Goal", "id": "g", "lifecycleStatus": "active", "subject": {"reference": "Patient/p1"},
            "description": {"text": "Keep SpO2 88 to 92 %"}}
    unrelated = {"resourceType": "Procedure", "id": "colo", "status": "completed",
                 "subject": {"reference": "Patient/p1"},
                 "code": {"coding": [{"system": codes.SNOMED, "code": "73761001"}]}}
    parsed = parse_resources([PATIENT, proc, fmh, goal, unrelated])
    assert [p.ref for p in parsed.procedures] == ["Procedure/hd"]
    assert parsed.procedures[0].concepts == ("dialysis_procedure",)
    assert parsed.procedures[0].performed == datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    assert parsed.family_history[0].relationship_concepts == ("family_first_degree",)
    assert parsed.family_history[0].concepts == ("diabetes",)
    assert parsed.goals[0].concepts == ("spo2_goal",)
    assert parsed.problems == []


def test_family_history_of_another_patient_is_skipped():
    fmh = {"resourceType": "FamilyMemberHistory", "id": "f", "status": "completed",
           "patient": {"reference": "Patient/p2"},
           "relationship": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH"}]},
           "condition": [{"code": {"coding": [{"system": codes.SNOMED, "code": "44054006"}]}}]}
    parsed = parse_resources([PATIENT, fmh])
    assert parsed.family_history == []
    assert [(p.source, p.name) for p in parsed.problems] == [("FamilyMemberHistory/f", "family_history_diabetes")]


def test_check_validates_the_elements_the_adapter_reads():
    outside = _obs("o", "2093-3", 200, interpretation="H")  # malformed, but not read by the adapter
    inside = _obs("i", "2093-3", 200, issued="not a time")  # read (effective date fallback)
    parsed = parse_resources([PATIENT, outside, inside])
    by_ref = {o.ref: o for o in parsed.observations}
    assert parsed.check(by_ref["Observation/o"]) is None
    assert "issued" in parsed.check(by_ref["Observation/i"]).reason
    assert validation_problem(outside) is not None  # the public function still checks the whole resource


def test_read_elements_keeps_race_and_ethnicity_of_the_patient_only():
    from fhir_adapter.parse import US_CORE_RACE, read_elements
    patient = dict(PATIENT, telecom="bad", extension=[{"url": US_CORE_RACE, "extension": []},
                                                      {"url": "http://example.org/other", "valueString": "x"}])
    projected = read_elements(patient)
    assert set(projected) == {"resourceType", "id", "gender", "birthDate", "extension"}
    assert [e["url"] for e in projected["extension"]] == [US_CORE_RACE]


def test_every_condition_is_read_for_problem_list_codes():
    asthma = {"resourceType": "Condition", "id": "a", "subject": {"reference": "Patient/p1"},
              "code": {"coding": [{"system": codes.SNOMED, "code": "195967001"}]}}
    parsed = parse_resources([PATIENT, asthma])
    assert parsed.conditions == [] and parsed.condition_codes == {(codes.SNOMED, "195967001")}


def test_an_observation_is_read_element_by_element():
    from fhir_adapter.parse import Component, Quantity
    from fhir_adapter.parse.records import Coding

    res = _obs("o1", "85354-9", subject="Patient/p1", issued="2024-01-03T00:00:00Z",
               valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA1-1", "display": "Yes"}], "text": "Y"},
               dataAbsentReason={"coding": [{"code": "unknown"}]},
               component=[{"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                           "valueQuantity": {"value": 120, "unit": "mm[Hg]"}, "valueString": "high"}])
    record = parse_resources([PATIENT, res], patient_id="p1").observations[0]
    assert record == ObservationRecord(
        ref="Observation/o1", status="final", codes=(Coding(LOINC, "85354-9"),), concepts=("bp_panel",),
        effective=date(2024, 1, 2), quantity=None, value_codes=(Coding(LOINC, "LA1-1", "Yes"),),
        components=(Component(codes=(Coding(LOINC, "8480-6"),), concepts=("sbp",),
                              quantity=Quantity(120, "mm[Hg]"), absent_reason=None, value_text="high"),),
        absent_reason="unknown", subject="Patient/p1", value_text="Y")
    assert record.raw is res


def test_observations_coded_is_the_scan_of_the_observations_in_their_order():
    record = [PATIENT, _obs("a", "2093-3", 200), _obs("bp", "85354-9"), _obs("b", "2085-9", 50),
              _obs("c", "2093-3", 210), _obs("d", "8480-6", 120)]
    parsed = parse_resources(record, patient_id="p1")

    def scan(*concepts):
        return [o for o in parsed.observations if any(c in o.concepts for c in concepts)]

    for concepts in (("chol_total",), ("chol_total", None), ("sbp", "bp_panel"), ("bp_panel", "sbp"),
                     ("hdl", "chol_total", "hdl"),
                     ("nothing",), ()):
        assert parsed.observations_coded(*concepts) == scan(*concepts), concepts
    parsed.observations.append(parsed.observations[0])  # a list that grows is indexed again
    assert parsed.observations_coded("chol_total") == scan("chol_total")
    parsed.observations = parsed.observations[1:]  # and so is a list replaced
    assert parsed.observations_coded("chol_total") == scan("chol_total")


_text = st.sampled_from(["", " ", "x", " x", "final", "Patient/p1", "mm[Hg]", "http://loinc.org", "8480-6"])
_element = st.none() | st.integers(0, 3) | _text | st.lists(st.none() | _text, max_size=2)
_coded = _element | st.fixed_dictionaries({}, optional={
    "coding": st.lists(st.fixed_dictionaries({}, optional={"system": _element, "code": _element,
                                                           "display": _element}) | _element, max_size=2),
    "text": _element})
_value_parts = {"valueQuantity": _element | st.fixed_dictionaries({}, optional={
                    "value": _element | st.floats(allow_nan=False), "unit": _element, "system": _element,
                    "code": _element, "comparator": _element}),
                "valueCodeableConcept": _coded, "valueString": _element, "dataAbsentReason": _coded}
_observation_json = st.fixed_dictionaries({}, optional={
    "resourceType": st.sampled_from(["Observation", " ", 3]) | _text, "id": _element, "status": _element,
    "code": _coded, "subject": _element | st.fixed_dictionaries({}, optional={"reference": _element}),
    "component": _element | st.lists(_element | st.fixed_dictionaries({}, optional={"code": _coded,
                                                                                      **_value_parts}), max_size=2),
    **_value_parts})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resource=_observation_json, full_url=st.none() | st.just("urn:uuid:1"))
def test_the_fast_observation_reading_equals_the_plain_one(resource, full_url):
    from fhir_adapter.parse.resources import observation_record
    from tests.adapter.reference_readers import reference_observation_record

    fast = observation_record(resource, full_url, date(2024, 1, 2))
    plain = reference_observation_record(resource, full_url, date(2024, 1, 2))
    assert fast == plain and repr(fast) == repr(plain) and fast.raw is resource


_dates = st.none() | st.integers(0, 1) | st.sampled_from(["2020", "2020-02", "2020-02-03", "2020-02-30", " 2020-02-03",
                                                          "2020-02-03T10:00:00+01:00", "2020-02-03T10:00:00Z", "x"])
_period = _element | st.fixed_dictionaries({}, optional={"start": _dates, "end": _dates})
_synthea_codes = [{"coding": [{"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes"}]},
                  {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"},
                              {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I10"}]},
                  {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076",
                               "display": "lisinopril 10 MG Oral Tablet"}]},
                  {"coding": [{"system": "http://snomed.info/sct", "code": "232717009"}]},
                  {"text": "atorvastatin 20 mg"}, {"coding": [{"display": "Simvastatin 40 MG"}]}]
_some_code = _coded | st.sampled_from(_synthea_codes)
_common = {"resourceType": st.sampled_from(["Condition", "Procedure", "MedicationRequest", "MedicationStatement",
                                             " ", 3]) | _text,
           "id": _element | st.sampled_from(["a1", " a1", "a 1"]),
           "subject": _element | st.fixed_dictionaries({}, optional={"reference": _element})}
_condition_json = st.fixed_dictionaries({}, optional={
    **_common, "code": _some_code, "clinicalStatus": _coded, "verificationStatus": _coded, "onsetDateTime": _dates,
    "onsetPeriod": _period, "recordedDate": _dates, "abatementDateTime": _dates, "abatementBoolean": _element
    | st.booleans(), "abatementString": _element})
_procedure_json = st.fixed_dictionaries({}, optional={
    **_common, "code": _some_code, "status": _element, "performedDateTime": _dates, "performedPeriod": _period})
_dosage = st.lists(_element | st.fixed_dictionaries({}, optional={
    "text": _element, "asNeededBoolean": _element | st.booleans(),
    "timing": st.fixed_dictionaries({}, optional={"repeat": st.fixed_dictionaries({}, optional={
        "frequency": _element, "period": _element, "periodUnit": st.sampled_from(["d", "h", "x"])}),
        "code": _coded})}), max_size=2)
_medication_json = st.fixed_dictionaries({}, optional={
    **_common, "medicationCodeableConcept": _some_code, "status": _element, "intent": _element,
    "doNotPerform": _element | st.booleans(), "authoredOn": _dates, "effectiveDateTime": _dates,
    "effectivePeriod": _period, "dateAsserted": _dates, "dosageInstruction": _element | _dosage,
    "dosage": _element | _dosage,
    "medicationReference": _element | st.fixed_dictionaries({}, optional={
        "reference": st.sampled_from(["#m1", "Medication/m1", "Medication/unknown"]) | _element,
        "display": _element | st.just("Lisinopril 10 mg tablet")}),
    "contained": st.just([{"resourceType": "Medication", "id": "m1", "code": _synthea_codes[2]}])})
_MEDICATIONS = {"Medication/m1": {"resourceType": "Medication", "id": "m1", "code": {"text": "metformin 500 mg"}}}


def _same_reading(fast, plain, resource) -> None:
    assert fast == plain and repr(fast) == repr(plain) and fast.raw is resource


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resource=_condition_json, full_url=st.none() | st.just("urn:uuid:1"))
def test_the_fast_condition_reading_equals_the_plain_one(resource, full_url):
    from fhir_adapter.parse.resources import parse_condition
    from tests.adapter.reference_readers import reference_parse_condition

    _same_reading(parse_condition(resource, full_url), reference_parse_condition(resource, full_url), resource)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resource=_procedure_json, full_url=st.none() | st.just("urn:uuid:1"))
def test_the_fast_procedure_reading_equals_the_plain_one(resource, full_url):
    from fhir_adapter.parse.resources import parse_procedure
    from tests.adapter.reference_readers import reference_parse_procedure

    _same_reading(parse_procedure(resource, full_url), reference_parse_procedure(resource, full_url), resource)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resource=_medication_json, full_url=st.none() | st.just("urn:uuid:1"))
def test_the_fast_medication_reading_equals_the_plain_one(resource, full_url):
    from fhir_adapter.parse.resources import parse_medication
    from tests.adapter.reference_readers import reference_parse_medication

    for _ in range(2):  # the second reading answers from the memo of drugs
        fast = parse_medication(resource, full_url, _MEDICATIONS)
        _same_reading(fast, reference_parse_medication(resource, full_url, _MEDICATIONS), resource)
    fast.text_matches["x"] = "y"  # a record's own dict: the next reading is not changed by it
    _same_reading(parse_medication(resource, full_url, _MEDICATIONS),
                  reference_parse_medication(resource, full_url, _MEDICATIONS), resource)


SYNTHEA_DIR = ROOT.parent / "shared" / "data" / "synthea"


@pytest.mark.skipif(not list(SYNTHEA_DIR.glob("*.json")), reason="../shared/data/synthea is absent")
def test_the_fast_readings_equal_the_plain_ones_on_every_synthea_record():
    from fhir_adapter.parse import resources
    from tests.adapter import reference_readers

    readers = {"Condition": (resources.parse_condition, reference_readers.reference_parse_condition),
               "Procedure": (resources.parse_procedure, reference_readers.reference_parse_procedure),
               "MedicationRequest": (resources.parse_medication, reference_readers.reference_parse_medication),
               "MedicationStatement": (resources.parse_medication, reference_readers.reference_parse_medication)}
    read = 0
    for path in sorted(SYNTHEA_DIR.glob("*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8"))["entry"]:
            resource = entry.get("resource", {})
            pair = readers.get(resource.get("resourceType"))
            if pair:
                _same_reading(pair[0](resource, entry.get("fullUrl")), pair[1](resource, entry.get("fullUrl")),
                              resource)
                read += 1
    assert read > 100


def test_the_memo_of_drugs_is_bounded(monkeypatch):
    from fhir_adapter.parse import resources

    monkeypatch.setattr(resources, "_DRUGS_SEEN", {})
    monkeypatch.setattr(resources, "_DRUGS_SEEN_MAX", 3)
    for index in range(10):
        resources.parse_medication({"resourceType": "MedicationRequest", "id": f"m{index}",
                                    "medicationCodeableConcept": {"text": f"drug {index}"}})
    assert len(resources._DRUGS_SEEN) == 3


def test_the_memo_of_drugs_keeps_no_long_text(monkeypatch):
    """Free text longer than the text memos' limit (a narrative pasted into a medication) is read, never kept."""
    from fhir_adapter.parse import resources
    from tests.adapter import reference_readers
    from fhir_adapter.terminology.text_memo import MAX_TEXT

    monkeypatch.setattr(resources, "_DRUGS_SEEN", {})
    long_text = "metformin 500 mg " + "x" * MAX_TEXT
    long_display = {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "860975",
                    "display": "metformin " + "y" * MAX_TEXT}
    for concept in ({"text": long_text}, {"coding": [long_display]}):
        resource = {"resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
                    "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": concept}
        fast, plain = resources.parse_medication(resource), reference_readers.reference_parse_medication(resource)
        assert repr(fast) == repr(plain)
    assert resources._DRUGS_SEEN == {}
    short = {"resourceType": "MedicationRequest", "id": "m2", "medicationCodeableConcept": {"text": "metformin"}}
    resources.parse_medication(short)
    assert len(resources._DRUGS_SEEN) == 1
