"""The sandbox's parts without a FHIR server: keys and JWTs, hook contexts, the EHR's prefetch states (mocked
server), patient lists, percentiles, and the keygen / feedback commands."""
from __future__ import annotations

import json
import stat

import jwt
import pytest
import responses
from click.testing import CliRunner

from cds_hooks.sandbox import ehr, keys
from cds_hooks.sandbox.commands import sandbox
from cds_hooks.sandbox.errors import SandboxError
from cds_hooks.sandbox.fhir_access import anonymous_credentials, open_client
from cds_hooks.sandbox.runner import percentile, read_patient_ids
from tests.conftest import load_fixture

BASE = "https://fhir.example.org/r4"


def test_keygen_writes_a_key_the_service_can_trust(tmp_path):
    paths = keys.generate_key_files(tmp_path, issuer="https://ehr.test", fhir_servers=("https://fhir.test/r4",))
    assert stat.S_IMODE(paths["key"].stat().st_mode) == 0o600
    issuers = json.loads(paths["trusted_issuers"].read_text())
    assert issuers == {"https://ehr.test": {"jwks_file": str(paths["jwks"].resolve()),
                                            "subjects": [keys.DEFAULT_CLIENT_ID],
                                            "fhir_servers": ["https://fhir.test/r4"]}}
    public = json.loads(paths["jwks"].read_text())["keys"][0]
    assert "d" not in public and public["crv"] == "P-384" and public["alg"] == "ES384"
    key = keys.load_signing_key(paths["key"])
    token = key.service_jwt("https://cds.test/cds-services/x")
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES384", "kid": public["kid"], "typ": "JWT"}
    claims = jwt.decode(token, jwt.PyJWK(public).key, algorithms=["ES384"], audience="https://cds.test/cds-services/x")
    assert claims["iss"] == "https://ehr.test" and claims["sub"] == keys.DEFAULT_CLIENT_ID and claims["jti"]
    assert 0 < claims["exp"] - claims["iat"] <= 60
    assert key.service_jwt("a") != key.service_jwt("a")  # a fresh jti every call


def test_the_service_accepts_the_generated_key(tmp_path):
    from cds_hooks.app import create_app

    paths = keys.generate_key_files(tmp_path / "k")
    app = create_app({"DEV_MODE": False, "WARM_MODELS": False, "TRUSTED_ISSUERS_FILE": str(paths["trusted_issuers"]),
                      "PUBLIC_BASE_URL": "http://localhost", "DATA_DIR": str(tmp_path / "data"), "LOG_LEVEL": "ERROR"})
    key = keys.load_signing_key(paths["key"])
    client = app.test_client()
    ok = client.get("/cds-services", headers={"Authorization": f"Bearer {key.service_jwt('http://localhost/cds-services')}"})
    wrong_aud = client.get("/cds-services", headers={"Authorization": f"Bearer {key.service_jwt('http://other/cds-services')}"})
    assert ok.status_code == 200 and wrong_aud.status_code == 401


def test_keygen_refuses_to_overwrite(tmp_path):
    keys.generate_key_files(tmp_path)
    with pytest.raises(SandboxError, match="already exists; pass --force"):
        keys.generate_key_files(tmp_path)
    keys.generate_key_files(tmp_path, force=True)


def test_keygen_command(tmp_path):
    result = CliRunner().invoke(sandbox, ["keygen", "--dir", str(tmp_path), "--fhir-server", "https://f.test/r4"])
    assert result.exit_code == 0, result.output
    assert f"CDS_TRUSTED_ISSUERS_FILE={tmp_path / keys.TRUSTED_ISSUERS_FILE}" in result.output
    again = CliRunner().invoke(sandbox, ["keygen", "--dir", str(tmp_path)])
    assert again.exit_code == 1 and again.stderr.startswith("error: ") and "Traceback" not in again.output


def test_pem_and_bad_key_files(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    pem = tmp_path / "k.pem"
    pem.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    assert keys.load_signing_key(pem).alg == "RS384"
    p256 = tmp_path / "p256.pem"
    p256.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(SandboxError, match="EC P-384"):
        keys.load_signing_key(p256)
    junk = tmp_path / "junk"
    junk.write_text("hello")
    with pytest.raises(SandboxError, match="neither a JWK"):
        keys.load_signing_key(junk)
    with pytest.raises(SandboxError, match="cannot read the key file"):
        keys.load_signing_key(tmp_path / "absent.json")


def test_contexts_per_hook(tmp_path):
    context = ehr.HookContext(patient_id="p1", user_id="Practitioner/u")
    assert context.for_hook("patient-view") == {"userId": "Practitioner/u", "patientId": "p1"}
    assert context.for_hook("encounter-start") is None
    assert context.for_hook("order-sign") is None
    orders = tmp_path / "orders.json"
    orders.write_text(json.dumps({"resourceType": "MedicationRequest", "id": "draft-1", "status": "draft",
                                  "intent": "order"}))
    bundle = ehr.load_draft_orders(orders, "p1")
    with_orders = ehr.HookContext(patient_id="p1", user_id="Practitioner/u", encounter_id="e1", draft_orders=bundle)
    select = with_orders.for_hook("order-select")
    assert select["selections"] == ["MedicationRequest/draft-1"] and select["encounterId"] == "e1"
    assert select["draftOrders"]["entry"][0]["resource"]["subject"] == {"reference": "Patient/p1"}
    assert "selections" not in with_orders.for_hook("order-sign")
    assert with_orders.for_hook("encounter-start")["encounterId"] == "e1"
    orders.write_text("[]")
    with pytest.raises(SandboxError, match="must be a FHIR Bundle"):
        ehr.load_draft_orders(orders)


@responses.activate
def test_prefetch_states_as_an_ehr_sends_them():
    responses.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    responses.get(f"{BASE}/Practitioner/u", status=404, json={"resourceType": "OperationOutcome", "issue": []})
    page2 = f"{BASE}/Observation?patient=p1&page=2"
    responses.get(f"{BASE}/Observation", match=[responses.matchers.query_param_matcher({"patient": "p1"})],
                  json={"resourceType": "Bundle", "type": "searchset", "link": [{"relation": "next", "url": page2}],
                        "entry": [{"resource": {"resourceType": "Observation", "id": "o1"}}]})
    responses.get(f"{BASE}/Observation", match=[responses.matchers.query_param_matcher({"patient": "p1", "page": "2"})],
                  json={"resourceType": "Bundle", "type": "searchset",
                        "entry": [{"resource": {"resourceType": "Observation", "id": "o2"}}]})
    responses.get(f"{BASE}/Condition", json={"resourceType": "Bundle", "type": "searchset"})
    responses.get(f"{BASE}/Goal", status=400, json={"resourceType": "OperationOutcome", "issue": []})
    templates = {"patient": "Patient/{{context.patientId}}", "user": "Practitioner/{{userPractitionerId}}",
                 "observations": "Observation?patient={{context.patientId}}",
                 "conditions": "Condition?patient={{context.patientId}}",
                 "goals": "Goal?patient={{context.patientId}}", "draft": "MedicationRequest/{{context.draftId}}"}
    client = open_client(BASE, anonymous_credentials("t"))
    build = ehr.resolve_prefetch(templates, {"patientId": "p1", "userId": "Practitioner/u"}, client, BASE)
    assert build.prefetch["patient"]["id"] == "p1"
    assert build.prefetch["user"] is None and build.states["user"] == "null (not found)"
    observations = build.prefetch["observations"]
    assert [e["resource"]["id"] for e in observations["entry"]] == ["o1", "o2"]  # next link followed
    assert observations["entry"][0]["fullUrl"] == f"{BASE}/Observation/o1" and "link" not in observations
    assert build.prefetch["conditions"] is None  # no match: null, not an empty Bundle (2.0.1)
    assert build.prefetch["goals"]["resourceType"] == "OperationOutcome"  # the service will fetch it itself
    assert "draft" not in build.prefetch and build.states["draft"] == "absent"


@responses.activate
def test_prefetch_stops_on_credentials_refused():
    responses.get(f"{BASE}/Patient/p1", status=401)
    client = open_client(BASE, anonymous_credentials("t"))
    with pytest.raises(SandboxError, match=r"refused the request for prefetch 'patient' \(HTTP 401\)"):
        ehr.resolve_prefetch({"patient": "Patient/{{context.patientId}}"}, {"patientId": "p1"}, client, BASE)


def test_patient_list_file(tmp_path):
    listing = tmp_path / "ids.txt"
    listing.write_text("# cohort\n\na1\nPatient/b2  # second\n")
    assert read_patient_ids(listing) == ["a1", "b2"]
    listing.write_text("# nothing\n")
    with pytest.raises(SandboxError, match="lists no patient ids"):
        read_patient_ids(listing)


def test_nearest_rank_percentiles():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 90), percentile(values, 99)) == (50.0, 90.0, 99.0)
    assert percentile([7.0], 99) == 7.0 and percentile([], 50) is None


def test_usage_errors_are_one_line():
    result = CliRunner().invoke(sandbox, ["--fhir", BASE])
    assert result.exit_code == 2 and "give exactly one of --patient" in result.output
    result = CliRunner().invoke(sandbox, ["--fhir", "ftp://x", "--patient", "p"])
    assert result.exit_code == 1 and "not a usable FHIR base URL" in result.stderr and "Traceback" not in result.output


def test_feedback_in_process(tmp_path, monkeypatch):
    from cds_hooks.sandbox.service_client import InProcessService

    monkeypatch.setenv("CDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CDS_WARM_MODELS", "false")
    monkeypatch.setenv("CDS_AS_OF", "2026-06-01")
    # Feedback names a card the service issued: an earlier in-process run with the same CDS_DATA_DIR shows one.
    shown = InProcessService().call("cardiovascular-risk", load_fixture("hooks/patient-view-prefetch.json"))
    card = shown.body["cards"][0]["uuid"]
    never_shown = CliRunner().invoke(sandbox, ["feedback", "--service", "cardiovascular-risk", "--card",
                                               "0c2f5b1e-1111-4a2b-9c3d-2e4f6a8b0c1d", "--outcome", "overridden"])
    assert never_shown.exit_code == 1 and "HTTP 404" in never_shown.output
    ok = CliRunner().invoke(sandbox, ["feedback", "--service", "cardiovascular-risk", "--card", card,
                                      "--outcome", "overridden", "--reason-code", "not-relevant",
                                      "--reason-system", "https://example.org/reasons"])
    assert ok.exit_code == 0, ok.output
    missing = CliRunner().invoke(sandbox, ["feedback", "--service", "cardiovascular-risk", "--card", card,
                                           "--outcome", "accepted"])
    assert missing.exit_code == 2 and "--suggestion" in missing.output


# ---------------------------------------------------------------------------------------------------------------
# Review fixes: the sandbox against a mocked FHIR server and a mocked remote service (no Node needed)

SERVICE = "https://cds.example.org"
SERVICE_DISCOVERY = {"services": [{"id": "svc", "hook": "patient-view", "title": "t", "description": "d",
                                   "prefetch": {"patient": "Patient/{{context.patientId}}"}}]}
GOOD_ANSWER = {"cards": [{"summary": "fine", "indicator": "info", "source": {"label": "s"}}]}


def mock_fhir_patients(*ids):
    for patient_id in ids:
        responses.get(f"{BASE}/Patient/{patient_id}", json={"resourceType": "Patient", "id": patient_id})


def mock_service(*answers):
    """Discovery, then one POST answer per call, in order."""
    responses.get(f"{SERVICE}/cds-services", json=SERVICE_DISCOVERY)
    for answer in answers:
        responses.post(f"{SERVICE}/cds-services/svc", json=answer)


def run_remote(tmp_path, *args, env=None):
    key = tmp_path / "keys" / keys.KEY_FILE
    if not key.exists():
        keys.generate_key_files(tmp_path / "keys")
    return CliRunner().invoke(sandbox, ["--fhir", BASE, "--service-url", SERVICE, "--key", str(key), *args],
                              env={"COLUMNS": "200", **(env or {})})


@pytest.mark.parametrize("bad, pointer", [
    ({"cards": ["x"]}, "/cards/0"),
    ({"cards": [{"summary": "x", "links": "notalist"}]}, "/cards/0/"),
    ({"cards": [{"summary": "x", "indicator": "info", "source": {"label": "s"}, "detail": 5}]}, "/cards/0/detail"),
], ids=["card-not-an-object", "links-not-a-list", "detail-not-a-string"])
@responses.activate
def test_a_malformed_remote_answer_is_one_error_of_that_call(tmp_path, bad, pointer):
    mock_fhir_patients("p1", "p2")
    mock_service(bad, GOOD_ANSWER)
    one = run_remote(tmp_path, "--patient", "p1")
    assert "Traceback" not in one.output and isinstance(one.exception, SystemExit)
    assert one.exit_code == 1
    assert f"the service's answer is not valid CDS Hooks: {pointer}" in one.stdout
    # In a list it is counted as an error and the next patient still runs.
    responses.reset()
    mock_fhir_patients("p1", "p2")
    mock_service(bad, GOOD_ANSWER)
    listing = tmp_path / "ids.txt"
    listing.write_text("p1\np2\n")
    result = run_remote(tmp_path, "--patients", str(listing), "--format", "json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["error"].startswith(f"the service's answer is not valid CDS Hooks: {pointer}")
    assert lines[0]["cards"] == []
    assert lines[1]["status"] == 200 and lines[1]["cards"][0]["summary"] == "fine" and "error" not in lines[1]
    assert "2 patients" in result.stderr


def test_a_card_that_cannot_be_drawn_does_not_stop_the_others():
    from rich.console import Console

    from cds_hooks.sandbox import render
    from cds_hooks.sandbox.runner import ServiceCall
    from cds_hooks.sandbox.service_client import ServiceAnswer

    # Valid for the schema, but a suggestion's action list holds a string where an object is expected.
    answer = ServiceAnswer(200, {"cards": [
        {"summary": "odd", "indicator": "info", "source": {"label": "s"}, "suggestions": [{"label": "l", "actions": ["x"]}]},
        GOOD_ANSWER["cards"][0]]}, 1.0)
    console = Console(record=True, width=200)
    render.render_call(console, ServiceCall("svc", "patient-view", request={}, answer=answer), in_process=False)
    text = console.export_text()
    assert "card 1 cannot be shown" in text and "fine" in text


@pytest.mark.parametrize("failure", ["http-500", "timeout"])
@responses.activate
def test_one_failed_patient_does_not_stop_the_list(tmp_path, failure):
    import requests

    responses.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    if failure == "http-500":
        responses.get(f"{BASE}/Patient/bad", status=500, json={"resourceType": "OperationOutcome", "issue": []})
    else:
        responses.get(f"{BASE}/Patient/bad", body=requests.exceptions.ReadTimeout())
    responses.get(f"{BASE}/Patient/p3", json={"resourceType": "Patient", "id": "p3"})
    mock_service(GOOD_ANSWER, GOOD_ANSWER)
    listing = tmp_path / "ids.txt"
    listing.write_text("p1\nbad\np3\n")
    result = run_remote(tmp_path, "--patients", str(listing))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "error: " not in result.stderr  # not a stop: the run went on
    assert "3 patients" in result.stdout and "p99" in result.stdout  # the summary is printed
    words = "answered HTTP 500 for Patient/bad" if failure == "http-500" else "did not answer in time while reading Patient/bad"
    assert f"✗ the FHIR server at {BASE} {words}" in result.stdout
    hook_calls = [c for c in responses.calls if c.request.method == "POST"]
    assert len(hook_calls) == 2  # p1 and p3: the run went on after the failed patient


@responses.activate
def test_a_stop_for_every_patient_keeps_the_summary_of_those_done(tmp_path):
    responses.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    responses.get(f"{BASE}/Patient/p2", status=403)
    mock_service(GOOD_ANSWER)
    listing = tmp_path / "ids.txt"
    listing.write_text("p1\np2\np3\n")
    result = run_remote(tmp_path, "--patients", str(listing))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "forbids reading Patient/p2 (HTTP 403)" in errors[0]
    assert "1 patient" in result.stderr and "stopped after 1 of 3 patients" in result.stderr


def test_is_fatal_only_for_failures_of_every_patient():
    from cds_hooks.sandbox.fhir_access import is_fatal
    from fhir_adapter.client import FhirConnectionError, FhirDeadlineExceeded, FhirHTTPError, FhirTimeout

    assert is_fatal(FhirConnectionError("x")) and is_fatal(FhirHTTPError(401)) and is_fatal(FhirHTTPError(403))
    assert not any(is_fatal(e) for e in (FhirTimeout("x"), FhirDeadlineExceeded("x"), FhirHTTPError(500),
                                         FhirHTTPError(404), FhirHTTPError(400)))


@responses.activate
def test_save_into_a_file_or_an_unwritable_place_is_a_usage_error(tmp_path):
    mock_fhir_patients("p1")
    mock_service(GOOD_ANSWER)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for target in (a_file, a_file / "below"):
        result = run_remote(tmp_path, "--patient", "p1", "--save", str(target))
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert "--save" in result.output and str(target) in result.output
    assert len(responses.calls) == 0  # refused before anything was read


@responses.activate
def test_save_creates_the_folder_and_nothing_for_a_missing_patient(tmp_path):
    mock_fhir_patients("p1")
    responses.get(f"{BASE}/Patient/gone", status=404)
    mock_service(GOOD_ANSWER)
    listing = tmp_path / "ids.txt"
    listing.write_text("p1\ngone\n")
    save = tmp_path / "new" / "cases"
    result = run_remote(tmp_path, "--patients", str(listing), "--save", str(save))
    assert result.exit_code == 1, result.output
    assert sorted(p.name for p in save.iterdir()) == ["p1"]  # no empty folder for the missing patient
    assert "✗ Patient/gone was not found" in result.stdout
    assert "Patient/gone Patient/gone" not in result.stdout  # the id is said once


@pytest.mark.parametrize("token, words", [
    ("two words", "contains a space"),
    ("Bearer abc.def", "without the 'Bearer ' prefix"),
    ("jéton-secret", "non-ASCII"),
])
def test_an_unusable_bearer_token_is_named_as_such(token, words):
    result = CliRunner().invoke(sandbox, ["--fhir", BASE, "--patient", "p1", "--bearer", token])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "not a usable FHIR base URL" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "the --bearer token" in errors[0] and words in errors[0]
    assert token not in result.output and token.split()[-1] not in result.output  # never printed


@responses.activate
def test_a_refused_token_is_not_told_to_give_a_token(tmp_path):
    responses.get(f"{BASE}/Patient/p1", status=401)
    mock_service()
    given = run_remote(tmp_path, "--patient", "p1", "--bearer", "secret-value")
    assert given.exit_code == 1
    assert "refused the given access token for Patient/p1 (HTTP 401)" in given.stderr
    assert "give --bearer" not in given.output and "secret-value" not in given.output
    missing = run_remote(tmp_path, "--patient", "p1")
    assert "give --bearer, or SMART credentials" in missing.stderr


@pytest.mark.parametrize("value", ["notadate", "2026-13-01", "01/06/2026"])
def test_as_of_must_be_an_iso_date(value):
    result = CliRunner().invoke(sandbox, ["--fhir", BASE, "--patient", "p1", "--as-of", value])
    assert result.exit_code == 2 and "--as-of" in result.output and "ISO date" in result.output
    assert "Traceback" not in result.output


@responses.activate
def test_credentials_over_plain_http_are_warned_about_once(tmp_path):
    plain = "http://fhir.example.org/r4"
    responses.get(f"{plain}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    responses.get("http://cds.example.org/cds-services", json=SERVICE_DISCOVERY)
    responses.post("http://cds.example.org/cds-services/svc", json=GOOD_ANSWER)
    key = keys.generate_key_files(tmp_path / "keys")["key"]
    result = CliRunner().invoke(sandbox, ["--fhir", plain, "--patient", "p1", "--bearer", "tok-123",
                                          "--service-url", "http://cds.example.org", "--key", str(key)],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "plain http" in warnings[0]
    assert "FHIR server http://fhir.example.org/r4" in warnings[0] and "service http://cds.example.org" in warnings[0]
    assert "tok-123" not in result.output


@responses.activate
def test_no_warning_for_https_or_loopback(tmp_path):
    loop = "http://127.0.0.1:9/fhir"
    responses.get(f"{loop}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    mock_service(GOOD_ANSWER)
    key = keys.generate_key_files(tmp_path / "keys")["key"]
    result = CliRunner().invoke(sandbox, ["--fhir", loop, "--patient", "p1", "--bearer", "tok",
                                          "--service-url", SERVICE, "--key", str(key)])
    assert result.exit_code == 0, result.output
    assert "warning:" not in result.stderr


@responses.activate
def test_in_process_runs_leave_no_database_in_the_current_folder(tmp_path, monkeypatch):
    import re

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CDS_DATA_DIR", raising=False)
    monkeypatch.delenv("CDS_DATABASE_URL", raising=False)
    mock_fhir_patients("p1")
    responses.get(re.compile(re.escape(BASE) + r"/\w+\?.*"), json={"resourceType": "Bundle", "type": "searchset"})
    result = CliRunner().invoke(sandbox, ["--fhir", BASE, "--patient", "p1", "--service", "cardiovascular-risk",
                                          "--as-of", "2026-06-01"])
    assert result.exit_code == 0, result.output
    assert "cardiovascular-risk (patient-view)" in result.stdout
    assert list(tmp_path.iterdir()) == []  # no ./var
