"""Population scoring throughput: patients per minute per core, for 1 and 2 workers, and peak memory per worker.

Generates N patients from the Synthea bundles (once, cached under --work), then runs the whole job (route + score
on a LocalCluster of worker processes, one thread each) for each worker count and prints:

    workers  patients  route_s  score_s  total_s  patients/min/core (score, total)  patients/CPU-minute  peak MiB/worker

Target: >= 1,000 patients/min/core, near-linear from 1 to 2 workers, memory flat in N (compare --n 2000 and 10000).

    python benchmarks/bench_population.py [--n 10000] [--workers 1 2] [--work /tmp/precision-cds-bench]
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from population.cluster import dask_client  # noqa: E402
from population.generate import generate, load_templates  # noqa: E402
from population.job import ScoreRequest, run_score_job  # noqa: E402
from population.services import resource_types, select_services  # noqa: E402

AS_OF = date(2026, 6, 1)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthea", type=Path, default=ROOT.parent / "shared" / "data" / "synthea")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--work", type=Path, default=Path("/tmp/precision-cds-bench"))
    args = parser.parse_args()

    export = args.work / f"export-{args.n}"
    if not (export / "manifest.json").exists():
        started = time.perf_counter()
        templates = load_templates(args.synthea, resource_types(select_services(None)))
        generate(templates, args.n, export, end=AS_OF)
        print(f"generated {args.n} patients in {time.perf_counter() - started:.1f} s", flush=True)

    print("workers  patients  route_s  score_s  total_s  per_min_core_score  per_min_core_total  "
          "per_cpu_min_score  peak_MiB_worker")
    for workers in args.workers:
        out = args.work / f"job-{args.n}-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        marks: dict[str, float] = {}

        def progress(phase: str, done: int, total: int) -> None:
            marks.setdefault(phase, time.perf_counter())  # the first call of a phase is its start

        # The job on a cluster the benchmark holds, so that worker memory can be read after it ran.
        with dask_client(None, workers) as client:
            started = time.perf_counter()
            result = run_score_job(ScoreRequest(export, out, AS_OF, workers=workers,
                                                scheduler=client.scheduler.address), progress)
            ended = time.perf_counter()
            peaks = client.run(peak_rss_mib)
        route_s = marks["score"] - marks["route"]
        score_s = ended - marks["score"]
        total_s = ended - started
        per_core_score = result.patients / score_s * 60 / workers
        per_core_total = result.patients / total_s * 60 / workers
        # Patients per minute of CPU actually spent scoring (the tasks' process time): the same figure whatever
        # else the machine is running, so it shows what the code costs when wall-clock figures are disturbed.
        cpu_s = sum(json.loads(p.read_text())["cpu_seconds"] for p in (out / "done").glob("*.json"))
        print(f"{workers:7d}  {result.patients:8d}  {route_s:7.1f}  {score_s:7.1f}  {total_s:7.1f}  "
              f"{per_core_score:18.0f}  {per_core_total:18.0f}  {result.patients / cpu_s * 60:17.0f}  "
              f"{max(peaks.values()):15.0f}", flush=True)


if __name__ == "__main__":
    main()
