"""The population job: gzip NDJSON, Bundles folders, resuming, the process-based LocalCluster, an existing cluster
(--scheduler), the report, and the CLI."""
from __future__ import annotations

import gzip
import json
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from distributed import LocalCluster

import population.job as job_module
from cds_hooks.cli import main
from population.job import JobError, ScoreRequest, run_score_job
from population.partitioning import patient_id_of
from population.sources import ndjson_lines
from tests.conftest import FIXTURES
from tests.population.conftest import AS_OF, make_population
from tests.population.test_population_equals_hooks import assert_population_equals_hooks


def findings_of(out_dir) -> list[dict]:
    rows = [r for p in sorted((out_dir / "findings").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    return sorted(rows, key=lambda r: (r["patient_id"], r["service"], r["finding_id"]))


def test_gzip_ndjson_gives_the_same_findings_as_plain(tmp_path):
    plain = make_population(tmp_path / "plain", "fixtures", 12)
    zipped = make_population(tmp_path / "zipped", "fixtures", 12, compress=True)
    assert sorted(p.name for p in zipped.glob("*.ndjson.gz")) and not list(zipped.glob("*.ndjson"))
    run_score_job(ScoreRequest(plain, tmp_path / "a", AS_OF, workers=1, partitions=2, processes=False))
    run_score_job(ScoreRequest(zipped, tmp_path / "b", AS_OF, workers=1, partitions=2, processes=False))
    assert findings_of(tmp_path / "a") == findings_of(tmp_path / "b") != []


def test_a_folder_of_bundles_is_scored_like_the_hooks(tmp_path):
    export = make_population(tmp_path / "export", "fixtures", 8)
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    by_patient: dict[str, list] = {}
    for path in export.glob("*.ndjson"):
        for _, line in ndjson_lines(path):
            resource = json.loads(line)
            by_patient.setdefault(patient_id_of(resource), []).append(resource)
    for index, resources in enumerate(by_patient.values()):
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
        if index % 2:  # gzip Bundles are read too
            with gzip.open(bundles / f"patient-{index}.json.gz", "wt", encoding="utf-8") as handle:
                json.dump(bundle, handle)
        else:
            (bundles / f"patient-{index}.json").write_text(json.dumps(bundle), encoding="utf-8")
    result = run_score_job(ScoreRequest(bundles, tmp_path / "job", AS_OF, workers=1, partitions=2, processes=False))
    assert result.patients == 8
    assert_population_equals_hooks(export, tmp_path / "job")


def test_a_rerun_scores_only_the_partitions_that_did_not_finish(tmp_path, monkeypatch):
    export = make_population(tmp_path / "export", "fixtures", 16)
    out = tmp_path / "job"
    real_score = job_module.score_partition

    def fail_on_partition_one(job_dir, index, settings):
        if index == 1:
            raise RuntimeError("worker lost")
        return real_score(job_dir, index, settings)

    monkeypatch.setattr(job_module, "score_partition", fail_on_partition_one)
    with pytest.raises(JobError, match="p00001.*run the same command again"):
        run_score_job(ScoreRequest(export, out, AS_OF, workers=2, partitions=4, processes=False))
    assert sorted(p.stem for p in (out / "done").glob("*.json")) == ["p00000", "p00002", "p00003"]
    assert (out / "routed").is_dir()  # kept for the rerun
    finished = {p.name: p.stat().st_mtime_ns for p in (out / "findings").glob("*.parquet")}

    monkeypatch.setattr(job_module, "score_partition", real_score)
    result = run_score_job(ScoreRequest(export, out, AS_OF, workers=2, processes=False))  # partitions from job.json
    assert (result.scored_now, result.skipped, result.patients) == (1, 3, 16)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "findings").glob("*.parquet") if p.name in finished} \
        == finished  # finished partitions untouched
    assert not (out / "routed").exists()  # the routed copy of the input is removed once the job completes

    fresh = tmp_path / "fresh"
    run_score_job(ScoreRequest(export, fresh, AS_OF, workers=2, partitions=4, processes=False))
    assert findings_of(out) == findings_of(fresh)


def test_a_resumed_job_must_ask_for_the_same_thing(tmp_path):
    export = make_population(tmp_path / "export", "fixtures", 4)
    out = tmp_path / "job"
    run_score_job(ScoreRequest(export, out, AS_OF, workers=1, partitions=2, processes=False))
    with pytest.raises(JobError, match="different as_of"):
        run_score_job(ScoreRequest(export, out, AS_OF.replace(year=2025), workers=1, processes=False))
    with pytest.raises(JobError, match="different partitions"):
        run_score_job(ScoreRequest(export, out, AS_OF, workers=1, partitions=3, processes=False))


def test_worker_processes_of_the_embedded_local_cluster(tmp_path):
    export = make_population(tmp_path / "export", "fixtures", 10)
    result = run_score_job(ScoreRequest(export, tmp_path / "job", AS_OF, workers=2, partitions=2, processes=True))
    assert (result.workers, result.patients) == (2, 10)
    assert_population_equals_hooks(export, tmp_path / "job")


def test_cli_score_on_an_existing_cluster_then_report(tmp_path):
    export = make_population(tmp_path / "export", "fixtures", 10)
    out = tmp_path / "job"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        result = CliRunner().invoke(main, ["population", "score", str(export), "--out", str(out), "--as-of",
                                           AS_OF.isoformat(), "--partitions", "2", "--scheduler",
                                           cluster.scheduler_address, "--no-report"])
        assert result.exit_code == 0, result.output
        assert {"route_source", "score_partition"} <= set(cluster.scheduler.task_prefixes)  # ran there
    assert "10 patients" in result.output
    assert len(list((out / "done").glob("*.json"))) == 2
    assert_population_equals_hooks(export, out)

    report = CliRunner().invoke(main, ["population", "report", str(out)])
    assert report.exit_code == 0, report.output
    html = (out / "report.html").read_text(encoding="utf-8")
    for heading in ("Counts by service", "Risk distributions", "Care gaps by category", "Missing-data rates"):
        assert heading in html
    assert "<td>patients scored</td><td class='n'>10</td>" in html
    assert html.count("<img alt=") >= 3 and html.count("data:image/png;base64,") == html.count("<img alt=")
    assert "http://" not in html and "https://" not in html and "<script" not in html  # opens offline
    ids = {r["patient_id"] for r in findings_of(out)}
    assert not any(pid in html for pid in ids)  # aggregates only


def test_cli_refuses_a_service_that_cannot_score_a_population(tmp_path):
    export = make_population(tmp_path / "export", "fixtures", 2)
    result = CliRunner().invoke(main, ["population", "score", str(export), "--out", str(tmp_path / "o"),
                                       "--service", "note-diagnosis-gaps"])
    assert result.exit_code != 0 and "note engine" in result.output


def test_cli_generate_makes_new_ids_and_recent_dates(tmp_path):
    out = tmp_path / "gen"
    result = CliRunner().invoke(main, ["population", "generate", "--from", str(FIXTURES / "patients"), "--n", "9",
                                       "--out", str(out), "--end", "2026-06-01", "--gzip"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    patients = [json.loads(line) for _, line in ndjson_lines(out / "Patient.ndjson.gz")]
    assert len(patients) == 9 == len({p["id"] for p in patients})
    assert {o["type"] for o in manifest["output"]} >= {"Patient", "Observation"}
    originals = set()
    for path in sorted((FIXTURES / "patients").glob("*.json")):
        originals |= {e["resource"].get("id") for e in json.loads(path.read_text())["entry"]}
    assert not originals & {p["id"] for p in patients}
    dates = [json.loads(line).get("effectiveDateTime", "")[:10] for _, line in
             ndjson_lines(out / "Observation.ndjson.gz")]
    assert max(d for d in dates if d) <= "2026-06-01"


def test_a_large_ndjson_file_is_routed_in_byte_ranges_each_line_once(tmp_path, monkeypatch):
    import population.sources as sources

    export = make_population(tmp_path / "export", "fixtures", 12)
    observations = export / "Observation.ndjson"
    whole = [line for _, line in ndjson_lines(observations)]
    for split in (997, 4096, len(whole[0]) + 1):  # odd sizes, and a boundary right after the first newline
        monkeypatch.setattr(sources, "SPLIT_BYTES", split)
        ranges = [s for s in sources.discover_sources(export) if s.paths[0] == str(observations)]
        assert len(ranges) > 1
        assert [line for s in ranges for _, line in ndjson_lines(s.paths[0], s.start, s.end)] == whole
    monkeypatch.setattr(sources, "SPLIT_BYTES", 4096)
    run_score_job(ScoreRequest(export, tmp_path / "split", AS_OF, workers=2, partitions=2, processes=False))
    assert_population_equals_hooks(export, tmp_path / "split")
