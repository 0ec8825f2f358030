"""The Parquet findings of a population job equal what each hook returns for each patient: same engines, same
statuses, same values, same evidence (a hook request is built from each patient's resources, as the EHR would send
it, and run through the HTTP pipeline's process_hook)."""
from __future__ import annotations

import json
from collections import defaultdict

import pyarrow.parquet as pq

from cds_hooks.config import load_config
from cds_hooks.evaluate import hook_request_from_resources
from cds_hooks.processing import process_hook
from engine.serialize import finding_to_dict
from population.job import ScoreRequest, run_score_job
from population.partitioning import patient_id_of
from population.services import select_services
from population.sources import ndjson_lines
from tests.population.conftest import AS_OF

JSON_COLUMNS = ("inputs", "missing", "input_problems", "assumptions", "measures")


def patients_of(export_dir) -> dict[str, list[dict]]:
    """Each patient's resources, plus every Medication of the export: the EHR holds them all, and the hook request
    emulation includes those the patient's medication resources reference (``_include=...:medication``)."""
    by_patient: dict[str, list[dict]] = defaultdict(list)
    medications: list[dict] = []
    for path in sorted(export_dir.glob("*.ndjson*")):
        for _, line in ndjson_lines(path):
            resource = json.loads(line)
            if resource.get("resourceType") == "Medication":
                medications.append(resource)
            else:
                by_patient[patient_id_of(resource)].append(resource)
    return {pid: resources + medications if pid is not None else resources for pid, resources in by_patient.items()}


def rows_by_patient_and_service(out_dir) -> dict[tuple[str, str], list[dict]]:
    rows: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for path in sorted((out_dir / "findings").glob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            rows[(row["patient_id"], row["service"])].append(row)
    return rows


def hook_findings(service, resources) -> list[dict]:
    config = load_config({"AS_OF": AS_OF.isoformat(), "WARM_MODELS": False})
    outcome = process_hook(service, hook_request_from_resources(resources, service), config)
    return [finding_to_dict(f) for f in outcome.findings]


def expected_row(finding: dict) -> dict:
    value = finding.get("value")
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return {
        "engine_id": finding["engine_id"], "engine_version": finding["engine_version"], "finding_id": finding["id"],
        "status": finding["status"], "kind": finding["kind"], "severity": finding["severity"],
        "title": finding["title"], "value": float(value) if numeric else None,
        "value_text": None if numeric or value is None else str(value), "unit": finding.get("unit"),
        "category": finding.get("category"), "message": finding.get("message"),
        **{column: finding.get(column, []) for column in JSON_COLUMNS},
    }


def actual_row(row: dict) -> dict:
    kept = {k: row[k] for k in ("engine_id", "engine_version", "finding_id", "status", "kind", "severity", "title",
                                "value", "value_text", "unit", "category", "message")}
    return {**kept, **{column: json.loads(row[column]) for column in JSON_COLUMNS}}


def assert_population_equals_hooks(export_dir, out_dir) -> int:
    services = select_services(None)
    rows = rows_by_patient_and_service(out_dir)
    patients = patients_of(export_dir)
    computed = 0
    for patient_id, resources in patients.items():
        if patient_id is None or not any(r["resourceType"] == "Patient" for r in resources):
            assert all(pid != patient_id for pid, _ in rows)  # no Patient: no hook call, not scored either
            continue
        for service in services:
            expected = [expected_row(f) for f in hook_findings(service, resources)]
            actual = [actual_row(r) for r in rows.get((patient_id, service.id), [])]
            assert actual == expected, f"{service.id} differs for a patient"
            assert all(r["as_of"] == AS_OF for r in rows.get((patient_id, service.id), []))
            computed += sum(1 for f in expected if f["status"] == "computed")
    assert {pid for pid, _ in rows} <= set(patients)
    return computed


def test_parquet_findings_equal_the_hooks_for_each_patient(population_ndjson, tmp_path):
    out = tmp_path / "job"
    result = run_score_job(ScoreRequest(population_ndjson, out, AS_OF, workers=2, partitions=3, processes=False))
    assert result.patients == 30 and result.partitions == 3 and not result.failed
    computed = assert_population_equals_hooks(population_ndjson, out)
    assert computed > 0, "a population where nothing is computed would not test the values"
