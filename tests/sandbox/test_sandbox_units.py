"""The sandbox's parts without a FHIR server: keys and JWTs, hook contexts, the EHR's prefetch states (mocked
server), patient lists, percentiles, and the keygen / feedback commands."""
from __future__ import annotations

import json
import stat
import time

import jwt
import pytest
import responses
from click.testing import CliRunner

from cds_hooks.sandbox import ehr, keys
from cds_hooks.sandbox.commands import sandbox
from cds_hooks.sandbox.errors import SandboxError
from cds_hooks.sandbox.fhir_access import anonymous_credentials, open_client
from cds_hooks.sandbox.runner import percentile, read_patient_ids

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
                      "DATA_DIR": str(tmp_path / "data"), "LOG_LEVEL": "ERROR"})
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
    monkeypatch.setenv("CDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CDS_WARM_MODELS", "false")
    card = "0c2f5b1e-1111-4a2b-9c3d-2e4f6a8b0c1d"
    ok = CliRunner().invoke(sandbox, ["feedback", "--service", "cardiovascular-risk", "--card", card,
                                      "--outcome", "overridden", "--reason-code", "not-relevant",
                                      "--reason-system", "https://example.org/reasons"])
    assert ok.exit_code == 0, ok.output
    missing = CliRunner().invoke(sandbox, ["feedback", "--service", "cardiovascular-risk", "--card", card,
                                           "--outcome", "accepted"])
    assert missing.exit_code == 2 and "--suggestion" in missing.output
