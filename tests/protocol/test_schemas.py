"""The CDS Hooks 2.0.1 JSON Schemas and cds_hooks.validation: one failing case per REQUIRED rule,
the house no-empty-values rule, pointers, message hygiene and speed."""
from __future__ import annotations

import copy
import json
import timeit
import tomllib
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from cds_hooks import validation
from cds_hooks.validation import (
    SchemaIssue,
    context_schema_known,
    validate_discovery,
    validate_feedback,
    validate_fragment,
    validate_hook_request,
    validate_response,
)

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "cds_hooks" / "schemas"
DELETE = object()  # marker for "remove this member" in mutated()

CARD_UUID = "4e0a3a1e-3283-4575-ab82-028d55fe2719"
SUGGESTION_UUID = "e56e1945-20b3-4393-8503-a1a20fd73152"
HOOK_INSTANCE = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"


# --- builders: each returns a fresh, valid body ----------------------------------------------

def bundle(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}


def draft_medication() -> dict:
    return {"resourceType": "MedicationRequest", "id": "103", "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/1288992"}}


CONTEXTS: dict[str, dict] = {
    "patient-view": {"userId": "Practitioner/example", "patientId": "1288992"},
    "order-select": {"userId": "PractitionerRole/123", "patientId": "1288992",
                     "selections": ["MedicationRequest/103"], "draftOrders": bundle(draft_medication())},
    "order-sign": {"userId": "Practitioner/abc", "patientId": "1288992",
                   "draftOrders": bundle(draft_medication())},
    "encounter-start": {"userId": "PractitionerRole/123", "patientId": "1288992", "encounterId": "89284"},
    "encounter-discharge": {"userId": "Practitioner/123", "patientId": "1288992", "encounterId": "89284"},
    "appointment-book": {"userId": "PractitionerRole/123", "patientId": "1288992",
                         "appointments": bundle({"resourceType": "Appointment", "id": "apt1",
                                                 "status": "proposed"})},
}


def request(hook: str = "patient-view", **extra: Any) -> dict:
    body = {"hook": hook, "hookInstance": HOOK_INSTANCE, "context": copy.deepcopy(CONTEXTS.get(hook, {}))}
    body.update(extra)
    return body


def full_request() -> dict:
    return request(
        fhirServer="https://ehr.example.org/fhir",
        fhirAuthorization={"access_token": "opaque-token", "token_type": "Bearer", "expires_in": 300,
                           "scope": "user/Patient.read user/Observation.read", "subject": "cds-service4",
                           "patient": "1288992"},
        prefetch={"patient": {"resourceType": "Patient", "id": "1288992"},
                  "a1c": {"resourceType": "Bundle", "type": "searchset"},
                  "nothing-found": None},
        extension={"org.example.trace": "abc"},
    )


def card() -> dict:
    return {"summary": "10-year ASCVD risk 12.3% (intermediate)", "indicator": "warning",
            "source": {"label": "Pooled Cohort Equations"}}


def full_card() -> dict:
    return {
        "uuid": CARD_UUID,
        "summary": "Consider a moderate-intensity statin",
        "detail": "**Why:** risk is *intermediate*.",
        "indicator": "critical",
        "source": {"label": "ACC/AHA 2019", "url": "https://example.org/guideline",
                   "icon": "https://example.org/icon-100px.png",
                   "topic": {"system": "http://example.org/topics", "code": "statin"}},
        "suggestions": [{
            "label": "Order atorvastatin 20 mg",
            "uuid": SUGGESTION_UUID,
            "isRecommended": True,
            "actions": [
                {"type": "create", "description": "Create the order",
                 "resource": {"resourceType": "MedicationRequest", "status": "draft", "intent": "order"}},
                {"type": "update", "description": "Record the score",
                 "resource": {"resourceType": "ServiceRequest", "id": "procedure-request-1"}},
                {"type": "delete", "description": "Remove the duplicate order",
                 "resourceId": "ServiceRequest/procedure-request-2"},
            ],
        }, {"label": "Do nothing for now"}],
        "selectionBehavior": "at-most-one",
        "overrideReasons": [{"system": "http://example.org/override", "code": "refused",
                             "display": "Patient refused"}],
        "links": [
            {"label": "Guideline", "url": "https://example.org/g", "type": "absolute", "autolaunchable": False},
            {"label": "Risk app", "url": "https://smart.example.org/launch", "type": "smart",
             "appContext": "{\"session\":1}"},
        ],
        "extension": {"org.example.rank": 1},
    }


def response() -> dict:
    return {"cards": [card(), full_card()],
            "systemActions": [{"type": "update", "description": "Store the score",
                               "resource": {"resourceType": "Observation", "id": "score-1"}}]}


def feedback_item(outcome: str = "accepted") -> dict:
    item = {"card": CARD_UUID, "outcome": outcome, "outcomeTimestamp": "2021-12-11T10:05:31Z"}
    if outcome == "accepted":
        item["acceptedSuggestions"] = [{"id": SUGGESTION_UUID}]
    return item


def feedback(outcome: str = "accepted") -> dict:
    return {"feedback": [feedback_item(outcome)]}


def service() -> dict:
    return {"hook": "patient-view", "title": "ASCVD risk", "description": "10-year ASCVD risk",
            "id": "ascvd-risk", "prefetch": {"patient": "Patient/{{context.patientId}}"},
            "usageRequirements": "Needs a lipid panel"}


def discovery() -> dict:
    return {"services": [service()]}


def mutated(body: dict, pointer: str, value: Any = DELETE) -> dict:
    """A deep copy of body with the member at pointer replaced (or removed with DELETE)."""
    body = copy.deepcopy(body)
    *parents, last = [p for p in pointer.split("/")[1:]]
    target: Any = body
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    key: Any = int(last) if isinstance(target, list) else last
    if value is DELETE:
        del target[key]
    else:
        target[key] = value
    return body


def pointers(issues: list[SchemaIssue]) -> list[str]:
    return [i.pointer for i in issues]


def assert_single_issue(issues: list[SchemaIssue], pointer: str, text: str) -> None:
    assert pointers(issues) == [pointer], issues
    assert text in issues[0].message, issues


# --- the schema files -------------------------------------------------------------------------

SCHEMA_FILES = ["hook-request", "cds-response", "feedback", "discovery"]


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_file_is_valid_draft_2020_12(name):
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_pyproject_ships_the_schemas_as_package_data():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "schemas/*.json" in pyproject["tool"]["setuptools"]["package-data"]["cds_hooks"]


def test_validators_are_compiled_once():
    assert validation._checker("cds-response", "") is validation._checker("cds-response", "")
    assert all(validation._checker(name, "").quick is not None for name in SCHEMA_FILES)
    assert validation._schemas() is validation._schemas()


def _walk_properties(node: Any, name: str = "", trail: str = ""):
    """Yield (property name, inlined subschema, where) for every declared property."""
    if isinstance(node, dict):
        for prop, sub in node.get("properties", {}).items():
            yield prop, sub, f"{trail}/{prop}"
        for key, value in node.items():
            yield from _walk_properties(value, name, f"{trail}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_properties(value, name, f"{trail}/{i}")


def _effective(sub: dict) -> dict:
    """Merge a property schema with the single-$ref-like allOf produced by inlining."""
    merged = dict(sub)
    for part in sub.get("allOf", []):
        for key, value in part.items():
            merged.setdefault(key, value)
    return merged


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_house_rule_no_optional_field_can_be_null_or_empty(name):
    """Every declared string/array/object property refuses "", [] and {}; only prefetch values may be
    null; only cards and services may be empty arrays (the 2.0.1 text allows both). Requests are what EHRs send,
    so there we accept an empty prefetch object and a searchset Bundle with `entry: []` (be liberal in what
    you accept: both mean "no data" unambiguously)."""
    lenient = {("hook-request", "prefetch"), ("hook-request", "entry")}
    inlined = validation._inlined_definitions(name)
    for prop, sub, where in _walk_properties(inlined[""]):
        if not isinstance(sub, dict) or "not" in sub or "const" in sub or "enum" in sub or "if" in sub:
            continue
        sub = _effective(sub)
        types = sub.get("type")
        types = types if isinstance(types, list) else [types]
        assert "null" not in types, where
        if "string" in types:
            assert sub.get("minLength", 0) >= 1 or "pattern" in sub, where
        if (name, prop) in lenient:
            continue
        if "array" in types and prop not in ("cards", "services"):
            assert sub.get("minItems", 0) >= 1, where
        if "object" in types and prop != "context":
            assert sub.get("minProperties", 0) >= 1 or sub.get("required"), where


def test_only_prefetch_values_may_be_null():
    text = {n: (SCHEMA_DIR / f"{n}.schema.json").read_text() for n in SCHEMA_FILES}
    assert '"null"' not in text["cds-response"] + text["feedback"] + text["discovery"]
    assert text["hook-request"].count('"null"') == 1
    assert validate_hook_request(request(prefetch={"k": None})) == []


def test_known_hooks_match_the_conditional_branches():
    schema = validation._schemas()["hook-request"]
    branch_hooks = {b["if"]["properties"]["hook"]["const"] for b in schema["allOf"]}
    branch_refs = {b["then"]["properties"]["context"]["$ref"] for b in schema["allOf"]}
    assert branch_hooks == validation.known_hooks() == set(CONTEXTS)
    assert branch_refs == {f"#/$defs/context-{h}" for h in CONTEXTS}


# --- hook request: valid ----------------------------------------------------------------------

@pytest.mark.parametrize("hook", sorted(CONTEXTS))
def test_minimal_request_for_each_known_hook_is_valid(hook):
    assert validate_hook_request(request(hook)) == []
    assert context_schema_known(hook)


def test_full_request_is_valid():
    assert validate_hook_request(full_request()) == []


@pytest.mark.parametrize("body", [
    request("medication-prescribe"),  # unknown hook: any context object
    {"hook": "org.example.patient-transmogrify", "hookInstance": HOOK_INSTANCE, "context": {"x": [1]}},
    request(fhirServer="http://localhost:8080/fhir"),  # fhirServer alone is fine; http allowed
    request(hookInstance=HOOK_INSTANCE.upper()),
    mutated(request(), "/context/userId", "Patient/1288992"),
    mutated(request(), "/context/userId", "RelatedPerson/rp-1"),
    mutated(request(), "/context/encounterId", "89284"),
    mutated(request("appointment-book"), "/context/userId", "Patient/1288992"),
    mutated(request("order-select"), "/context/encounterId", "e.1"),
    request(someFutureMember={"a": 1}),  # requests are open to members we do not know
    request(fhirServer="HTTPS://ehr.example.org/fhir"),  # the scheme is case-insensitive (RFC 3986 section 3.1)
    request(fhirServer="Http://localhost:8080/fhir"),
], ids=["unknown-hook", "reverse-domain-hook", "fhirServer-only", "uppercase-uuid", "patient-user",
        "related-person-user", "encounter-optional", "appointment-patient-user", "order-select-encounter",
        "unknown-member", "fhirServer-uppercase-scheme", "fhirServer-mixed-case-scheme"])
def test_other_valid_requests(body):
    assert validate_hook_request(body) == []


@pytest.mark.parametrize("hook", ["medication-prescribe", "", None, 3, "Patient-View"])
def test_unknown_hooks_have_no_context_schema(hook):
    assert context_schema_known(hook) is False


# --- hook request: one defect each -------------------------------------------------------------

REQUEST_DEFECTS = [
    # (id, body, pointer, message fragment)
    ("hook-missing", mutated(request(), "/hook"), "/hook", "required property 'hook' is missing"),
    ("hook-not-string", mutated(request(), "/hook", 7), "/hook", "must be of type string"),
    ("hook-empty", mutated(request(), "/hook", ""), "/hook", "hook name"),
    ("hook-space", mutated(request(), "/hook", "patient view"), "/hook", "hook name"),
    ("instance-missing", mutated(request(), "/hookInstance"), "/hookInstance", "is missing"),
    ("instance-not-uuid", mutated(request(), "/hookInstance", "abc"), "/hookInstance", "UUID"),
    ("instance-no-dashes", mutated(request(), "/hookInstance", HOOK_INSTANCE.replace("-", "")),
     "/hookInstance", "UUID"),
    # uuid.UUID (the `format` check) accepts these two; only the pattern refuses them
    ("instance-urn", mutated(request(), "/hookInstance", "urn:uuid:" + HOOK_INSTANCE), "/hookInstance", "UUID"),
    ("instance-braces", mutated(request(), "/hookInstance", "{" + HOOK_INSTANCE + "}"), "/hookInstance", "UUID"),
    ("instance-newline", mutated(request(), "/hookInstance", HOOK_INSTANCE + "\n"), "/hookInstance", "UUID"),
    ("instance-number", mutated(request(), "/hookInstance", 12), "/hookInstance", "must be of type string"),
    ("context-missing", mutated(request(), "/context"), "/context", "required property 'context'"),
    ("context-array", mutated(request("medication-prescribe"), "/context", []), "/context",
     "must be of type object"),
    ("context-null", mutated(request(), "/context", None), "/context", "must be of type object"),
    ("server-required-with-auth", mutated(full_request(), "/fhirServer"), "/fhirServer",
     "required when 'fhirAuthorization' is present"),
    ("server-not-url", mutated(full_request(), "/fhirServer", "ehr.example.org/fhir"), "/fhirServer", "URL"),
    ("server-ftp", mutated(full_request(), "/fhirServer", "ftp://ehr.example.org"), "/fhirServer", "URL"),
    ("server-FTP", mutated(full_request(), "/fhirServer", "FTP://ehr.example.org"), "/fhirServer", "URL"),
    ("server-httpx", mutated(full_request(), "/fhirServer", "HTTPX://ehr.example.org"), "/fhirServer", "URL"),
    ("server-file", mutated(full_request(), "/fhirServer", "FILE:///etc/passwd"), "/fhirServer", "URL"),
    ("server-empty", mutated(full_request(), "/fhirServer", ""), "/fhirServer", "URL"),
    ("server-null", mutated(full_request(), "/fhirServer", None), "/fhirServer", "type string"),
    ("server-space", mutated(full_request(), "/fhirServer", "https://ehr.example.org/my fhir"),
     "/fhirServer", "URL"),
    ("auth-not-object", mutated(full_request(), "/fhirAuthorization", "Bearer x"), "/fhirAuthorization",
     "must be of type object"),
    ("token-type-mac", mutated(full_request(), "/fhirAuthorization/token_type", "MAC"),
     "/fhirAuthorization/token_type", 'must be exactly "Bearer"'),
    ("expires-string", mutated(full_request(), "/fhirAuthorization/expires_in", "300"),
     "/fhirAuthorization/expires_in", "must be of type integer"),
    ("expires-float", mutated(full_request(), "/fhirAuthorization/expires_in", 3.5),
     "/fhirAuthorization/expires_in", "must be of type integer"),
    ("expires-negative", mutated(full_request(), "/fhirAuthorization/expires_in", -1),
     "/fhirAuthorization/expires_in", "at least 0"),
    ("token-empty", mutated(full_request(), "/fhirAuthorization/access_token", ""),
     "/fhirAuthorization/access_token", "must not be empty"),
    ("scope-empty", mutated(full_request(), "/fhirAuthorization/scope", ""),
     "/fhirAuthorization/scope", "must not be empty"),
    ("auth-patient-empty", mutated(full_request(), "/fhirAuthorization/patient", ""),
     "/fhirAuthorization/patient", "FHIR id"),
    ("prefetch-null", mutated(full_request(), "/prefetch", None), "/prefetch", "must be of type object"),
    ("prefetch-value-string", mutated(full_request(), "/prefetch/patient", "123"), "/prefetch/patient",
     "must be of type object or null"),
    ("prefetch-value-array", mutated(full_request(), "/prefetch/patient", [{"resourceType": "Patient"}]),
     "/prefetch/patient", "must be of type object or null"),
    ("prefetch-value-not-resource", mutated(full_request(), "/prefetch/patient", {"id": "1"}),
     "/prefetch/patient/resourceType", "required property 'resourceType' is missing"),
    ("prefetch-bad-resource-type", mutated(full_request(), "/prefetch/patient/resourceType", "patient"),
     "/prefetch/patient/resourceType", "resource type"),
    ("extension-empty", mutated(full_request(), "/extension", {}), "/extension", "must not be an empty object"),
    ("extension-string", mutated(full_request(), "/extension", "x"), "/extension", "must be of type object"),
    # patient-view
    ("pv-user-missing", mutated(request(), "/context/userId"), "/context/userId", "is missing"),
    ("pv-patient-missing", mutated(request(), "/context/patientId"), "/context/patientId", "is missing"),
    ("pv-user-bare-id", mutated(request(), "/context/userId", "example"), "/context/userId",
     "Practitioner/id, PractitionerRole/id, Patient/id or RelatedPerson/id"),
    ("pv-user-device", mutated(request(), "/context/userId", "Device/1"), "/context/userId", "Practitioner/id"),
    ("pv-user-lowercase", mutated(request(), "/context/userId", "practitioner/1"), "/context/userId",
     "Practitioner/id"),
    ("pv-patient-empty", mutated(request(), "/context/patientId", ""), "/context/patientId", "FHIR id"),
    ("pv-patient-reference", mutated(request(), "/context/patientId", "Patient/1288992"),
     "/context/patientId", "FHIR id"),
    ("pv-patient-number", mutated(request(), "/context/patientId", 1288992), "/context/patientId",
     "must be of type string"),
    ("pv-patient-too-long", mutated(request(), "/context/patientId", "a" * 65), "/context/patientId", "FHIR id"),
    ("pv-encounter-null", mutated(request(), "/context/encounterId", None), "/context/encounterId",
     "must be of type string"),
    # order-select
    ("os-selections-missing", mutated(request("order-select"), "/context/selections"),
     "/context/selections", "is missing"),
    ("os-draft-missing", mutated(request("order-select"), "/context/draftOrders"),
     "/context/draftOrders", "is missing"),
    ("os-patient-missing", mutated(request("order-select"), "/context/patientId"),
     "/context/patientId", "is missing"),
    ("os-user-missing", mutated(request("order-select"), "/context/userId"), "/context/userId", "is missing"),
    ("os-selections-empty", mutated(request("order-select"), "/context/selections", []),
     "/context/selections", "must not be an empty array"),
    ("os-selections-bare-id", mutated(request("order-select"), "/context/selections", ["103"]),
     "/context/selections/0", "relative FHIR reference"),
    ("os-selections-string", mutated(request("order-select"), "/context/selections", "MedicationRequest/103"),
     "/context/selections", "must be of type array"),
    ("os-draft-not-bundle", mutated(request("order-select"), "/context/draftOrders", draft_medication()),
     "/context/draftOrders/resourceType", 'must be exactly "Bundle"'),
    ("os-user-patient", mutated(request("order-select"), "/context/userId", "Patient/1"),
     "/context/userId", "Practitioner/id or PractitionerRole/id"),
    # order-sign
    ("sign-draft-missing", mutated(request("order-sign"), "/context/draftOrders"),
     "/context/draftOrders", "is missing"),
    ("sign-patient-missing", mutated(request("order-sign"), "/context/patientId"),
     "/context/patientId", "is missing"),
    ("sign-user-missing", mutated(request("order-sign"), "/context/userId"), "/context/userId", "is missing"),
    ("sign-user-related", mutated(request("order-sign"), "/context/userId", "RelatedPerson/1"),
     "/context/userId", "Practitioner/id or PractitionerRole/id"),
    ("sign-draft-array", mutated(request("order-sign"), "/context/draftOrders", [draft_medication()]),
     "/context/draftOrders", "must be of type object"),
    # encounter-start / encounter-discharge
    ("start-encounter-missing", mutated(request("encounter-start"), "/context/encounterId"),
     "/context/encounterId", "is missing"),
    ("start-patient-missing", mutated(request("encounter-start"), "/context/patientId"),
     "/context/patientId", "is missing"),
    ("start-user-missing", mutated(request("encounter-start"), "/context/userId"), "/context/userId", "missing"),
    ("start-user-patient", mutated(request("encounter-start"), "/context/userId", "Patient/1"),
     "/context/userId", "Practitioner/id or PractitionerRole/id"),
    ("discharge-encounter-missing", mutated(request("encounter-discharge"), "/context/encounterId"),
     "/context/encounterId", "is missing"),
    ("discharge-patient-missing", mutated(request("encounter-discharge"), "/context/patientId"),
     "/context/patientId", "is missing"),
    ("discharge-user-missing", mutated(request("encounter-discharge"), "/context/userId"),
     "/context/userId", "is missing"),
    # appointment-book
    ("book-appointments-missing", mutated(request("appointment-book"), "/context/appointments"),
     "/context/appointments", "is missing"),
    ("book-patient-missing", mutated(request("appointment-book"), "/context/patientId"),
     "/context/patientId", "is missing"),
    ("book-user-missing", mutated(request("appointment-book"), "/context/userId"), "/context/userId", "missing"),
    ("book-appointments-not-bundle", mutated(request("appointment-book"), "/context/appointments/resourceType",
                                             "Appointment"),
     "/context/appointments/resourceType", 'must be exactly "Bundle"'),
]


@pytest.mark.parametrize("body,pointer,text", [c[1:] for c in REQUEST_DEFECTS], ids=[c[0] for c in REQUEST_DEFECTS])
def test_request_defect_is_reported_at_its_pointer(body, pointer, text):
    assert_single_issue(validate_hook_request(body), pointer, text)


@pytest.mark.parametrize("field", ["access_token", "token_type", "expires_in", "scope", "subject"])
def test_each_fhir_authorization_field_is_required(field):
    body = mutated(full_request(), f"/fhirAuthorization/{field}")
    assert_single_issue(validate_hook_request(body), f"/fhirAuthorization/{field}", f"'{field}' is missing")


def test_fhir_authorization_patient_is_optional():
    assert validate_hook_request(mutated(full_request(), "/fhirAuthorization/patient")) == []


def test_all_defects_are_reported_sorted_and_once():
    body = {"hook": "order-sign", "hookInstance": "nope",
            "fhirAuthorization": {"token_type": "Bearer", "expires_in": 60, "scope": "s", "subject": "c"},
            "context": {"userId": "Patient/1"}}
    assert pointers(validate_hook_request(body)) == [
        "/context/draftOrders", "/context/patientId", "/context/userId",
        "/fhirAuthorization/access_token", "/fhirServer", "/hookInstance"]
    assert validate_hook_request(body) == validate_hook_request(copy.deepcopy(body))


def test_wrong_hook_context_rules_are_not_applied_to_other_hooks():
    # an order-sign context under patient-view is fine (extra members are allowed)...
    assert validate_hook_request(request("patient-view", context=CONTEXTS["order-sign"])) == []
    # ...but a patient-view context under order-sign lacks draftOrders
    assert pointers(validate_hook_request(request("order-sign", context=CONTEXTS["patient-view"]))) == [
        "/context/draftOrders"]


# --- response -----------------------------------------------------------------------------------

def test_empty_cards_is_valid():
    assert validate_response({"cards": []}) == []


def test_full_response_is_valid():
    assert validate_response(response()) == []


def test_summary_of_139_characters_is_the_longest_allowed():
    assert validate_response({"cards": [mutated(card(), "/summary", "x" * 139)]}) == []
    assert_single_issue(validate_response({"cards": [mutated(card(), "/summary", "x" * 140)]}),
                        "/cards/0/summary", "at most 139 characters")


def test_at_most_one_with_a_single_recommended_and_any_with_two_are_valid():
    body = {"cards": [full_card()]}
    assert validate_response(body) == []
    two = mutated(body, "/cards/0/suggestions/1/isRecommended", True)
    assert validate_response(mutated(two, "/cards/0/selectionBehavior", "any")) == []


def _c(pointer: str = "") -> str:
    return "/cards/1" + pointer


RESPONSE_DEFECTS = [
    ("cards-missing", {"systemActions": response()["systemActions"]}, "/cards", "'cards' is missing"),
    ("cards-null", {"cards": None}, "/cards", "must be of type array"),
    ("cards-object", {"cards": {}}, "/cards", "must be of type array"),
    ("top-unknown-member", {"cards": [], "card": []}, "/card", "not a field defined"),
    ("system-actions-empty", mutated(response(), "/systemActions", []), "/systemActions",
     "must not be an empty array"),
    ("system-action-description", mutated(response(), "/systemActions/0/description"),
     "/systemActions/0/description", "'description' is missing"),
    ("summary-missing", mutated(response(), _c("/summary")), _c("/summary"), "'summary' is missing"),
    ("summary-empty", mutated(response(), _c("/summary"), ""), _c("/summary"), "must not be empty"),
    ("summary-number", mutated(response(), _c("/summary"), 5), _c("/summary"), "must be of type string"),
    ("indicator-missing", mutated(response(), _c("/indicator")), _c("/indicator"), "'indicator' is missing"),
    ("indicator-unknown", mutated(response(), _c("/indicator"), "urgent"), _c("/indicator"),
     "must be one of: info, warning, critical"),
    ("indicator-case", mutated(response(), _c("/indicator"), "Critical"), _c("/indicator"), "must be one of"),
    ("source-missing", mutated(response(), _c("/source")), _c("/source"), "'source' is missing"),
    ("source-label-missing", mutated(response(), _c("/source/label")), _c("/source/label"), "is missing"),
    ("source-label-empty", mutated(response(), _c("/source/label"), ""), _c("/source/label"), "must not be empty"),
    ("source-url-relative", mutated(response(), _c("/source/url"), "/guideline"), _c("/source/url"), "URL"),
    ("source-icon-empty", mutated(response(), _c("/source/icon"), ""), _c("/source/icon"), "URL"),
    ("source-unknown-member", mutated(response(), _c("/source/logo"), "https://x.org/l.png"),
     _c("/source/logo"), "not a field defined"),
    ("topic-code-missing", mutated(response(), _c("/source/topic/code")), _c("/source/topic/code"), "missing"),
    ("topic-system-empty", mutated(response(), _c("/source/topic/system"), ""), _c("/source/topic/system"),
     "must not be empty"),
    ("uuid-bad", mutated(response(), _c("/uuid"), "card-1"), _c("/uuid"), "UUID"),
    ("uuid-null", mutated(response(), _c("/uuid"), None), _c("/uuid"), "must be of type string"),
    ("detail-empty", mutated(response(), _c("/detail"), ""), _c("/detail"), "must not be empty"),
    ("detail-null", mutated(response(), _c("/detail"), None), _c("/detail"), "must be of type string"),
    ("card-unknown-member", mutated(response(), _c("/sumary"), "typo"), _c("/sumary"), "not a field defined"),
    ("card-extension-empty", mutated(response(), _c("/extension"), {}), _c("/extension"),
     "must not be an empty object"),
    ("suggestions-empty", mutated(response(), _c("/suggestions"), []), _c("/suggestions"),
     "must not be an empty array"),
    ("selection-required", mutated(response(), _c("/selectionBehavior")), _c("/selectionBehavior"),
     "required when 'suggestions' is present"),
    ("selection-unknown", mutated(response(), _c("/selectionBehavior"), "all"), _c("/selectionBehavior"),
     "must be one of: at-most-one, any"),
    ("two-recommended-at-most-one", mutated(response(), _c("/suggestions/1/isRecommended"), True),
     _c("/suggestions"), "at most one suggestion may be isRecommended"),
    ("suggestion-label-missing", mutated(response(), _c("/suggestions/0/label")), _c("/suggestions/0/label"),
     "is missing"),
    ("suggestion-uuid-bad", mutated(response(), _c("/suggestions/0/uuid"), "s1"), _c("/suggestions/0/uuid"),
     "UUID"),
    ("suggestion-recommended-string", mutated(response(), _c("/suggestions/0/isRecommended"), "yes"),
     _c("/suggestions/0/isRecommended"), "must be of type boolean"),
    ("suggestion-actions-empty", mutated(response(), _c("/suggestions/0/actions"), []),
     _c("/suggestions/0/actions"), "must not be an empty array"),
    ("action-type-missing", mutated(response(), _c("/suggestions/0/actions/0/type")),
     _c("/suggestions/0/actions/0/type"), "is missing"),
    ("action-type-unknown", mutated(response(), _c("/suggestions/0/actions/0/type"), "modify"),
     _c("/suggestions/0/actions/0/type"), "must be one of: create, update, delete"),
    ("action-description-missing", mutated(response(), _c("/suggestions/0/actions/0/description")),
     _c("/suggestions/0/actions/0/description"), "is missing"),
    ("create-without-resource", mutated(response(), _c("/suggestions/0/actions/0/resource")),
     _c("/suggestions/0/actions/0/resource"), "'resource' is missing"),
    ("resource-without-type", mutated(response(), _c("/suggestions/0/actions/0/resource/resourceType")),
     _c("/suggestions/0/actions/0/resource/resourceType"), "is missing"),
    ("resource-as-id-string", mutated(response(), _c("/suggestions/0/actions/0/resource"), "MedicationRequest/1"),
     _c("/suggestions/0/actions/0/resource"), "must be of type object"),
    ("update-without-resource", mutated(response(), _c("/suggestions/0/actions/1/resource")),
     _c("/suggestions/0/actions/1/resource"), "'resource' is missing"),
    ("update-resource-without-id", mutated(response(), _c("/suggestions/0/actions/1/resource/id")),
     _c("/suggestions/0/actions/1/resource/id"), "'id' is missing"),
    ("delete-without-resource-id", mutated(response(), _c("/suggestions/0/actions/2/resourceId")),
     _c("/suggestions/0/actions/2/resourceId"), "'resourceId' is missing"),
    ("resource-id-bare", mutated(response(), _c("/suggestions/0/actions/2/resourceId"), "procedure-request-2"),
     _c("/suggestions/0/actions/2/resourceId"), "relative FHIR reference"),
    ("override-reasons-empty", mutated(response(), _c("/overrideReasons"), []), _c("/overrideReasons"),
     "must not be an empty array"),
    ("override-display-missing", mutated(response(), _c("/overrideReasons/0/display")),
     _c("/overrideReasons/0/display"), "'display' is missing"),
    ("override-code-missing", mutated(response(), _c("/overrideReasons/0/code")),
     _c("/overrideReasons/0/code"), "'code' is missing"),
    ("links-empty", mutated(response(), _c("/links"), []), _c("/links"), "must not be an empty array"),
    ("link-url-missing", mutated(response(), _c("/links/0/url")), _c("/links/0/url"), "is missing"),
    ("link-label-missing", mutated(response(), _c("/links/0/label")), _c("/links/0/label"), "is missing"),
    ("link-type-missing", mutated(response(), _c("/links/0/type")), _c("/links/0/type"), "is missing"),
    ("link-type-unknown", mutated(response(), _c("/links/0/type"), "relative"), _c("/links/0/type"),
     "must be one of: absolute, smart"),
    ("link-url-not-url", mutated(response(), _c("/links/0/url"), "example.org"), _c("/links/0/url"), "URL"),
    ("app-context-on-absolute", mutated(response(), _c("/links/0/appContext"), "x=1"),
     _c("/links/0/appContext"), "not valid on links of type absolute"),
    ("app-context-empty", mutated(response(), _c("/links/1/appContext"), ""), _c("/links/1/appContext"),
     "must not be empty"),
    ("autolaunchable-string", mutated(response(), _c("/links/0/autolaunchable"), "true"),
     _c("/links/0/autolaunchable"), "must be of type boolean"),
    ("links-null", mutated(response(), _c("/links"), None), _c("/links"), "must be of type array"),
]


@pytest.mark.parametrize("body,pointer,text", [c[1:] for c in RESPONSE_DEFECTS],
                         ids=[c[0] for c in RESPONSE_DEFECTS])
def test_response_defect_is_reported_at_its_pointer(body, pointer, text):
    assert_single_issue(validate_response(body), pointer, text)


def test_response_body_that_is_not_an_object():
    assert validate_response([]) == [SchemaIssue("", "must be of type object")]


# --- feedback -----------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    feedback("accepted"),
    feedback("overridden"),
    {"feedback": [mutated(feedback_item("overridden"), "/overrideReason",
                          {"reason": {"code": "d7ecf885", "system": "https://example.com/override"},
                           "userComment": "Patient declined"})]},
    {"feedback": [mutated(feedback_item("overridden"), "/overrideReason", {"userComment": "only a comment"})]},
    {"feedback": [feedback_item("accepted"), feedback_item("overridden")]},
], ids=["accepted", "overridden", "override-reason", "comment-only", "two-items"])
def test_valid_feedback(body):
    assert validate_feedback(body) == []


@pytest.mark.parametrize("stamp", ["1985-04-12T23:20:50.52Z", "2020-12-11T00:00:00+05:30",
                                   "2020-12-11T00:00:00-00:00", "2020-12-11t00:00:00z"])
def test_rfc3339_timestamps_are_accepted(stamp):
    assert validate_feedback({"feedback": [mutated(feedback_item(), "/outcomeTimestamp", stamp)]}) == []


@pytest.mark.parametrize("stamp", [
    "2020-12-11", "2020-12-11T00:00:00", "2020-12-11 00:00:00Z", "2020-13-11T00:00:00Z",
    "2020-12-11T24:00:00Z", "2020-12-11T00:00Z", "20201211T000000Z", "2020-12-11T00:00:00Z\n",
    "2020-12-11T00:00:00.Z", "2020-12-11T00:00:00+0530", "", "yesterday"])
def test_non_rfc3339_timestamps_are_refused_by_the_pattern(stamp):
    assert_single_issue(validate_feedback({"feedback": [mutated(feedback_item(), "/outcomeTimestamp", stamp)]}),
                        "/feedback/0/outcomeTimestamp", "RFC 3339 date-time")


@pytest.mark.skipif("date-time" not in FormatChecker().checkers, reason="rfc3339-validator not installed")
def test_impossible_calendar_date_is_refused_by_the_format_check():
    body = {"feedback": [mutated(feedback_item(), "/outcomeTimestamp", "2021-02-30T10:00:00Z")]}
    assert_single_issue(validate_feedback(body), "/feedback/0/outcomeTimestamp", "RFC 3339 date-time")


FEEDBACK_DEFECTS = [
    ("feedback-missing", {}, "/feedback", "'feedback' is missing"),
    ("feedback-empty", {"feedback": []}, "/feedback", "must not be an empty array"),
    ("feedback-object", {"feedback": feedback_item()}, "/feedback", "must be of type array"),
    ("card-missing", mutated(feedback(), "/feedback/0/card"), "/feedback/0/card", "'card' is missing"),
    ("card-not-uuid", mutated(feedback(), "/feedback/0/card", "card-1"), "/feedback/0/card", "UUID"),
    ("outcome-missing", mutated(feedback(), "/feedback/0/outcome"), "/feedback/0/outcome", "is missing"),
    ("outcome-unknown", mutated(feedback(), "/feedback/0/outcome", "ignored"), "/feedback/0/outcome",
     "must be one of: accepted, overridden"),
    ("timestamp-missing", mutated(feedback(), "/feedback/0/outcomeTimestamp"), "/feedback/0/outcomeTimestamp",
     "'outcomeTimestamp' is missing"),
    ("timestamp-number", mutated(feedback(), "/feedback/0/outcomeTimestamp", 1607644800),
     "/feedback/0/outcomeTimestamp", "must be of type string"),
    ("accepted-needs-suggestions", mutated(feedback(), "/feedback/0/acceptedSuggestions"),
     "/feedback/0/acceptedSuggestions", "'acceptedSuggestions' is missing"),
    ("accepted-suggestions-empty", mutated(feedback(), "/feedback/0/acceptedSuggestions", []),
     "/feedback/0/acceptedSuggestions", "must not be an empty array"),
    ("accepted-suggestion-id-missing", mutated(feedback(), "/feedback/0/acceptedSuggestions/0", {}),
     "/feedback/0/acceptedSuggestions/0/id", "'id' is missing"),
    ("accepted-suggestion-id-bad", mutated(feedback(), "/feedback/0/acceptedSuggestions/0/id", "s1"),
     "/feedback/0/acceptedSuggestions/0/id", "UUID"),
    ("accepted-with-override-reason", mutated(feedback(), "/feedback/0/overrideReason", {"userComment": "x"}),
     "/feedback/0/overrideReason", "only allowed when outcome is overridden"),
    ("overridden-with-suggestions", mutated(feedback("overridden"), "/feedback/0/acceptedSuggestions",
                                            [{"id": SUGGESTION_UUID}]),
     "/feedback/0/acceptedSuggestions", "only allowed when outcome is accepted"),
    ("override-reason-empty", mutated(feedback("overridden"), "/feedback/0/overrideReason", {}),
     "/feedback/0/overrideReason", "must not be an empty object"),
    ("override-reason-code-missing", mutated(feedback("overridden"), "/feedback/0/overrideReason",
                                             {"reason": {"system": "https://example.com/o"}}),
     "/feedback/0/overrideReason/reason/code", "'code' is missing"),
    ("override-comment-empty", mutated(feedback("overridden"), "/feedback/0/overrideReason",
                                       {"userComment": ""}),
     "/feedback/0/overrideReason/userComment", "must not be empty"),
]


@pytest.mark.parametrize("body,pointer,text", [c[1:] for c in FEEDBACK_DEFECTS],
                         ids=[c[0] for c in FEEDBACK_DEFECTS])
def test_feedback_defect_is_reported_at_its_pointer(body, pointer, text):
    assert_single_issue(validate_feedback(body), pointer, text)


# --- discovery ----------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    {"services": []},
    discovery(),
    {"services": [{"hook": "order-sign", "description": "d", "id": "pgx_on-order.sign~1"}]},
    {"services": [mutated(service(), "/extension", {"com.example.clientConformance": "https://x.org/c"})]},
], ids=["no-services", "full", "minimal", "extension"])
def test_valid_discovery(body):
    assert validate_discovery(body) == []


DISCOVERY_DEFECTS = [
    ("services-missing", {}, "/services", "'services' is missing"),
    ("services-null", {"services": None}, "/services", "must be of type array"),
    ("hook-missing", mutated(discovery(), "/services/0/hook"), "/services/0/hook", "'hook' is missing"),
    ("description-missing", mutated(discovery(), "/services/0/description"), "/services/0/description",
     "'description' is missing"),
    ("id-missing", mutated(discovery(), "/services/0/id"), "/services/0/id", "'id' is missing"),
    ("id-with-slash", mutated(discovery(), "/services/0/id", "a/b"), "/services/0/id", "URL path segment"),
    ("id-with-space", mutated(discovery(), "/services/0/id", "a b"), "/services/0/id", "URL path segment"),
    ("id-empty", mutated(discovery(), "/services/0/id", ""), "/services/0/id", "URL path segment"),
    ("title-empty", mutated(discovery(), "/services/0/title", ""), "/services/0/title", "must not be empty"),
    ("prefetch-empty", mutated(discovery(), "/services/0/prefetch", {}), "/services/0/prefetch",
     "must not be an empty object"),
    ("prefetch-value-number", mutated(discovery(), "/services/0/prefetch/patient", 3),
     "/services/0/prefetch/patient", "must be of type string"),
    ("prefetch-value-empty", mutated(discovery(), "/services/0/prefetch/patient", ""),
     "/services/0/prefetch/patient", "must not be empty"),
    ("usage-null", mutated(discovery(), "/services/0/usageRequirements", None), "/services/0/usageRequirements",
     "must be of type string"),
    ("unknown-member", mutated(discovery(), "/services/0/hookVersion", "1.0"), "/services/0/hookVersion",
     "not a field defined"),
    ("extension-array", mutated(discovery(), "/services/0/extension", []), "/services/0/extension",
     "must be of type object"),
]


@pytest.mark.parametrize("body,pointer,text", [c[1:] for c in DISCOVERY_DEFECTS],
                         ids=[c[0] for c in DISCOVERY_DEFECTS])
def test_discovery_defect_is_reported_at_its_pointer(body, pointer, text):
    assert_single_issue(validate_discovery(body), pointer, text)


# --- fragments ------------------------------------------------------------------------------------

def test_fragment_pointers_are_relative_to_the_fragment():
    assert validate_fragment("cds-response", "card", card()) == []
    assert_single_issue(validate_fragment("cds-response", "action", {"type": "delete", "description": "d"}),
                        "/resourceId", "'resourceId' is missing")
    assert_single_issue(validate_fragment("hook-request", "context-encounter-start", {"userId": "Practitioner/1",
                                                                                     "patientId": "p"}),
                        "/encounterId", "is missing")


@pytest.mark.parametrize("schema,definition", [("nope", "card"), ("cds-response", "nope"), ("cds-response", "")])
def test_unknown_fragment_is_a_programming_error(schema, definition):
    with pytest.raises(ValueError):
        validate_fragment(schema, definition, {})


# --- pointers, messages, robustness, speed --------------------------------------------------------

def test_pointer_tokens_are_escaped():
    body = request(prefetch={"a/b~c": "not a resource"})
    assert pointers(validate_hook_request(body)) == ["/prefetch/a~1b~0c"]


CANARY = "Zq9CANARY"  # stands for patient data or a token: it must never reach a message


def _canary_bodies() -> list[tuple[Callable[[Any], list[SchemaIssue]], Any]]:
    bad_request = {
        "hook": f"{CANARY} view", "hookInstance": CANARY, "fhirServer": CANARY,
        "fhirAuthorization": {"access_token": 1, "token_type": CANARY, "expires_in": CANARY,
                              "scope": "s", "subject": "c", "patient": f"{CANARY}!"},
        "context": {"userId": CANARY, "patientId": f"{CANARY} 1", "encounterId": [CANARY]},
        "prefetch": {"p": CANARY, "q": {"resourceType": CANARY.lower()}},
    }
    bad_pv = {"hook": "patient-view", "hookInstance": HOOK_INSTANCE,
              "context": {"userId": f"Patient/{CANARY} x", "patientId": {"id": CANARY}}}
    bad_response = {"cards": [{"summary": CANARY * 20, "indicator": CANARY, "uuid": CANARY,
                               "source": {"label": "", "url": CANARY, "topic": {"code": CANARY}},
                               "links": [{"label": "l", "url": CANARY, "type": CANARY, "appContext": CANARY}],
                               "suggestions": [{"label": "x", "actions": [{"type": "delete", "description": "d",
                                                                          "resourceId": CANARY}]}],
                               "selectionBehavior": CANARY, CANARY: CANARY}],
                    "systemActions": [{"type": "create", "description": "d", "resource": CANARY}]}
    bad_feedback = {"feedback": [{"card": CANARY, "outcome": CANARY, "outcomeTimestamp": CANARY,
                                  "acceptedSuggestions": [{"id": CANARY}],
                                  "overrideReason": {"reason": CANARY, "userComment": 5}}]}
    bad_discovery = {"services": [{"hook": CANARY + " x", "id": CANARY + "/x", "description": 3,
                                   "prefetch": {"p": [CANARY]}}]}
    return [(validate_hook_request, bad_request), (validate_hook_request, bad_pv), (validate_response, bad_response),
            (validate_feedback, bad_feedback), (validate_discovery, bad_discovery)]


@pytest.mark.parametrize("validate,body", _canary_bodies())
def test_messages_never_echo_values(validate, body):
    issues = validate(body)
    assert len(issues) >= 2
    for issue in issues:
        assert CANARY not in issue.message and CANARY.lower() not in issue.message, issue
    # the one place a caller-chosen name may appear is the pointer of an unknown member
    assert all(CANARY not in i.pointer or i.message == "is not a field defined for this object" for i in issues)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["hook", "hookInstance", "context", "cards", "feedback", "services", "prefetch",
                         "summary", "source", "type", "x"]), children, max_size=4),
    max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_any_json_value_gives_a_list_of_issues_and_never_raises(value):
    for validate in (validate_hook_request, validate_response, validate_feedback, validate_discovery):
        issues = validate(value)
        assert isinstance(issues, list) and all(isinstance(i, SchemaIssue) for i in issues)
        assert issues == sorted(issues)


def _all_pointers(node: Any, here: str = "") -> list[str]:
    found = [here] if here else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _all_pointers(value, f"{here}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _all_pointers(value, f"{here}/{index}")
    return found


SEEDS = {
    "hook-request": [full_request(), *(request(h) for h in CONTEXTS), request("medication-prescribe")],
    "cds-response": [response(), {"cards": [full_card()]}],
    "feedback": [feedback("accepted"), {"feedback": [mutated(feedback_item("overridden"), "/overrideReason",
                                                             {"reason": {"code": "c", "system": "s"}})]}],
    "discovery": [discovery()],
}
REPLACEMENTS = [None, "", [], {}, 0, -1, 2.0, 2.5, True, False, "x", "x\n", "Practitioner/1", "Patient/1",
                "MedicationRequest/1", HOOK_INSTANCE, HOOK_INSTANCE.upper(), "urn:uuid:" + HOOK_INSTANCE,
                HOOK_INSTANCE.replace("-", ""), HOOK_INSTANCE[:-1] + "g", "2020-12-11T00:00:00Z", "2021-02-30T00:00:00Z",
                "https://example.org", "Bearer", "Bundle", "create", "update", "delete", "absolute", "smart",
                "at-most-one", "any", "info", "accepted", "overridden", ["x"], [{}], {"resourceType": "Bundle"},
                {"resourceType": "Patient", "id": "1"}, {"a": 1}, {"isRecommended": True, "label": "l"}]
NEW_MEMBERS = ["extension", "appContext", "resourceId", "overrideReason", "acceptedSuggestions", "fhirServer",
               "unknown", "id", "display", "selectionBehavior", "suggestions", "resource", "isRecommended"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_quick_checker_agrees_with_jsonschema_on_mutated_bodies(data):
    """The quick yes/no checker may only say 'valid' when jsonschema finds nothing, and vice versa."""
    name = data.draw(st.sampled_from(sorted(SEEDS)))
    body = copy.deepcopy(data.draw(st.sampled_from(SEEDS[name])))
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _all_pointers(body)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        action = data.draw(st.sampled_from(["delete", "replace", "add"]))
        if action == "delete":
            body = mutated(body, path)
        elif action == "replace":
            body = mutated(body, path, copy.deepcopy(data.draw(st.sampled_from(REPLACEMENTS))))
        else:
            parent = path.rsplit("/", 1)[0]
            target = body
            for part in [p for p in parent.split("/") if p]:
                target = target[int(part)] if isinstance(target, list) else target[part]
            if isinstance(target, dict):
                target[data.draw(st.sampled_from(NEW_MEMBERS))] = copy.deepcopy(
                    data.draw(st.sampled_from(REPLACEMENTS)))
    checker = validation._checker(name, "")
    jsonschema_says_valid = next(checker.validator.iter_errors(body), None) is None
    assert checker.quick(body) == jsonschema_says_valid, body


@pytest.mark.parametrize("body", [{"hook": {1, 2}}, {"cards": [object()]}, {1: "non-string key"}])
def test_non_json_python_objects_do_not_raise(body):
    for validate in (validate_hook_request, validate_response, validate_feedback, validate_discovery):
        assert isinstance(validate(body), list)


def test_deeply_nested_input_does_not_raise():
    deep: Any = "leaf"
    for _ in range(5000):
        deep = [deep]
    assert isinstance(validate_hook_request(request(prefetch={"p": {"resourceType": "Basic", "x": deep}})), list)


def test_a_typical_response_validates_in_well_under_a_millisecond():
    body = {"cards": [card(), full_card(), mutated(card(), "/indicator", "info")]}
    assert validate_response(body) == []
    # best of several batches: robust against other work on a shared machine
    per_call = min(timeit.repeat(lambda: validate_response(body), number=50, repeat=7)) / 50
    assert per_call < 0.001, f"{per_call * 1e3:.2f} ms per response"
