"""Every Synthea patient through every service (optional: skips without ../shared), and the offline CLI."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cds_hooks.cli import main
from cds_hooks.declaration import SERVICES
from cds_hooks.evaluate import hook_request_from_resources
from tests.conftest import FIXTURES, SHARED_DATA

SYNTHEA = SHARED_DATA / "synthea"
SYNTHEA_FILES = sorted(SYNTHEA.glob("*.json")) if SYNTHEA.is_dir() else []


@pytest.mark.skipif(not SYNTHEA_FILES, reason="../shared/data/synthea is absent")
@pytest.mark.parametrize("path", SYNTHEA_FILES, ids=lambda p: p.name[:24])
def test_every_synthea_patient_through_every_service(app, client, path):
    app.config["ENABLE_DEMO_MODEL"] = True  # every declared service, the demonstration model (off by default) too
    resources = [e["resource"] for e in json.loads(path.read_text())["entry"]]
    resources.append(drafted_renewal(resources))  # what order-select and order-sign check; patient-view ignores it
    for definition in SERVICES:
        body = hook_request_from_resources(resources, definition)
        resp = client.post(f"/cds-services/{definition.id}", data=json.dumps(body), content_type="application/json")
        assert resp.status_code == 200, resp.get_json()  # the client fixture checks the response schema
        for card in resp.get_json()["cards"]:
            assert len(card["summary"]) < 140


def drafted_renewal(resources: list[dict]) -> dict:
    """The patient's newest medication order drafted again (a renewal): a drafted order for the order services."""
    requests = sorted((r for r in resources if r["resourceType"] == "MedicationRequest"),
                      key=lambda r: r.get("authoredOn", ""))
    return {**requests[-1], "id": "drafted-renewal", "status": "draft", "intent": "order"}


def test_cli_evaluates_a_hook_request():
    result = CliRunner().invoke(main, ["evaluate", str(FIXTURES / "hooks/patient-view-prevent-example.json"),
                                       "--as-of", "2026-06-01"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    prevent = next(f for f in out["findings"] if f["engine_id"] == "prevent-2024-base")
    assert round(prevent["value"], 1) == 14.7
    assert prevent["status"] == "computed"
    assert {i["source"] for i in prevent["inputs"] if i.get("source")} >= {"Observation/b-tc", "Condition/b-dm"}
    assert out["cards"]


def test_cli_evaluates_a_bundle_folder_as_json_lines(tmp_path):
    request = json.loads((FIXTURES / "hooks/patient-view-prefetch.json").read_text())
    entries = [{"resource": request["prefetch"]["patient"]}]
    entries += request["prefetch"]["observations"]["entry"]
    (tmp_path / "a.json").write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    (tmp_path / "b.json").write_text("{broken")
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path), "--as-of", "2026-06-01", "--no-cards"])
    assert result.exit_code == 1  # one input failed
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    pce = next(f for f in lines[0]["findings"] if f["engine_id"] == "pce-2013")
    assert round(pce["value"], 1) == 5.4
    assert "cards" not in lines[0]
    assert "error" in lines[1]
