"""torch and transformers load only for what uses them (the note service and /qa): a process that serves the other
services with CDS_WARM_MODELS off never imports them, however many calls it answers."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_services_without_models_never_import_torch_or_transformers(tmp_path):
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(ROOT)!r})
        from cds_hooks.app import create_app
        from cds_hooks.declaration import SERVICES
        from cds_hooks.evaluate import hook_request_from_resources
        app = create_app({{"AS_OF": "2026-06-01", "DEV_MODE": True, "DATA_DIR": {str(tmp_path)!r},
                          "WARM_MODELS": False, "ENABLE_DEMO_MODEL": True}})
        request = json.load(open({str(ROOT / "fixtures/hooks/patient-view-prevent-example.json")!r}))
        resources = [request["prefetch"]["patient"]] + [
            e["resource"] for key in ("observations", "conditions", "medications")
            for e in request["prefetch"][key]["entry"]]
        # A drafted order, so that order-select and order-sign are called too.
        resources.append({{"resourceType": "MedicationRequest", "id": "draft-metformin", "status": "draft",
                          "intent": "order", "subject": {{"reference": "Patient/" + request["context"]["patientId"]}},
                          "medicationCodeableConcept": {{"coding": [{{
                              "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "861004"}}]}}}})
        client = app.test_client()
        answered = []
        assert client.get("/cds-services").status_code == 200
        for service in SERVICES:
            if service.id == "note-diagnosis-gaps":
                continue  # the one service that reads notes with the sentence encoder
            body = hook_request_from_resources(resources, service)
            resp = client.post("/cds-services/" + service.id, data=json.dumps(body),
                               content_type="application/json")
            assert resp.status_code == 200, (service.id, resp.status_code)
            answered.append(service.id)
        print(json.dumps({{"answered": answered,
                          "loaded": sorted(m for m in ("torch", "transformers") if m in sys.modules)}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"order-select-safety", "order-sign-safety", "cardiovascular-risk"} <= set(result["answered"])
    assert result["loaded"] == []
