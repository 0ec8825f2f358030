"""Shared detector machinery: code sets, problem-list suppression, result screening, FHIR suggestions, robustness."""
from __future__ import annotations

import math
from datetime import date

import pytest
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.servicerequest import ServiceRequest

from engine.detectors.common import add_condition_action, code_data, concept, order_action, readings
from engine.finding import Evidence, Kind, Status
from engine.registry import detectors
from tests.engine.detector_fixtures import ICD10CM, SNOMED, days_ago, ev, features, run
from tests.proposal_resources import resource as proposal_resource

DETECTOR_IDS = ("diabetes-gap", "hypertension-gap", "ckd-gap", "obesity-gap", "fh-possible", "anemia-gap")


def test_every_detector_is_registered_as_a_diagnosis_engine_with_a_citation():
    assert set(DETECTOR_IDS) <= set(detectors.ids())
    for detector_id in DETECTOR_IDS:
        engine = detectors.get(detector_id)
        assert engine.kind is Kind.DIAGNOSIS
        assert engine.citation.full and engine.citation.short


# -- code sets -------------------------------------------------------------------------------------------------------
def test_code_file_has_provenance_and_both_code_systems_for_every_condition():
    data = code_data()
    assert {"snomed", "icd10cm"} <= set(data["provenance"])
    for concept_id in data["conditions"]:
        c = concept(concept_id)
        codings = c.codings()
        assert [x["system"] for x in codings] == [SNOMED, ICD10CM]
        assert all(x["code"] and x["display"] for x in codings)
        # The suggested codes themselves count as "already documented" (no card after the clinician accepts one).
        assert c.documented_by({(SNOMED, c.snomed["code"])})
        assert c.documented_by({(ICD10CM, c.icd10cm["code"])})
        for variant in c.variants:
            assert c.documented_by({(ICD10CM, c.codings(variant)[1]["code"])}), (concept_id, variant)


@pytest.mark.parametrize("concept_id, pair, documented", [
    ("diabetes-mellitus", (ICD10CM, "E11.65"), True),
    ("diabetes-mellitus", (ICD10CM, "E1165"), True),  # dots ignored
    ("diabetes-mellitus", ("urn:oid:2.16.840.1.113883.6.90", "E10.9"), True),  # OID spelling of ICD-10-CM
    ("diabetes-mellitus", (ICD10CM, "O24.410"), False),  # gestational diabetes is not diabetes
    ("diabetes-mellitus", (ICD10CM, "R73.03"), False),  # prediabetes is not diabetes
    ("diabetes-mellitus", ("urn:oid:2.16.840.1.113883.6.96", "44054006"), True),  # OID spelling of SNOMED CT
    ("diabetes-mellitus", ("", "44054006"), False),  # no system: ambiguous, never matched
    ("obesity", (ICD10CM, "E66.3"), False),  # overweight does not document obesity
    ("obesity", (ICD10CM, "Z68.41"), True),
    ("obesity", (SNOMED, "162864005"), True),  # Synthea's "Body mass index 30+ - obesity"
    ("chronic-kidney-disease", (ICD10CM, "N17.9"), False),  # acute kidney injury is not CKD
    ("chronic-kidney-disease", (ICD10CM, "I12.9"), True),
    ("familial-hypercholesterolemia", (ICD10CM, "E78.00"), False),
    ("anemia", (ICD10CM, "D50.9"), True),
])
def test_problem_list_matching(concept_id, pair, documented):
    assert bool(concept(concept_id).documented_by({pair})) is documented


def test_malformed_condition_codes_are_ignored():
    assert concept("anemia").documented_by({(None, "D50.9"), (SNOMED, None), ("x",)}) is None  # type: ignore[arg-type]


# -- result screening ----------------------------------------------------------------------------------------------------
def test_readings_drop_unusable_results_with_reasons():
    fs = features(history={"hba1c_pct": [
        ev("hba1c_pct", 6.8, days_ago(5), source="Observation/ok"),
        ev("hba1c_pct", 51, days_ago(6), source="Observation/ifcc", unit="mmol/mol"),  # mislabelled unit
        ev("hba1c_pct", 51, days_ago(7), source="Observation/implausible"),  # mmol/mol value labelled "%"
        ev("hba1c_pct", 7.0, days_ago(900), source="Observation/stale"),
        ev("hba1c_pct", 7.0, date(2026, 7, 1), source="Observation/future"),
        ev("hba1c_pct", "high", days_ago(8), source="Observation/text"),
        ev("hba1c_pct", True, days_ago(8), source="Observation/bool"),
        ev("hba1c_pct", math.nan, days_ago(8), source="Observation/nan"),
    ]})
    usable, problems = readings(fs, "hba1c_pct", window_days=730)
    assert [r.evidence.source for r in usable] == ["Observation/ok"]
    reasons = {p.source: p.reason for p in problems}
    assert "mislabelled unit" in reasons["Observation/ifcc"]
    assert "implausible" in reasons["Observation/implausible"]
    assert "older than the 730-day look-back" in reasons["Observation/stale"]
    assert "future" in reasons["Observation/future"]
    assert "not a number" in reasons["Observation/text"] and "not a number" in reasons["Observation/bool"]
    assert "Observation/nan" in reasons


def test_equivalent_unit_spellings_are_accepted():
    fs = features(history={"egfr_mlmin173m2": [ev("egfr_mlmin173m2", 55, days_ago(3), unit="mL/min/{1.73_m2}")],
                           "sbp_mmhg": [ev("sbp_mmhg", 150, days_ago(3), unit="mm[Hg]")]})
    assert readings(fs, "egfr_mlmin173m2", window_days=30)[0]
    assert readings(fs, "sbp_mmhg", window_days=30)[0]


def test_undated_result_is_not_used():
    undated = Evidence(name="ldl_mgdl", label="LDL cholesterol", value=250, unit="mg/dL", effective=None,
                       source="Observation/undated")
    fs = features(age_years=50, history={"ldl_mgdl": [undated]})
    assert run("fh-possible", fs) == []
    usable, problems = readings(fs, "ldl_mgdl", window_days=1825)
    assert not usable and "no date" in problems[0].reason


# -- FHIR suggestions --------------------------------------------------------------------------------------------------
def test_provisional_condition_is_valid_fhir_r4_with_the_patient_as_subject():
    evidence = [ev("hba1c_pct", 7.0, days_ago(5), source="Observation/a1"),
                ev("glucose_fasting_mgdl", 140, days_ago(5), source="Observation/g1")]
    resource = proposal_resource(add_condition_action(concept("diabetes-mellitus"), evidence, why="test"))
    assert resource["subject"] == {"reference": "Patient/p1"}
    condition = Condition.model_validate(resource)
    assert condition.verificationStatus.coding[0].code == "provisional"
    assert condition.clinicalStatus.coding[0].code == "active"
    assert condition.category[0].coding[0].code == "problem-list-item"
    assert [c.system for c in condition.code.coding] == [SNOMED, ICD10CM]
    assert [d.reference for d in condition.evidence[0].detail] == ["Observation/a1", "Observation/g1"]


def test_derived_evidence_cites_the_results_it_came_from():
    weight = ev("weight_kg", 100, days_ago(5), source="Observation/w")
    height = ev("height_cm", 180, days_ago(400), source="Observation/h")
    derived = Evidence(name="bmi_kgm2", label="BMI", value=30.9, unit="kg/m2", effective=days_ago(5),
                       derived_from=(weight, height))
    resource = proposal_resource(add_condition_action(concept("obesity"), [derived], variant="class 1", why="n"))
    assert [d["reference"] for d in resource["evidence"][0]["detail"]] == ["Observation/w", "Observation/h"]
    assert resource["code"]["coding"][1]["code"] == "E66.811"


def test_order_is_a_valid_draft_proposal_service_request():
    suggestion = order_action("hba1c", label="Order HbA1c", reason="confirm", condition=concept("diabetes-mellitus"),
                              evidence=[ev("hba1c_pct", 6.7, days_ago(5), source="Observation/a1")])
    request = ServiceRequest.model_validate(proposal_resource(suggestion))
    assert (request.status, request.intent) == ("draft", "proposal")
    assert request.code.coding[0].code == "4548-4"
    assert request.reasonReference[0].reference == "Observation/a1"


# -- robustness --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("detector_id", DETECTOR_IDS)
def test_empty_record_gives_nothing(detector_id):
    assert run(detector_id, features()) == []


@pytest.mark.parametrize("detector_id", DETECTOR_IDS)
def test_garbage_values_never_raise(detector_id):
    names = ("hba1c_pct", "glucose_fasting_mgdl", "sbp_mmhg", "dbp_mmhg", "egfr_mlmin173m2", "uacr_mgg", "bmi_kgm2",
             "ldl_mgdl", "hemoglobin_gdl", "height_cm", "weight_kg")
    history = {n: [ev(n, v, days_ago(3)) for v in (None, "x", -1, 1e308, math.inf, [1], {"a": 1})] for n in names}
    fs = features(age_years="old", sex=7, pregnant="maybe", diabetes="yes", history=history)
    fs.condition_codes = {("http://snomed.info/sct", None), (None, None)}  # type: ignore[arg-type]
    fs.options = {"diabetes_lookback_days": "a lot", "bp_occasions": None}
    for finding in run(detector_id, fs):
        assert finding.status in (Status.COMPUTED, Status.INSUFFICIENT_DATA, Status.NOT_APPLICABLE)
