"""A population scoring job: route the input by patient, score each partition on Dask, resume where it stopped.

``run_score_job`` is what ``precision-cds population score`` calls. It is resumable at two grains: a source with a
routing marker is not routed again, a partition with a done-marker is not scored again. A resumed run must ask for
the same thing (input, as-of date, services, partitions): job.json records it, and a different request is refused
rather than mixing two jobs in one folder.
"""
from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

from distributed import as_completed

from population.cluster import SchedulerUnreachable, dask_client, worker_count
from population.layout import JobLayout
from population.partitioning import partition_name, route_source, write_atomically
from population.scoring import score_partition
from population.services import resource_types, select_services
from population.sources import Source, discover_sources, first_resource_type

log = logging.getLogger(__name__)

# Routed NDJSON per partition that a worker holds parsed at once; parsed JSON takes several times its text size,
# so this keeps a worker near a few hundred MB whatever the population size.
PARTITION_TARGET_BYTES = 32 * 1024 * 1024
GZIP_EXPANSION = 8  # NDJSON of FHIR compresses about this much
JOB_FORMAT = 1
ROUTING_TOTALS = "routing.json"

Progress = Callable[[str, int, int], None]  # (phase, done, total)


class JobError(RuntimeError):
    """The job cannot start or did not complete (the message says what to do)."""


@dataclass(frozen=True)
class ScoreRequest:
    input_path: Path
    out_dir: Path
    as_of: date
    services: tuple[str, ...] = ()  # empty: the default population services
    workers: int = 2
    partitions: int | None = None  # None: from the input size (or what a resumed job used)
    scheduler: str | None = None  # tcp://HOST:PORT of an existing Dask cluster
    processes: bool = True  # LocalCluster worker processes (threads only for fast tests)
    keep_routed: bool = False  # keep routed/ (a copy of the input) after the job completes


@dataclass
class JobResult:
    out_dir: Path
    partitions: int
    scored_now: int  # partitions scored by this run
    skipped: int  # partitions already done by an earlier run
    patients: int
    findings: int
    seconds: float
    workers: int
    failed: list[int] = field(default_factory=list)


def run_score_job(request: ScoreRequest, progress: Progress | None = None) -> JobResult:
    started = time.perf_counter()
    progress = progress or (lambda phase, done, total: None)
    # Absolute paths: the tasks run in worker processes, perhaps on other machines (--scheduler), whose working
    # directory is not this one.
    input_path = Path(request.input_path).resolve()
    layout = JobLayout(Path(request.out_dir).resolve())
    sources = discover_sources(input_path)
    services = select_services(request.services or None)
    settings = {
        "as_of": request.as_of.isoformat(),
        "services": [s.id for s in services],
        "engine_options": _engine_options(),
    }
    types = resource_types(services)
    try:
        with dask_client(request.scheduler, request.workers, request.processes) as client:
            workers = worker_count(client)
            manifest = _open_manifest(layout, input_path, request.partitions, settings, sources, types, workers)
            partitions = manifest["partitions"]
            pending = [i for i in range(partitions) if not (layout.done / f"{partition_name(i)}.json").exists()]
            if pending:
                _route(client, layout, sources, partitions, types, progress)
                _save_routing_totals(layout)
            failed = _score(client, layout, pending, settings, progress)
    except SchedulerUnreachable as exc:
        raise JobError(str(exc)) from None
    if failed:
        raise JobError(f"{len(failed)} of {partitions} partitions failed ({', '.join(map(partition_name, failed))}); "
                       "the others are saved: run the same command again to finish the job")
    if not request.keep_routed and layout.routed.exists():
        shutil.rmtree(layout.routed)  # a full copy of the input's patient data, no longer needed
    totals = job_totals(layout)
    return JobResult(out_dir=layout.root, partitions=partitions, scored_now=len(pending),
                     skipped=partitions - len(pending), patients=totals["patients"], findings=totals["findings"],
                     seconds=time.perf_counter() - started, workers=workers)


def job_totals(layout: JobLayout) -> dict:
    """The sums of every partition's done-marker, and what routing could not attribute to any patient."""
    totals = {"partitions_done": 0, "patients": 0, "findings": 0, "deceased": 0, "without_patient_resource": 0,
              "unreadable_lines": 0, "errors": 0}
    for marker in sorted(layout.done.glob("*.json")):
        counts = json.loads(marker.read_text(encoding="utf-8"))
        totals["partitions_done"] += 1
        for key in totals:
            if key != "partitions_done":
                totals[key] += int(counts.get(key, 0))
    routing = layout.root / ROUTING_TOTALS
    routed = json.loads(routing.read_text(encoding="utf-8")) if routing.exists() else {}
    totals["without_patient_reference"] = int(routed.get("unattributed", 0))
    totals["unreadable_lines"] += int(routed.get("unreadable_lines", 0))
    return totals


def _save_routing_totals(layout: JobLayout) -> None:
    """Sum the routing markers into OUT/routing.json, which outlives routed/ (deleted when the job completes)."""
    totals = {"routed": 0, "shared": 0, "unattributed": 0, "unreadable_lines": 0}
    for marker in sorted(layout.routed_done.glob("*.json")):
        counts = json.loads(marker.read_text(encoding="utf-8"))
        for key in totals:
            totals[key] += int(counts.get(key, 0))
    write_atomically(layout.root / ROUTING_TOTALS, json.dumps(totals))


def _engine_options() -> dict:
    from cds_hooks.config import load_config

    return dict(load_config()["ENGINE_OPTIONS"])  # the hooks' options (CDS_ENGINE_OPTIONS), so results agree


def input_fingerprint(sources: list[Source]) -> dict[str, list[int]]:
    """Each input file's size and modification time (ns): cheap, and it changes when a file is rewritten."""
    files = sorted({path for source in sources for path in source.paths})
    return {path: [Path(path).stat().st_size, Path(path).stat().st_mtime_ns] for path in files}


def _open_manifest(layout: JobLayout, input_path: Path, partitions: int | None, settings: dict,
                   sources: list[Source], types: list[str], workers: int) -> dict:
    wanted = {"format": JOB_FORMAT, "input": str(input_path), **settings}
    fingerprint = input_fingerprint(sources)
    if layout.manifest.exists():
        existing = json.loads(layout.manifest.read_text(encoding="utf-8"))
        differences = [key for key in wanted if existing.get(key) != wanted[key]]
        if partitions is not None and existing.get("partitions") != partitions:
            differences.append("partitions")
        if differences:
            raise JobError(f"{layout.root} holds a job with a different {', '.join(differences)}; "
                           "use another --out folder (or delete this one) to start a new job")
        recorded = existing.get("input_files")
        if recorded != fingerprint:
            changed = len(set(recorded or {}) ^ set(fingerprint)) + sum(
                1 for path in set(recorded or {}) & set(fingerprint) if recorded[path] != fingerprint[path])
            raise JobError(f"the input changed since this job started ({changed} file(s) added, removed or "
                           f"modified); results would mix two inputs: use a new --out folder")
        return existing
    partitions = partitions or auto_partitions(sources, types, workers)
    if partitions < 1:
        raise JobError("--partitions must be at least 1")
    manifest = {**wanted, "partitions": partitions, "resource_types": types, "input_files": fingerprint,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    layout.root.mkdir(parents=True, exist_ok=True)
    write_atomically(layout.manifest, json.dumps(manifest, indent=2))
    return manifest


def auto_partitions(sources: list[Source], types: list[str], workers: int) -> int:
    """Enough partitions that each holds about PARTITION_TARGET_BYTES of routed NDJSON, and at least two per
    worker so that the last partitions don't leave workers idle."""
    wanted = set(types)
    estimate = 0
    for source in sources:
        if source.kind == "ndjson" and first_resource_type(source.paths[0]) not in wanted:
            continue  # not routed at all
        factor = GZIP_EXPANSION if source.paths[0].endswith(".gz") else 1
        estimate += source.size_bytes * factor
    return max(2 * workers, math.ceil(estimate / PARTITION_TARGET_BYTES))


def _route(client, layout: JobLayout, sources: list[Source], partitions: int, types: list[str],
           progress: Progress) -> None:
    todo = [s for s in sources if not (layout.routed_done / f"{s.key}.json").exists()]
    total, done = len(sources), len(sources) - len(todo)
    progress("route", done, total)
    futures = {client.submit(route_source, source, str(layout.routed), partitions, types, pure=False): source
               for source in todo}
    failures = []
    for future in as_completed(futures):
        if future.status == "error":
            # The exception type only: a message could quote a line of the input.
            failures.append(futures[future].key)
            log.error("routing %s failed: %s", futures[future].key, type(future.exception()).__name__)
        done += 1
        progress("route", done, total)
    if failures:
        raise JobError(f"could not route {len(failures)} source(s) ({', '.join(failures)}); "
                       "fix or remove them and run the same command again")


def _score(client, layout: JobLayout, pending: list[int], settings: dict, progress: Progress) -> list[int]:
    partitions_total = len(list(layout.done.glob("*.json"))) + len(pending)
    done = partitions_total - len(pending)
    progress("score", done, partitions_total)
    futures = {client.submit(score_partition, str(layout.root), index, settings, pure=False): index
               for index in pending}
    failed: list[int] = []
    for future in as_completed(futures):
        if future.status == "error":
            failed.append(futures[future])
            log.error("partition %s failed: %s", partition_name(futures[future]),
                      type(future.exception()).__name__)
        done += 1
        progress("score", done, partitions_total)
    return sorted(failed)
