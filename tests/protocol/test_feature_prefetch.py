"""Prefetch templates derived from the feature catalogue: what each feature makes a service ask for, which keys are
optional, and that a MedicationStatement the EHR supplies under its key reaches the cards."""
from __future__ import annotations

import copy
import json

from cds_hooks.declaration import SERVICES, engine_features
from cds_hooks.evaluate import hook_request_from_resources
from cds_hooks.services import load_all
from cds_hooks.services.feature_prefetch import OPTIONAL_KEYS, PREFETCH_KEYS, genomic_queries, prefetch_for
from tests.conftest import load_fixture

load_all()

PATIENT = "{{context.patientId}}"


def test_medication_features_ask_for_requests_required_and_statements_optional():
    prefetch = prefetch_for(["bp_treated"])
    assert prefetch["medications"] == (f"MedicationRequest?patient={PATIENT}&status=active"
                                       "&_include=MedicationRequest:medication")
    assert prefetch["medication_statements"] == (f"MedicationStatement?patient={PATIENT}"
                                                 "&_include=MedicationStatement:medication")
    assert "medications" not in OPTIONAL_KEYS and "medication_statements" in OPTIONAL_KEYS


def test_statin_intolerance_asks_for_allergies_and_the_problem_list():
    prefetch = prefetch_for(["statin_intolerance"])
    assert prefetch["allergies"] == f"AllergyIntolerance?patient={PATIENT}"
    assert prefetch["conditions"] == f"Condition?patient={PATIENT}"
    assert "allergies" in OPTIONAL_KEYS


def test_ascvd_asks_for_every_procedure_of_the_patient():
    # Coronary revascularisation value sets hold hundreds of codes: too many for a code= query.
    prefetch = prefetch_for(["ascvd"])
    assert prefetch["procedures"] == f"Procedure?patient={PATIENT}"
    assert "procedures" in OPTIONAL_KEYS
    assert set(prefetch) == {"patient", "conditions", "procedures"}


def test_pregnancy_asks_for_the_problem_list_and_the_pregnancy_status_observation():
    prefetch = prefetch_for(["pregnant"])
    assert "http://loinc.org|82810-3" in prefetch["observations"]
    assert "conditions" in prefetch and "procedures" not in prefetch


def test_patient_only_features_need_only_the_patient():
    assert prefetch_for(["age_years", "sex", "race"]) == {"patient": f"Patient/{PATIENT}"}


def test_every_derived_service_marks_exactly_the_optional_keys_it_declares():
    for definition in SERVICES:
        if not (definition.engines and engine_features(definition.engines)):
            continue
        assert definition.optional_prefetch == frozenset(OPTIONAL_KEYS) & set(definition.prefetch), definition.id
        genomic_keys = {key for key, _ in genomic_queries().values()}
        assert set(definition.prefetch) <= {*PREFETCH_KEYS.values(), "coded_observations", *genomic_keys}, \
            definition.id
    cardiovascular = SERVICES.get("cardiovascular-risk")
    assert {"medications", "medication_statements", "procedures"} <= set(cardiovascular.prefetch)
    assert {"medication_statements", "procedures"} <= cardiovascular.optional_prefetch
    assert "medications" not in cardiovascular.optional_prefetch


def _post(client, body):
    return client.post("/cds-services/cardiovascular-risk", data=json.dumps(body), content_type="application/json")


def test_a_medication_statement_under_its_own_key_reaches_the_risk_card(client):
    body = load_fixture("hooks/patient-view-prefetch.json")
    resources = [body["prefetch"]["patient"]] + [e["resource"] for key, bundle in body["prefetch"].items()
                                                 if key != "patient" for e in bundle.get("entry", [])]
    patient_id = body["context"]["patientId"]
    statement = {"resourceType": "MedicationStatement", "id": "ms-lisinopril", "status": "active",
                 "subject": {"reference": f"Patient/{patient_id}"},
                 "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                           "code": "29046", "display": "lisinopril"}]},
                 "effectivePeriod": {"start": "2025-01-01"}}
    definition = SERVICES.get("cardiovascular-risk")
    request = hook_request_from_resources(resources + [statement], definition)
    assert [e["resource"]["id"] for e in request["prefetch"]["medication_statements"]["entry"]] == ["ms-lisinopril"]
    assert request["prefetch"]["medications"]["entry"] == []
    with_statement = _post(client, request)
    assert with_statement.status_code == 200
    # The statement counts as blood-pressure treatment (its resource id is on the explainer page, not on the card).
    assert any("On blood-pressure treatment" in card.get("detail", "") for card in with_statement.get_json()["cards"])

    # An EHR that cannot search MedicationStatement (and has no fhirServer to ask) still gets its cards.
    without = copy.deepcopy(request)
    del without["prefetch"]["medication_statements"]
    resp = _post(client, without)
    assert resp.status_code == 200
    assert not any("MedicationStatement/ms-lisinopril" in card.get("detail", "") for card in resp.get_json()["cards"])
