"""A real FHIR server for the whole session (tests/integration/fhir_server.cjs), the sandbox's key, and a CDS
service on a loopback port with client authentication on. Skipped only where ``node`` is not installed."""
from __future__ import annotations

import json
import secrets
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from cds_hooks.app import create_app
from cds_hooks.sandbox import keys
from tests.conftest import FIXTURES, SHARED_DATA, TEST_AS_OF
from tests.integration import fhir_server

SYNTHEA = SHARED_DATA / "synthea"
SMART_CLIENT_ID = "sandbox-smart-client"
# Always loaded, whatever the machine has: the HL7 R4 examples' Patient/example (Peter James Chalmers: 3 Encounters,
# 70+ Observations, so searches span several pages) and the project's own fixture patients.
HL7_PATIENT = {"id": "example", "family": "Chalmers"}


@pytest.fixture(scope="session")
def sandbox_keys(tmp_path_factory) -> dict[str, Path]:
    return keys.generate_key_files(tmp_path_factory.mktemp("sandbox-keys"), client_id=SMART_CLIENT_ID)


@pytest.fixture(scope="session")
def fhir(sandbox_keys) -> fhir_server.RunningFhirServer:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the integration tests need Node.js 20+ to run the Medplum FHIR server")
    load = [FIXTURES / "hooks", FIXTURES / "patients"]
    if SYNTHEA.is_dir():
        load.append(SYNTHEA)
    jwks = json.loads(sandbox_keys["jwks"].read_text())
    server = fhir_server.start(load, static_token=secrets.token_hex(16), clients={SMART_CLIENT_ID: jwks})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def synthea_patient() -> dict:
    """The first Synthea bundle's Patient (the folder is optional: tests that need it skip without it)."""
    bundles = sorted(SYNTHEA.glob("*.json")) if SYNTHEA.is_dir() else []
    if not bundles:
        pytest.skip(f"no Synthea bundles in {SYNTHEA}")
    bundle = json.loads(bundles[0].read_text())
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


@pytest.fixture(scope="session")
def remote_service(sandbox_keys, tmp_path_factory):
    """The service over real HTTP with authentication on, trusting the sandbox key through a trusted-issuers file."""
    # Bind first: the app needs the URL the client calls (its PUBLIC_BASE_URL, the JWT aud), which has the port.
    server = make_server("127.0.0.1", 0, lambda environ, start_response: [], threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    server.app = create_app({"AS_OF": TEST_AS_OF, "DEV_MODE": False, "WARM_MODELS": False,
                             "TRUSTED_ISSUERS_FILE": str(sandbox_keys["trusted_issuers"]), "PUBLIC_BASE_URL": base_url,
                             "DATA_DIR": str(tmp_path_factory.mktemp("remote-service-data")), "LOG_LEVEL": "ERROR"})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base_url
    server.shutdown()
