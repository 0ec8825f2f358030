"""CDS Hooks 2.0.1 prefetch: template tokens and the four states of a prefetch key (absent, null,
OperationOutcome, data), with fetches mocked by ``responses``."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
import requests
import responses
from hypothesis import HealthCheck, example, given, settings as hypothesis_settings, strategies as st

from cds_hooks.prefetch import (
    PrefetchResult,
    PrefetchUnavailable,
    TemplateError,
    is_search_template,
    render_template,
    resolve_prefetch,
)
from fhir_adapter.client import ClientSettings, client_for

SERVER = "https://ehr.example.org/fhir"
TOKEN = "opaque-access-token-XYZ"
PATIENT_ID = "pat-7781"
FAST = ClientSettings(connect_timeout_s=0.5, read_timeout_s=0.5, retries=1, backoff_factor=0.0, deadline_s=2.0,
                      page_cap=3, max_entries=100)
SPEC_EXAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "cds-hooks-spec-examples"

DECLARED = {
    "patient": "Patient/{{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}&code=http://loinc.org|2093-3",
}
PATIENT = {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": "1960-01-01"}


def obs(n):
    return {"resourceType": "Observation", "id": f"o{n}"}


def searchset(resources, next_url=None, extra_entries=()):
    out = {"resourceType": "Bundle", "type": "searchset",
           "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources] + list(extra_entries)}
    if next_url:
        out["link"] = [{"relation": "next", "url": next_url}]
    return out


OUTCOME = {"resourceType": "OperationOutcome",
           "issue": [{"severity": "error", "code": "exception", "diagnostics": "prefetch failed"}]}


def hook_request(prefetch=None, *, server=SERVER, token=TOKEN, user="Practitioner/dr-1"):
    request = {"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
               "context": {"patientId": PATIENT_ID, "userId": user}}
    if server is not None:
        request["fhirServer"] = server
    if token is not None:
        request["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                        "scope": "user/Patient.read", "subject": "cds-service"}
    if prefetch is not None:
        request["prefetch"] = prefetch
    return request


def resolve(declared, request, settings=FAST):
    return resolve_prefetch(declared, request, client_factory=client_for, settings=settings)


@pytest.fixture
def mocked():
    # Nothing registered means any unexpected request fails the resolution, so "no fetch" is checked too.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


# --- templates -------------------------------------------------------------------------------------


CONTEXT = {"patientId": "123", "encounterId": 456, "userId": "Practitioner/abc", "draftOrders": {"x": 1},
           "flag": True, "odd": "a b&c=d#e/f", "empty": ""}


@pytest.mark.parametrize("template,expected", [
    ("Patient/{{context.patientId}}", "Patient/123"),
    ("Encounter/{{context.encounterId}}", "Encounter/456"),
    ("Observation?patient={{context.patientId}}&code=4548-4&_count=1&sort:desc=date",
     "Observation?patient=123&code=4548-4&_count=1&sort:desc=date"),
    ("Observation?patient={{ context.patientId }}", "Observation?patient=123"),
    ("Observation?subject={{context.odd}}", "Observation?subject=a%20b%26c%3Dd%23e%2Ff"),
    ("Patient/{{context.odd}}", "Patient/a%20b%26c%3Dd%23e%2Ff"),
    ("Practitioner/{{userPractitionerId}}", "Practitioner/abc"),
    ("Condition", "Condition"),
])
def test_render_template(template, expected):
    assert render_template(template, CONTEXT) == expected


@pytest.mark.parametrize("token,user_id,expected", [
    ("userPractitionerId", "Practitioner/123", "123"),
    ("userPractitionerRoleId", "PractitionerRole/r-9", "r-9"),
    ("userPatientId", "Patient/p.1", "p.1"),
    ("userRelatedPersonId", "RelatedPerson/rp-2", "rp-2"),
])
def test_every_user_token(token, user_id, expected):
    assert render_template(f"X?_id={{{{{token}}}}}", {"userId": user_id}) == f"X?_id={expected}"
    # an explicit user_id wins over context.userId
    assert render_template(f"X?_id={{{{{token}}}}}", {"userId": "Device/1"}, user_id=user_id) == f"X?_id={expected}"


@pytest.mark.parametrize("token", ["userPractitionerRoleId", "userPatientId", "userRelatedPersonId"])
def test_user_token_of_another_type_is_unresolvable(token):
    with pytest.raises(TemplateError) as info:
        render_template(f"X?_id={{{{{token}}}}}", {"userId": "Practitioner/123"})
    assert info.value.token == token


@pytest.mark.parametrize("template,context", [
    ("Patient/{{context.missing}}", CONTEXT),
    ("Patient/{{context.draftOrders}}", CONTEXT),  # objects are not simple tokens
    ("Patient/{{context.flag}}", CONTEXT),
    ("Patient/{{context.empty}}", CONTEXT),
    ("Patient/{{context.draftOrders.id}}", CONTEXT),  # nested paths not supported
    ("Patient/{{today}}", CONTEXT),
    ("Patient/{{userPractitionerId}}", {"patientId": "1"}),  # no userId
    ("Patient/{{userPractitionerId}}", {"userId": "Practitioner"}),
    ("Patient/{{userPractitionerId}}", {"userId": "Practitioner/a/b"}),
    ("Patient/{{context.patientId}", CONTEXT),
    ("Patient/{{context.dots}}", {"dots": ".."}),
])
def test_unresolvable_tokens_raise(template, context):
    with pytest.raises(TemplateError) as info:
        render_template(template, context)
    assert "123" not in str(info.value)


def test_template_kind():
    assert not is_search_template("Patient/{{context.patientId}}")
    assert is_search_template("Observation?patient={{context.patientId}}")
    assert is_search_template("Condition")


@pytest.mark.skipif(not SPEC_EXAMPLES.is_dir(), reason="CDS Hooks spec examples not available")
def test_spec_example_templates_with_spec_example_context():
    templates = json.loads((SPEC_EXAMPLES / "spec201_06.json").read_text())["prefetch"]
    context = json.loads((SPEC_EXAMPLES / "spec201_01.json").read_text())["context"]  # userId Practitioner/example
    assert render_template(templates["patient"], context) == "Patient/1288992"
    assert render_template(templates["hemoglobin-a1c"], context) == (
        "Observation?patient=1288992&code=4548-4&_count=1&sort:desc=date")
    with pytest.raises(TemplateError):  # the user is a Practitioner, not a PractitionerRole
        render_template(templates["user"], context)


@pytest.mark.skipif(not SPEC_EXAMPLES.is_dir(), reason="CDS Hooks spec examples not available")
def test_spec_example_request_prefetch_is_used_as_provided(mocked):
    declared = json.loads((SPEC_EXAMPLES / "spec201_00.json").read_text())["services"][0]["prefetch"]
    request = json.loads((SPEC_EXAMPLES / "spec201_01.json").read_text())
    result = resolve(declared, request)
    assert result.origins == {"patientToGreet": "provided"}
    assert result.data["patientToGreet"]["birthDate"] == "1925-12-23"
    assert len(mocked.calls) == 0


# --- the four states -------------------------------------------------------------------------------


def test_provided_data_is_used_without_fetching(mocked):
    result = resolve(DECLARED, hook_request({"patient": PATIENT, "observations": searchset([obs(1), obs(2)])}))
    assert result.data == {"patient": PATIENT, "observations": [obs(1), obs(2)]}
    assert result.origins == {"patient": "provided", "observations": "provided"}
    assert result.notes == []
    assert len(mocked.calls) == 0


def test_null_is_known_empty_and_never_refetched(mocked):
    result = resolve(DECLARED, hook_request({"patient": None, "observations": None}))
    assert result.data == {"patient": None, "observations": []}
    assert result.origins == {"patient": "known-empty", "observations": "known-empty"}
    assert len(mocked.calls) == 0


def test_absent_keys_are_fetched_with_the_access_token(mocked):
    mocked.get(f"{SERVER}/Patient/{PATIENT_ID}", json=PATIENT)
    mocked.get(f"{SERVER}/Observation", json=searchset([obs(1)]))
    result = resolve(DECLARED, hook_request())
    assert result.data == {"patient": PATIENT, "observations": [obs(1)]}
    assert result.origins == {"patient": "fetched", "observations": "fetched"}
    assert [c.request.url for c in mocked.calls] == [
        f"{SERVER}/Patient/{PATIENT_ID}",
        f"{SERVER}/Observation?patient={PATIENT_ID}&code=http://loinc.org%7C2093-3",
    ]
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in mocked.calls)


def test_fhir_server_with_trailing_slash_and_no_token(mocked):
    mocked.get(f"{SERVER}/Patient/{PATIENT_ID}", json=PATIENT)
    result = resolve({"patient": DECLARED["patient"]}, hook_request(server=SERVER + "/", token=None))
    assert result.data["patient"] == PATIENT
    assert mocked.calls[0].request.url == f"{SERVER}/Patient/{PATIENT_ID}"
    assert "Authorization" not in mocked.calls[0].request.headers


@pytest.mark.parametrize("reported_failure", [
    OUTCOME,
    searchset([obs(9)], extra_entries=[{"resource": OUTCOME, "search": {"mode": "outcome"}}]),
    searchset([], extra_entries=[{"resource": OUTCOME}]),
    searchset([obs(9)], extra_entries=[{"resource": obs(10), "search": {"mode": "outcome"}}]),
])
def test_operation_outcome_means_unavailable_and_is_refetched(mocked, reported_failure):
    mocked.get(f"{SERVER}/Observation", json=searchset([obs(1)]))
    result = resolve({"observations": DECLARED["observations"]}, hook_request({"observations": reported_failure}))
    assert result.data == {"observations": [obs(1)]}
    assert result.origins == {"observations": "fetched"}
    assert len(mocked.calls) == 1


def test_operation_outcome_without_fhir_server_is_unavailable(mocked):
    with pytest.raises(PrefetchUnavailable) as info:
        resolve({"patient": DECLARED["patient"]}, hook_request({"patient": OUTCOME}, server=None))
    assert info.value.key == "patient"


@pytest.mark.parametrize("provided", [{"resourceType": "Observation", "id": "x"}, ["not", "a", "resource"], "123"])
def test_unusable_provided_value_is_refetched(mocked, provided):
    mocked.get(f"{SERVER}/Patient/{PATIENT_ID}", json=PATIENT)
    result = resolve({"patient": DECLARED["patient"]}, hook_request({"patient": provided}))
    assert result.data == {"patient": PATIENT} and result.origins == {"patient": "fetched"}


def test_provided_resource_for_another_id_is_not_used(mocked):
    other_patient = {**PATIENT, "id": "someone-else"}
    mocked.get(f"{SERVER}/Patient/{PATIENT_ID}", json=PATIENT)
    result = resolve({"patient": DECLARED["patient"]}, hook_request({"patient": other_patient}))
    assert result.data == {"patient": PATIENT} and result.origins == {"patient": "fetched"}
    with pytest.raises(PrefetchUnavailable):
        resolve({"patient": DECLARED["patient"]}, hook_request({"patient": other_patient}, server=None))


def test_provided_bundle_for_a_search_must_be_a_bundle(mocked):
    mocked.get(f"{SERVER}/Observation", json=searchset([obs(1)]))
    result = resolve({"observations": DECLARED["observations"]}, hook_request({"observations": obs(5)}))
    assert result.data == {"observations": [obs(1)]} and result.origins == {"observations": "fetched"}


# --- pages of a provided searchset -----------------------------------------------------------------


def test_next_link_of_a_provided_bundle_is_followed(mocked):
    mocked.get(f"{SERVER}/Observation", json=searchset([obs(3)], f"{SERVER}/Observation?page=3"))
    mocked.get(f"{SERVER}/Observation", json=searchset([obs(4)]))
    provided = searchset([obs(1), obs(2)], f"{SERVER}/Observation?page=2")
    result = resolve({"observations": DECLARED["observations"]}, hook_request({"observations": provided}))
    assert [o["id"] for o in result.data["observations"]] == ["o1", "o2", "o3", "o4"]
    assert result.origins == {"observations": "provided"}
    assert result.notes == []
    assert mocked.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_next_link_without_fhir_server_uses_the_first_page_and_notes_it(mocked):
    provided = searchset([obs(1)], f"{SERVER}/Observation?page=2")
    result = resolve({"observations": DECLARED["observations"]},
                     hook_request({"observations": provided}, server=None))
    assert result.data == {"observations": [obs(1)]}
    assert len(result.notes) == 1 and result.notes[0].startswith("observations:")
    assert len(mocked.calls) == 0


def test_page_cap_truncates_with_a_note(mocked):
    for n in range(2, 10):
        mocked.get(f"{SERVER}/Observation", json=searchset([obs(n)], f"{SERVER}/Observation?page={n + 1}"))
    result = resolve({"observations": DECLARED["observations"]}, hook_request())
    assert [o["id"] for o in result.data["observations"]] == ["o2", "o3", "o4"]  # page_cap = 3
    assert len(mocked.calls) == 3
    assert len(result.notes) == 1 and "truncated" in result.notes[0] and "3 pages" in result.notes[0]


def test_foreign_next_link_in_provided_bundle_is_refused(mocked):
    provided = searchset([obs(1)], "https://attacker.example.net/steal?page=2")
    with pytest.raises(PrefetchUnavailable) as info:
        resolve({"observations": DECLARED["observations"]}, hook_request({"observations": provided}))
    assert info.value.key == "observations"
    assert len(mocked.calls) == 0


# --- failures --------------------------------------------------------------------------------------


def test_absent_key_without_fhir_server_is_unavailable(mocked):
    with pytest.raises(PrefetchUnavailable) as info:
        resolve(DECLARED, hook_request({"patient": PATIENT}, server=None))
    assert info.value.key == "observations"
    assert "fhirServer" in info.value.reason


def test_5xx_exhausted_makes_the_key_unavailable(mocked):
    mocked.get(f"{SERVER}/Patient/{PATIENT_ID}", status=503)
    with pytest.raises(PrefetchUnavailable) as info:
        resolve({"patient": DECLARED["patient"]}, hook_request())
    assert info.value.key == "patient"
    assert "503" in info.value.reason
    assert len(mocked.calls) == 2  # retries=1


def test_5xx_retried_then_success(mocked):
    mocked.get(f"{SERVER}/Patient/{PATIENT_ID}", status=502)
    mocked.get(f"{SERVER}/Patient/{PATIENT_ID}", json=PATIENT)
    assert resolve({"patient": DECLARED["patient"]}, hook_request()).data == {"patient": PATIENT}


@pytest.mark.parametrize("failure,kind", [
    (dict(body=requests.exceptions.ReadTimeout("slow")), "timed out"),
    (dict(body=requests.exceptions.ConnectTimeout("slow")), "timed out"),
    (dict(body=requests.exceptions.ConnectionError("refused")), "could not be reached"),
    (dict(body="<html>oops</html>", status=200), "not usable FHIR"),
    (dict(json={"hello": "world"}), "not usable FHIR"),
    (dict(status=404, json=OUTCOME), "HTTP 404"),
])
def test_fetch_failures_name_key_and_kind_only(mocked, failure, kind):
    mocked.get(f"{SERVER}/Patient/{PATIENT_ID}", **failure)
    with pytest.raises(PrefetchUnavailable) as info:
        resolve({"patient": DECLARED["patient"]}, hook_request())
    assert info.value.key == "patient"
    assert kind in info.value.reason
    assert PATIENT_ID not in str(info.value) and TOKEN not in str(info.value)


def test_unrenderable_template_is_unavailable(mocked):
    declared = {"role": "PractitionerRole?_id={{userPractitionerRoleId}}"}
    with pytest.raises(PrefetchUnavailable) as info:
        resolve(declared, hook_request(user="Practitioner/dr-1"))
    assert info.value.key == "role" and "userPractitionerRoleId" in info.value.reason
    assert len(mocked.calls) == 0


def test_unusable_fhir_server_is_unavailable(mocked):
    with pytest.raises(PrefetchUnavailable) as info:
        resolve({"patient": DECLARED["patient"]}, hook_request(server="ftp://ehr.example.org/fhir"))
    assert "fhirServer" in info.value.reason
    with pytest.raises(PrefetchUnavailable) as info:
        resolve({"patient": DECLARED["patient"]}, hook_request(token="bad token\r\n"))
    assert "access_token" in info.value.reason and "bad token" not in str(info.value)


def test_keys_share_one_deadline(mocked):
    def slow(request):
        time.sleep(0.1)
        return 200, {}, json.dumps(PATIENT)

    mocked.add_callback(responses.GET, f"{SERVER}/Patient/{PATIENT_ID}", callback=slow)
    declared = {"a": DECLARED["patient"], "b": DECLARED["patient"], "c": DECLARED["patient"]}
    settings = ClientSettings(**{**FAST.__dict__, "deadline_s": 0.18})
    started = time.monotonic()
    with pytest.raises(PrefetchUnavailable) as info:
        resolve(declared, hook_request(), settings)
    assert time.monotonic() - started < 0.5
    assert info.value.key in ("b", "c") and "deadline" in info.value.reason  # each key alone would have fitted


def test_one_client_per_request_built_from_fhir_server_and_authorization(mocked):
    mocked.get(f"{SERVER}/Patient/{PATIENT_ID}", json=PATIENT)
    mocked.get(f"{SERVER}/Observation", json=searchset([]))
    made = []

    def factory(server, authorization, settings):
        made.append((server, authorization["access_token"], settings))
        return client_for(server, authorization, settings)

    result = resolve_prefetch(DECLARED, hook_request(), client_factory=factory, settings=FAST)
    assert isinstance(result, PrefetchResult)
    assert made == [(SERVER, TOKEN, FAST)]


def test_logs_hold_no_token_and_no_patient_data(mocked, caplog):
    mocked.get(f"{SERVER}/Patient/{PATIENT_ID}", json=PATIENT)
    mocked.get(f"{SERVER}/Observation", status=503)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PrefetchUnavailable):
        resolve(DECLARED, hook_request())
    assert "Observation?patient=<redacted>&code=<redacted>" in caplog.text
    assert TOKEN not in caplog.text and "1960-01-01" not in caplog.text
    assert f"patient={PATIENT_ID}" not in caplog.text


# --- malformed input never escapes as anything but PrefetchUnavailable ------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["resourceType", "entry", "resource", "search", "mode", "link", "relation", "url", "issue",
                         "severity", "id"]), inner, max_size=4),
    max_leaves=12,
)
_resourceish = st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["Bundle", "Patient", "OperationOutcome", "Observation"])},
    optional={"entry": _json, "link": _json, "id": _json})


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=st.fixed_dictionaries({}, optional={
    "context": _json, "prefetch": st.dictionaries(st.sampled_from(list(DECLARED)), _json | _resourceish, max_size=2),
    "fhirAuthorization": _json}))
@example(request={"prefetch": {"observations": {"resourceType": "Bundle", "link": 5, "entry": {"a": 1}}}})
@example(request={"prefetch": {"observations": {"resourceType": "Bundle", "entry": [{"resource": {
    "resourceType": "OperationOutcome", "issue": 3}}]}}})
def test_malformed_requests_resolve_or_raise_prefetch_unavailable(mocked, request):
    try:
        result = resolve(DECLARED, request)  # no fhirServer: nothing is fetched
    except PrefetchUnavailable as exc:
        assert exc.key in DECLARED
    else:
        assert set(result.data) == set(DECLARED)
    assert len(mocked.calls) == 0


def test_a_provided_bundle_is_read_as_bundle_resources_and_each_key_gets_its_own_list(mocked):
    from fhir_adapter.client import bundle_resources

    bundle = searchset([obs(1), obs(2)], extra_entries=[{"search": {"mode": "match"}}, "not an entry",
                                                        {"resource": {"id": "no-type"}}])
    declared = {"observations": DECLARED["observations"], "more": "Observation?patient={{context.patientId}}"}
    result = resolve(declared, hook_request({"observations": bundle, "more": bundle}))
    assert result.data["observations"] == result.data["more"] == bundle_resources(bundle) == [obs(1), obs(2)]
    assert result.data["observations"] is not result.data["more"]
    assert result.origins == {"observations": "provided", "more": "provided"}
