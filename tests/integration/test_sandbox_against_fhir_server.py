"""The sandbox against a real FHIR server (Medplum in memory, loaded with the HL7 R4 examples, the project's
fixtures and, where the folder exists, the Synthea bundles): every service, in both modes — prefetch resolved by
the sandbox as an EHR would, and no prefetch (the service reads the server itself with fhirAuthorization) — in
process and over HTTP with a signed JWT; SMART Backend Services; patient lists; and the one-line errors.

Every test runs with the HL7 examples and the fixtures alone; the ``*_synthea_*`` tests repeat some of them for a
Synthea patient and skip when ../shared/data/synthea is absent."""
from __future__ import annotations

import http.server
import json
import socket
import tempfile
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from cds_hooks.sandbox import fhir_access, keys
from cds_hooks.sandbox.commands import sandbox
from cds_hooks.sandbox.runner import RunOptions, Sandbox, run_all, summarise
from cds_hooks.sandbox.service_client import InProcessService
from cds_hooks.validation import validate_hook_request, validate_response
from tests.conftest import TEST_AS_OF
from tests.integration import fhir_server
from tests.integration.conftest import HL7_PATIENT
from tests.protocol.test_expected_cards import CASES as EXPECTED_CASES
from tests.protocol.test_expected_cards import EXPECTED, card_essentials

# fixture hook request -> (service, patient, encounter): the same patients, now read from the FHIR server.
CASES = {
    "patient-view-prefetch": ("cardiovascular-risk", "pce-example-man", None),
    # The server holds no Condition or medication for pce-example-man: what the null-prefetch fixture sends.
    "patient-view-null-prefetch": ("cardiovascular-risk", "pce-example-man", None),
    "patient-view-missing-lipids": ("cardiovascular-risk", "no-lipids", None),
    "patient-view-prevent-example": ("cardiovascular-risk", "prevent-example-woman", None),
    "patient-view-risk-scores": ("risk-scores", "risk-af-woman", None),
    "patient-view-diagnosis-gaps": ("diagnosis-gaps", "dx-gaps-woman", None),
    "encounter-start-acute-scores": ("acute-deterioration-scores", "acute-man", "acute-enc-1"),
    "patient-view-pharmacogenomics": ("pharmacogenomics", "pgx-patient", None),
    # An order hook: the fixture's draft orders are what the sandbox drafts (see ORDER_FIXTURES).
    "order-select-pgx-clopidogrel": ("pharmacogenomics-order-select", "pgx-clopidogrel-patient", None),
}
# Fixtures of an order hook: the sandbox sends their context.draftOrders (the server holds only the prefetch).
ORDER_FIXTURES = {"order-select-pgx-clopidogrel"}


@pytest.fixture(scope="module")
def in_process(tmp_path_factory) -> InProcessService:
    return InProcessService({"AS_OF": TEST_AS_OF, "DATA_DIR": str(tmp_path_factory.mktemp("in-process-data"))})


# What a clinician drafts when the order hooks fire: metformin 1,000 mg twice daily (RxNorm 861004).
DRAFT_METFORMIN = {
    "resourceType": "Bundle", "type": "collection",
    "entry": [{"resource": {
        "resourceType": "MedicationRequest", "id": "draft-metformin", "status": "draft", "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                  "code": "861004",
                                                  "display": "metformin hydrochloride 1000 MG Oral Tablet"}]},
        "dosageInstruction": [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                               "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}]}}],
}


def run_one(service, fhir_base, credentials, patient_id, *, service_ids=(), encounter_id=None, send_prefetch=True,
            draft_orders=None):
    client = fhir_access.open_client(fhir_base, credentials)
    engine = Sandbox(service, client, fhir_base, credentials,
                     RunOptions(service_ids=service_ids, encounter_id=encounter_id, send_prefetch=send_prefetch,
                                draft_orders=draft_orders))
    return engine.run_patient(patient_id)


def assert_valid(run):
    assert run.error is None
    for call in run.calls:
        if call.skipped:
            continue
        assert not validate_hook_request(call.request), call.service_id
        assert call.answer.status == 200, (call.service_id, call.answer.body)
        assert not validate_response(call.answer.body), call.service_id


def test_the_server_loaded_every_resource(fhir):
    assert fhir.failed == 0, fhir.stderr_text()[-2000:]
    assert fhir.loaded > 1000  # the HL7 examples and the fixtures


def test_every_expected_cards_fixture_is_read_from_the_server():
    assert set(CASES) == set(EXPECTED_CASES)
    assert {f"{name}.cards.json" for name in CASES} == {p.name for p in EXPECTED.glob("*.cards.json")}


@pytest.mark.parametrize("send_prefetch", [True, False], ids=["sandbox-prefetch", "service-fetch"])
@pytest.mark.parametrize("fixture", sorted(CASES))
def test_fixture_patients_give_the_expected_cards_in_both_modes(fhir, in_process, fixture, send_prefetch):
    service_id, patient_id, encounter_id = CASES[fixture]
    # Service-side fetch goes through the bearer-protected base: the service must use fhirAuthorization.
    base = fhir.open_base if send_prefetch else fhir.secure_base
    credentials = fhir_access.bearer_credentials(fhir.static_token, "system/*.read", "it")
    with tempfile.TemporaryDirectory() as folder:
        drafts = None
        if fixture in ORDER_FIXTURES:
            drafts = Path(folder) / "draft-orders.json"
            hook_request = json.loads((EXPECTED.parent / "hooks" / f"{fixture}.json").read_text())
            drafts.write_text(json.dumps(hook_request["context"]["draftOrders"]))
        run = run_one(in_process, base, credentials, patient_id, service_ids=(service_id,),
                      encounter_id=encounter_id, send_prefetch=send_prefetch, draft_orders=drafts)
    assert_valid(run)
    (call,) = run.calls
    assert ("prefetch" in call.request) is send_prefetch
    assert call.request["fhirAuthorization"]["access_token"] == fhir.static_token
    expected = json.loads((EXPECTED / f"{fixture}.cards.json").read_text())
    assert [card_essentials(c) for c in call.cards] == expected


def test_pce_worked_example_read_from_the_server(fhir, in_process):
    run = run_one(in_process, fhir.open_base, fhir_access.anonymous_credentials("it"), "pce-example-man",
                  service_ids=("cardiovascular-risk",))
    (call,) = run.calls
    assert "10-year ASCVD risk (Pooled Cohort Equations): 5.4 % (borderline)" in [c["summary"] for c in call.cards]
    assert call.prefetch_states["patient"] == "Patient"
    assert call.prefetch_states["observations"] == "Bundle (6)"
    assert call.prefetch_states["conditions"] == "null (no match)"  # 2.0.1: null rather than an empty Bundle
    assert call.request["prefetch"]["conditions"] is None
    assert "fhirAuthorization" not in call.request  # an open server: no token to pass on


def test_prefetch_follows_the_next_links_of_the_server(fhir):
    from cds_hooks.sandbox import ehr

    credentials = fhir_access.anonymous_credentials("it")
    client = fhir_access.open_client(fhir.open_base, credentials)
    build = ehr.resolve_prefetch({"all": "Observation?patient={{context.patientId}}"}, {"patientId": HL7_PATIENT["id"]},
                                 client, fhir.open_base)
    entries = build.prefetch["all"]["entry"]
    assert len(entries) > 3 * fhir_server.PAGE_SIZE  # four pages of the server in one searchset
    assert len({e["fullUrl"] for e in entries}) == len(entries)


def assert_every_service_answers(in_process, fhir, patient_id, send_prefetch, *, paged=False):
    credentials = fhir_access.bearer_credentials(fhir.static_token, "system/*.read", "it")
    drafts = json.loads(json.dumps(DRAFT_METFORMIN))
    drafts["entry"][0]["resource"]["subject"] = {"reference": f"Patient/{patient_id}"}
    with tempfile.TemporaryDirectory() as folder:
        drafts_file = Path(folder) / "draft-orders.json"
        drafts_file.write_text(json.dumps(drafts))
        run = run_one(in_process, fhir.secure_base, credentials, patient_id, send_prefetch=send_prefetch,
                      draft_orders=drafts_file)
    assert_valid(run)
    called = {c.service_id for c in run.calls if not c.skipped}
    # encounter-start too (the latest Encounter is used), and the order hooks with the drafted metformin
    assert called == {s["id"] for s in in_process.discover()}
    encounter_call = next(c for c in run.calls if c.hook == "encounter-start")
    assert encounter_call.request["context"]["encounterId"]
    assert ("prefetch" in encounter_call.request) is send_prefetch
    if send_prefetch and paged:
        sizes = [len(value.get("entry") or []) for c in run.calls if c.request and c.request.get("prefetch")
                 for value in c.request["prefetch"].values() if isinstance(value, dict) and value.get("type") == "searchset"]
        # More results than one page of the server: the sandbox followed the next links.
        assert max(sizes) > fhir_server.PAGE_SIZE, sizes
    return run


@pytest.mark.parametrize("send_prefetch", [True, False], ids=["sandbox-prefetch", "service-fetch"])
def test_every_service_answers_for_the_hl7_example_patient(fhir, in_process, send_prefetch):
    assert_every_service_answers(in_process, fhir, HL7_PATIENT["id"], send_prefetch)


@pytest.mark.parametrize("send_prefetch", [True, False], ids=["sandbox-prefetch", "service-fetch"])
def test_every_service_answers_for_a_synthea_patient(fhir, in_process, synthea_patient, send_prefetch):
    assert_every_service_answers(in_process, fhir, synthea_patient["id"], send_prefetch, paged=True)


def assert_cli_shows_the_cards(fhir, patient_id, family):
    from cds_hooks.cli import main

    result = CliRunner().invoke(main, ["sandbox", "--fhir", fhir.open_base, "--patient", patient_id,
                                       "--service", "cardiovascular-risk", "--service", "heart-disease-model-demo"],
                                env={"CDS_AS_OF": TEST_AS_OF, "COLUMNS": "160",
                                     "CDS_ENABLE_DEMO_MODEL": "true"})  # off by default
    assert result.exit_code == 0, result.output
    assert f"Patient/{patient_id}" in result.stdout
    assert family in result.stdout
    assert "cardiovascular-risk (patient-view) — " in result.stdout
    assert "heart-disease-model-demo (patient-view) — " in result.stdout
    assert "card " in result.stdout  # each card's uuid is shown, for feedback
    return result


def test_cli_shows_the_cards_of_a_fixture_patient(fhir):
    result = assert_cli_shows_the_cards(fhir, "pce-example-man", "")
    assert "5.4 % (borderline)" in result.stdout
    assert "demo model" in result.stdout  # the model card is rendered


def test_cli_shows_the_cards_of_the_hl7_example_patient(fhir):
    assert_cli_shows_the_cards(fhir, HL7_PATIENT["id"], HL7_PATIENT["family"])


def test_cli_shows_the_cards_of_a_synthea_patient(fhir, synthea_patient):
    result = assert_cli_shows_the_cards(fhir, synthea_patient["id"], synthea_patient["name"][0]["family"])
    assert "demo model" in result.stdout


def assert_remote_service_answers(fhir, sandbox_keys, remote_service, patient_id):
    result = CliRunner().invoke(sandbox, ["--fhir", fhir.open_base, "--patient", patient_id,
                                          "--service-url", remote_service, "--key", str(sandbox_keys["key"]),
                                          "--service", "cardiovascular-risk", "--format", "json"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.splitlines()[0])
    assert line["status"] == 200 and line["cards"] and "error" not in line
    assert not validate_response({"cards": line["cards"]})
    return line


def test_remote_service_with_a_signed_jwt(fhir, sandbox_keys, remote_service):
    line = assert_remote_service_answers(fhir, sandbox_keys, remote_service, "prevent-example-woman")
    expected = json.loads((EXPECTED / "patient-view-prevent-example.cards.json").read_text())
    assert [card_essentials(c) for c in line["cards"]] == expected


def test_remote_service_with_a_signed_jwt_for_a_synthea_patient(fhir, sandbox_keys, remote_service, synthea_patient):
    assert_remote_service_answers(fhir, sandbox_keys, remote_service, synthea_patient["id"])


def test_remote_service_pce_example_matches_in_process(fhir, sandbox_keys, remote_service):
    result = CliRunner().invoke(sandbox, ["--fhir", fhir.open_base, "--patient", "pce-example-man",
                                          "--service-url", remote_service + "/cds-services",
                                          "--key", str(sandbox_keys["key"]), "--service", "cardiovascular-risk"],
                                env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "5.4 % (borderline)" in result.stdout


def test_remote_service_refuses_an_untrusted_key(fhir, remote_service, tmp_path):
    untrusted = keys.generate_key_files(tmp_path / "other", issuer="https://someone-else.invalid")
    result = CliRunner().invoke(sandbox, ["--fhir", fhir.open_base, "--patient", "pce-example-man",
                                          "--service-url", remote_service, "--key", str(untrusted["key"])])
    assert result.exit_code == 1
    assert_one_line_error(result, "refused the JWT (HTTP 401)")


def test_feedback_for_a_remote_card(fhir, sandbox_keys, remote_service):
    result = CliRunner().invoke(sandbox, ["--fhir", fhir.open_base, "--patient", "pce-example-man",
                                          "--service-url", remote_service, "--key", str(sandbox_keys["key"]),
                                          "--service", "cardiovascular-risk", "--format", "json"])
    card = json.loads(result.stdout.splitlines()[0])["cards"][0]
    sent = CliRunner().invoke(sandbox, ["feedback", "--service", "cardiovascular-risk", "--card", card["uuid"],
                                        "--outcome", "overridden", "--comment", "seen",
                                        "--service-url", remote_service, "--key", str(sandbox_keys["key"])])
    assert sent.exit_code == 0, sent.output
    assert "feedback stored" in sent.stdout
    refused = CliRunner().invoke(sandbox, ["feedback", "--service", "cardiovascular-risk", "--card", "not-a-uuid",
                                           "--outcome", "overridden", "--service-url", remote_service,
                                           "--key", str(sandbox_keys["key"])])
    assert refused.exit_code == 1
    assert_one_line_error(refused, "feedback was not accepted: HTTP 400")


def test_smart_backend_services_with_discovery(fhir, sandbox_keys):
    result = CliRunner().invoke(sandbox, ["--fhir", fhir.secure_base, "--patient", "pce-example-man",
                                          "--client-id", "sandbox-smart-client", "--private-key",
                                          str(sandbox_keys["key"]), "--service", "cardiovascular-risk",
                                          "--as-of", TEST_AS_OF, "--format", "json"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.splitlines()[0])
    assert "10-year ASCVD risk (Pooled Cohort Equations): 5.4 % (borderline)" in [c["summary"] for c in line["cards"]]


def test_smart_backend_services_with_an_unregistered_key(fhir, tmp_path):
    other = keys.generate_key_files(tmp_path / "other")
    result = CliRunner().invoke(sandbox, ["--fhir", fhir.secure_base, "--patient", "pce-example-man",
                                          "--client-id", "sandbox-smart-client", "--private-key", str(other["key"])])
    assert result.exit_code == 1
    assert_one_line_error(result, "refused the client credentials (HTTP 401: invalid_client")


def assert_patient_list_with_summary_and_save(fhir, other_patient_id, tmp_path):
    patients = tmp_path / "patients.txt"
    patients.write_text(f"# a list\npce-example-man\nPatient/{other_patient_id}\nno-such-patient\n")
    save = tmp_path / "new" / "cases"  # created, parents included
    result = CliRunner().invoke(sandbox, ["--fhir", fhir.secure_base, "--bearer", fhir.static_token, "--patients",
                                          str(patients), "--service", "cardiovascular-risk", "--save", str(save),
                                          "--as-of", TEST_AS_OF], env={"COLUMNS": "160"})
    assert result.exit_code == 1  # one patient is missing
    assert "3 patients" in result.stdout
    assert "✗ Patient/no-such-patient was not found on the FHIR server" in result.stdout
    assert "p50" in result.stdout and "p99" in result.stdout
    assert sorted(p.name for p in save.iterdir()) == sorted(["pce-example-man", other_patient_id])  # none for the missing
    saved = sorted(p.relative_to(save).as_posix() for p in save.rglob("*.json"))
    assert saved == sorted([f"{other_patient_id}/cardiovascular-risk.request.json",
                            f"{other_patient_id}/cardiovascular-risk.response.json",
                            "pce-example-man/cardiovascular-risk.request.json",
                            "pce-example-man/cardiovascular-risk.response.json"])
    request = json.loads((save / "pce-example-man" / "cardiovascular-risk.request.json").read_text())
    assert "fhirAuthorization" not in request and request["prefetch"]["patient"]["id"] == "pce-example-man"
    for path in save.rglob("*.json"):
        assert fhir.static_token not in path.read_text()  # the token never reaches a file
    assert fhir.static_token not in result.output


def test_patient_list_with_progress_summary_and_save(fhir, tmp_path):
    assert_patient_list_with_summary_and_save(fhir, "dx-gaps-woman", tmp_path)


def test_patient_list_with_a_synthea_patient(fhir, synthea_patient, tmp_path):
    assert_patient_list_with_summary_and_save(fhir, synthea_patient["id"], tmp_path)


def test_search_runs_the_patients_it_finds(fhir, in_process):
    result = CliRunner().invoke(sandbox, ["--fhir", fhir.open_base, "--search", "Patient?gender=female",
                                          "--limit", "3", "--service", "diagnosis-gaps", "--format", "json"])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3 and all(line["status"] == 200 for line in lines), result.output
    assert "3 patients" in result.stderr


def test_summary_counts_cards_per_service_and_indicator(fhir, in_process):
    credentials = fhir_access.anonymous_credentials("it")
    client = fhir_access.open_client(fhir.open_base, credentials)
    engine = Sandbox(in_process, client, fhir.open_base, credentials,
                     RunOptions(service_ids=("cardiovascular-risk", "diagnosis-gaps")))
    summary = summarise(run_all(engine, ["pce-example-man", "dx-gaps-woman"]))
    assert summary.patients == 2 and summary.error_count == 0
    assert summary.cards["cardiovascular-risk"]["info"] >= 3
    assert summary.cards["diagnosis-gaps"]["warning"] + summary.cards["diagnosis-gaps"]["critical"] >= 1
    assert len(summary.latencies_ms["diagnosis-gaps"]) == 2


# ---------------------------------------------------------------------------------------------------------------
# Errors: one line, exit status 1, no traceback


def assert_one_line_error(result, words):
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and words in errors[0], result.output


def test_unreachable_fhir_server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    result = CliRunner().invoke(sandbox, ["--fhir", f"http://127.0.0.1:{port}/fhir", "--patient", "x"])
    assert result.exit_code == 1
    assert_one_line_error(result, f"cannot reach the FHIR server at http://127.0.0.1:{port}/fhir")


def test_fhir_server_answers_401(fhir):
    result = CliRunner().invoke(sandbox, ["--fhir", fhir.secure_base, "--patient", "pce-example-man"])
    assert result.exit_code == 1
    assert_one_line_error(result, "refused the request for Patient/pce-example-man (HTTP 401)")


def test_wrong_bearer_token_is_not_printed(fhir):
    result = CliRunner().invoke(sandbox, ["--fhir", fhir.secure_base, "--patient", "pce-example-man",
                                          "--bearer", "wrong-token-value"])
    assert result.exit_code == 1
    assert_one_line_error(result, "refused the given access token for Patient/pce-example-man (HTTP 401)")
    assert "give --bearer" not in result.output  # one was given
    assert "wrong-token-value" not in result.output


def test_missing_patient(fhir):
    result = CliRunner().invoke(sandbox, ["--fhir", fhir.open_base, "--patient", "no-such-patient"])
    assert result.exit_code == 1
    assert "Patient/no-such-patient was not found on the FHIR server" in result.output
    assert "Traceback" not in result.output


class _HtmlHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_an_answer_that_is_not_fhir():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/fhir"
        result = CliRunner().invoke(sandbox, ["--fhir", base, "--patient", "x"])
    finally:
        server.shutdown()
    assert result.exit_code == 1
    assert_one_line_error(result, f"the answer from {base} for Patient/x is not FHIR")


def test_the_server_process_cannot_block_on_its_stderr(tmp_path):
    """A server that writes more to stderr than a pipe holds before it is ready still starts (and keeps running)."""
    import shutil

    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    script = tmp_path / "noisy.cjs"
    script.write_text(
        "const line = 'x'.repeat(1023) + '\\n';\n"
        "for (let i = 0; i < 1024; i++) process.stderr.write(line);\n"  # 1 MiB, a pipe holds 64 KiB
        "process.stdout.write(JSON.stringify({port: 1, loaded: 0, failed: 0}) + '\\n');\n"
        "setInterval(() => process.stderr.write(line), 1);\n")
    server = fhir_server.start([], static_token="t", clients={}, script=script, start_timeout_s=20)
    try:
        assert server.port == 1 and server.failed == 0
        assert server.stderr_text().startswith("x")
        assert server.process.poll() is None
    finally:
        server.stop()
