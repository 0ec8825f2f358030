"""Review fixes of the population job: absolute paths for remote workers and a clean error for an unreachable
scheduler, routing under a low file-descriptor limit, care gaps and per-variant statistics in the report, shared
Medications, deceased patients and resources without a patient, resuming only on an unchanged input, and the export
CLI against a mocked server."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import responses
from click.testing import CliRunner
from distributed import LocalCluster

import population.cluster as cluster_module
from cds_hooks.cli import main
from population.findings_table import findings_table
from population.job import JobError, ScoreRequest, run_score_job
from population.layout import JobLayout
from population.partitioning import PartitionWriter, partition_name, partition_of, route_source
from population.report import render
from population.scoring import _write_parquet
from population.sources import Source, ndjson_lines
from population.summary import summarise
from tests.population.conftest import AS_OF, make_population
from tests.population.test_population_equals_hooks import assert_population_equals_hooks
from tests.population.test_population_job import findings_of

ROOT = Path(__file__).resolve().parents[2]


def read_ndjson(path: Path) -> list[dict]:
    return [json.loads(line) for _, line in ndjson_lines(path)]


def write_ndjson(path: Path, resources: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in resources), encoding="utf-8")


def results(out_dir: Path) -> list[tuple]:
    return [(r["patient_id"], r["service"], r["finding_id"], r["title"], r["status"], r["value"], r["category"])
            for r in findings_of(out_dir)]


# -- 1. paths and the scheduler ---------------------------------------------------------------------------------------

def test_a_relative_input_is_found_by_workers_whose_working_directory_differs(tmp_path, monkeypatch):
    elsewhere = tmp_path / "worker-cwd"
    elsewhere.mkdir()
    here = tmp_path / "client-cwd"
    make_population(here / "export", "fixtures", 6)
    monkeypatch.chdir(elsewhere)  # the worker processes start here
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                      host="127.0.0.1") as cluster:
        monkeypatch.chdir(here)  # the client runs from another folder, with relative paths
        result = run_score_job(ScoreRequest(Path("export"), Path("job"), AS_OF, partitions=2,
                                            scheduler=cluster.scheduler_address))
    assert result.patients == 6 and result.out_dir == here / "job"
    assert json.loads((here / "job" / "job.json").read_text())["input"] == str(here / "export")


def test_an_unreachable_scheduler_is_a_one_line_error_naming_the_address(tmp_path, monkeypatch):
    export = make_population(tmp_path / "export", "fixtures", 2)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(cluster_module, "SCHEDULER_CONNECT_S", 1.0)
    address = f"tcp://127.0.0.1:{port}"
    result = CliRunner().invoke(main, ["population", "score", str(export), "--out", str(tmp_path / "job"),
                                       "--scheduler", address, "--no-report"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a ClickException, not an OSError traceback
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and address in lines[0] and "Dask scheduler" in lines[0]


# -- 3. routing with few file descriptors -----------------------------------------------------------------------------

ROUTE_UNDER_LIMIT = """
import json, resource, sys
from pathlib import Path
from population.partitioning import route_source
from population.sources import Source
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
source = Source(key="ndjson-00000", kind="ndjson", paths=(sys.argv[1],), size_bytes=1)
print(json.dumps(route_source(source, sys.argv[2], int(sys.argv[3]), ["Patient"])))
"""


def test_routing_to_more_partitions_than_the_file_descriptor_limit(tmp_path):
    patients = [{"resourceType": "Patient", "id": f"patient-{i}"} for i in range(600)]
    write_ndjson(tmp_path / "Patient.ndjson", patients)
    partitions = 1000
    used = {partition_of(p["id"], partitions) for p in patients}
    assert len(used) > 200  # far more partitions written than the 64 descriptors allowed
    done = subprocess.run([sys.executable, "-c", ROUTE_UNDER_LIMIT, str(tmp_path / "Patient.ndjson"),
                           str(tmp_path / "routed"), str(partitions)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["routed"] == 600
    for index in used:
        ids = [r["id"] for r in read_ndjson(tmp_path / "routed" / partition_name(index) / "ndjson-00000.ndjson")]
        assert ids and all(partition_of(i, partitions) == index for i in ids)
    assert sum(len(read_ndjson(p)) for p in (tmp_path / "routed").glob("p*/*.ndjson")) == 600


def test_routed_files_keep_every_line_in_order_across_flushes(tmp_path):
    writer = PartitionWriter(tmp_path, "src", 3, buffer_bytes=50)
    lines = [json.dumps({"n": i}) for i in range(40)]
    for i, line in enumerate(lines):
        writer.write(partition_name(i % 3), line)
    writer.close()
    assert writer.flushes > 5
    for k in range(3):
        assert (tmp_path / partition_name(k) / "src.ndjson").read_text().splitlines() == lines[k::3]


def test_a_rerouted_source_replaces_what_an_interrupted_run_wrote(tmp_path):
    write_ndjson(tmp_path / "Patient.ndjson", [{"resourceType": "Patient", "id": f"p{i}"} for i in range(10)])
    source = Source(key="ndjson-00000", kind="ndjson", paths=(str(tmp_path / "Patient.ndjson"),), size_bytes=1)
    route_source(source, str(tmp_path / "routed"), 2, ["Patient"])
    route_source(source, str(tmp_path / "routed"), 2, ["Patient"])  # appends, but after removing the old files
    assert sum(len(read_ndjson(p)) for p in (tmp_path / "routed").glob("p*/*.ndjson")) == 10


# -- 4. report content ------------------------------------------------------------------------------------------------

def row(patient: str, finding_id: str, engine_id: str, title: str, kind: str, severity: str = "info",
        value: float | None = None, unit: str | None = None, condition: str | None = None,
        suggestions: tuple[str, ...] = (), service: str = "risk-scores", category: str | None = None) -> dict:
    return {"patient_id": patient, "service": service, "engine_id": engine_id, "engine_version": "1",
            "finding_id": finding_id, "status": "computed", "kind": kind, "severity": severity, "title": title,
            "value": value, "value_text": None, "unit": unit, "category": category, "message": None,
            "measures": "[]", "inputs": "[]", "missing": "[]", "input_problems": "[]", "assumptions": "[]",
            "condition": condition, "suggestions": json.dumps(list(suggestions)), "as_of": AS_OF}


def test_care_gaps_are_undiagnosed_conditions_and_treatment_suggestions_and_variants_are_separate(tmp_path):
    rows = [
        # lab-reported and computed eGFR: same finding id, warning severity, kind diagnosis, but no condition
        row("a", "ckd-epi-2021-cr:egfr", "ckd-epi-2021-cr", "eGFR (lab-reported)", "diagnosis", "warning", 40.0,
            "mL/min/1.73m2", category="G3b"),
        row("b", "ckd-epi-2021-cr:egfr", "ckd-epi-2021-cr", "eGFR (CKD-EPI 2021 creatinine, race-free)",
            "diagnosis", "warning", 90.0, "mL/min/1.73m2", category="G3a"),
        # two PREVENT variants of one finding id, and a high risk (warning) that is not a care gap
        row("a", "prevent-2024-base:cvd-10y", "prevent-2024-base", "PREVENT 10-year CVD risk (base)", "risk",
            "warning", 4.0, "%"),
        row("b", "prevent-2024-base:cvd-10y", "prevent-2024-base", "PREVENT 10-year CVD risk (with HbA1c)", "risk",
            "warning", 24.0, "%"),
        row("a", "dm-detector:gap", "dm-detector", "Possible undiagnosed diabetes", "diagnosis", "warning",
            condition="diabetes-mellitus", suggestions=("Add diabetes to the problem list",),
            service="diagnosis-gaps", category="meets criteria"),
        row("b", "statin-rule:start", "statin-rule", "Statin indicated", "treatment", "warning",
            suggestions=("Start a moderate-intensity statin",), service="cardiovascular-risk"),
        row("a", "statin-rule:start", "statin-rule", "Statin indicated", "treatment", "warning",
            service="cardiovascular-risk"),  # nothing to suggest: not counted as a gap
    ]
    layout = JobLayout(tmp_path)
    layout.manifest.write_text(json.dumps({"as_of": AS_OF.isoformat(), "services": [], "partitions": 1}))
    _write_parquet(findings_table(rows), layout.findings / "p00000.parquet")
    layout.done.mkdir()
    (layout.done / "p00000.json").write_text(json.dumps({"patients": 2, "findings": len(rows)}))

    summary = summarise(tmp_path)
    assert dict(summary.gaps) == {("Possible undiagnosed diabetes", "meets criteria"): 1, ("Statin indicated", ""): 1}
    titles = sorted(s.title for s in summary.findings.values())
    assert titles.count("eGFR (lab-reported)") == 1
    assert "eGFR (CKD-EPI 2021 creatinine, race-free)" in titles
    egfr = {s.title: s for s in summary.findings.values() if s.title.startswith("eGFR")}
    assert (egfr["eGFR (lab-reported)"].count, egfr["eGFR (lab-reported)"].total) == (1, 40.0)
    prevent = {s.title: s for s in summary.findings.values() if s.title.startswith("PREVENT")}
    assert sorted(prevent) == ["PREVENT 10-year CVD risk (base)", "PREVENT 10-year CVD risk (with HbA1c)"]
    assert prevent["PREVENT 10-year CVD risk (with HbA1c)"].maximum == 24.0
    html = render(summary)
    assert "<td>eGFR (lab-reported)</td>" in html and "<td>eGFR (CKD-EPI 2021 creatinine, race-free)</td>" in html
    gaps_table = html.split("Care gaps by category")[-1].split("Missing-data rates")[0]
    assert "eGFR" not in gaps_table and "PREVENT" not in gaps_table


# -- 5. shared Medications, deceased patients, resources without a patient -------------------------------------------

def test_medication_references_to_a_shared_medication_file_score_like_the_hooks(tmp_path):
    coded = make_population(tmp_path / "coded", "fixtures", 8)
    run_score_job(ScoreRequest(coded, tmp_path / "job-coded", AS_OF, workers=1, partitions=3, processes=False))

    referenced = tmp_path / "referenced"
    referenced.mkdir()
    medications: list[dict] = []
    for path in coded.glob("*.ndjson"):
        resources = read_ndjson(path)
        for resource in resources:
            if resource["resourceType"] == "MedicationRequest" and "medicationCodeableConcept" in resource:
                medication_id = f"med-{len(medications)}"
                medications.append({"resourceType": "Medication", "id": medication_id,
                                    "code": resource.pop("medicationCodeableConcept")})
                resource["medicationReference"] = {"reference": f"Medication/{medication_id}"}
        write_ndjson(referenced / path.name, resources)
    assert len(medications) >= 4
    write_ndjson(referenced / "Medication.ndjson", medications)

    run_score_job(ScoreRequest(referenced, tmp_path / "job-ref", AS_OF, workers=1, partitions=3, processes=False))
    assert results(tmp_path / "job-ref") == results(tmp_path / "job-coded")  # the shared file was read
    assert_population_equals_hooks(referenced, tmp_path / "job-ref")  # and the hooks see the same Medications

    (referenced / "Medication.ndjson").unlink()  # without it, the medications are unknown and results change
    run_score_job(ScoreRequest(referenced, tmp_path / "job-none", AS_OF, workers=1, partitions=3, processes=False))
    assert results(tmp_path / "job-none") != results(tmp_path / "job-coded")


def test_deceased_patients_and_resources_naming_no_patient_are_reported_not_scored(tmp_path):
    export = make_population(tmp_path / "export", "fixtures", 6)
    patients = read_ndjson(export / "Patient.ndjson")
    patients[0]["deceasedBoolean"] = True
    write_ndjson(export / "Patient.ndjson", patients)
    observations = read_ndjson(export / "Observation.ndjson")
    orphan = {k: v for k, v in observations[0].items() if k not in ("subject", "patient")}
    orphan["id"] = "orphan-observation"
    write_ndjson(export / "Observation.ndjson", observations + [orphan])

    out = tmp_path / "job"
    result = run_score_job(ScoreRequest(export, out, AS_OF, workers=1, partitions=2, processes=False))
    assert result.patients == 6
    rows = [r for p in (out / "patients").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    dead = next(r for r in rows if r["patient_id"] == patients[0]["id"])
    assert dead["deceased"] is True and dead["findings"] == 0
    assert all(r["patient_id"] != patients[0]["id"] for r in findings_of(out))
    assert_population_equals_hooks(export, out)  # the hooks give a deceased patient nothing either

    summary = summarise(out)
    assert summary.totals["deceased"] == 1 and summary.totals["without_patient_reference"] == 1
    assert "<td>resources naming no patient (not scored)</td><td class='n'>1</td>" in render(summary)


# -- 6. resuming on a changed input -----------------------------------------------------------------------------------

def test_a_job_is_not_resumed_on_a_changed_input(tmp_path, monkeypatch):
    import population.job as job_module

    export = make_population(tmp_path / "export", "fixtures", 8)
    out = tmp_path / "job"
    real_score = job_module.score_partition

    def fail_on_partition_one(job_dir, index, settings):
        if index == 1:
            raise RuntimeError("worker lost")
        return real_score(job_dir, index, settings)

    monkeypatch.setattr(job_module, "score_partition", fail_on_partition_one)
    with pytest.raises(JobError):
        run_score_job(ScoreRequest(export, out, AS_OF, workers=1, partitions=2, processes=False))
    monkeypatch.setattr(job_module, "score_partition", real_score)

    original = (export / "Patient.ndjson").read_bytes()
    (export / "Patient.ndjson").write_bytes(b"".join(original.splitlines(keepends=True)[:-1]))  # a patient removed
    with pytest.raises(JobError, match=r"input changed.*1 file\(s\).*new --out"):
        run_score_job(ScoreRequest(export, out, AS_OF, workers=1, processes=False))
    write_ndjson(export / "Extra.ndjson", [])
    with pytest.raises(JobError, match="input changed"):
        run_score_job(ScoreRequest(export, out, AS_OF, workers=1, processes=False))

    (export / "Extra.ndjson").unlink()
    (export / "Patient.ndjson").write_bytes(original)
    stat = (export / "Patient.ndjson").stat()
    recorded = json.loads((out / "job.json").read_text())["input_files"][str(export / "Patient.ndjson")]
    os.utime(export / "Patient.ndjson", ns=(stat.st_atime_ns, recorded[1]))  # the same file again
    result = run_score_job(ScoreRequest(export, out, AS_OF, workers=1, processes=False))
    assert (result.scored_now, result.patients) == (1, 8)


# -- 5. the export command --------------------------------------------------------------------------------------------

BASE = "https://fhir.example.org/r4"
STATUS = BASE + "/bulkstatus/7"


@responses.activate
def test_cli_export_downloads_the_files_then_they_can_be_scored(tmp_path):
    export = make_population(tmp_path / "generated", "fixtures", 3)
    responses.get(BASE + "/Group/9/$export", status=202, headers={"Content-Location": STATUS})
    responses.get(STATUS, status=202, headers={"Retry-After": "0", "X-Progress": "busy"})
    files = sorted(export.glob("*.ndjson"))
    responses.get(STATUS, status=200, json={
        "transactionTime": "2026-06-01T00:00:00Z", "request": BASE + "/Group/9/$export", "requiresAccessToken": True,
        "output": [{"type": p.name.split(".")[0], "url": f"{BASE}/files/{p.name}?sig=s3cret"} for p in files],
        "error": []})
    for path in files:
        responses.get(f"{BASE}/files/{path.name}", body=path.read_bytes())
    responses.delete(STATUS, status=202)
    out = tmp_path / "export"
    result = CliRunner().invoke(
        main, ["population", "export", "--fhir", BASE, "--group", "9", "--out", str(out), "--type", "Patient",
               "--type", "Observation"], env={"PRECISION_CDS_BULK_TOKEN": "tok-xyz"})
    assert result.exit_code == 0, result.output + result.stderr
    assert f"{len(files)} file(s) in {out}" in result.stderr and "export in progress: busy" in result.stderr
    assert "tok-xyz" not in result.stdout + result.stderr
    kick_off = responses.calls[0].request
    assert kick_off.headers["Authorization"] == "Bearer tok-xyz" and "_type=Patient%2CObservation" in kick_off.url
    assert sorted(p.read_text() for p in out.glob("*.ndjson")) == sorted(p.read_text() for p in files)
    assert "s3cret" not in (out / "manifest.json").read_text()

    again = CliRunner().invoke(main, ["population", "export", "--fhir", BASE, "--out", str(out)])
    assert again.exit_code == 1 and "not empty" in again.stderr  # no stale files mixed into a new export
