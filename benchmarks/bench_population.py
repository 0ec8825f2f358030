"""Population scoring throughput: patients per minute per core, for 1 and 2 workers, and peak memory per worker.

Generates N patients from the Synthea bundles (once, cached under --work), then runs the whole job (route + score
on a LocalCluster of worker processes, one thread each) for each worker count and prints:

    workers  patients  route_s  score_s  total_s  patients/min/core (score, total)  patients/CPU-minute  peak MiB/worker

then, for each N, a scaling line (2-worker against 1-worker throughput per core: 1.00 is linear) and, with several
N, a memory-against-N line (peak MiB per worker at each N: flat is the target).

Target: >= 1,000 patients/min/core, near-linear from 1 to 2 workers, memory flat in N.

    python benchmarks/bench_population.py [--n 1000 2000 10000] [--workers 1 2] [--work /tmp/precision-cds-bench]
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
    parser.add_argument("--n", type=int, nargs="+", default=[10_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--work", type=Path, default=Path("/tmp/precision-cds-bench"))
    args = parser.parse_args()

    print("n  workers  patients  route_s  score_s  total_s  per_min_core_score  per_min_core_total  "
          "per_cpu_min_score  peak_MiB_worker", flush=True)
    runs: dict[tuple[int, int], dict] = {}
    for n in args.n:
        export = args.work / f"export-{n}"
        if not (export / "manifest.json").exists():
            started = time.perf_counter()
            templates = load_templates(args.synthea, resource_types(select_services(None)))
            generate(templates, n, export, end=AS_OF)
            print(f"generated {n} patients in {time.perf_counter() - started:.1f} s", flush=True)
        for workers in args.workers:
            runs[(n, workers)] = run = measure(export, args.work / f"job-{n}-{workers}", workers)
            print(f"{n}  {workers:7d}  {run['patients']:8d}  {run['route_s']:7.1f}  {run['score_s']:7.1f}  "
                  f"{run['total_s']:7.1f}  {run['per_core_score']:18.0f}  {run['per_core_total']:18.0f}  "
                  f"{run['per_cpu_min']:17.0f}  {run['peak_mib']:15.0f}", flush=True)
        print(scaling_line(n, {w: runs[(n, w)] for w in args.workers}), flush=True)
    if len(args.n) > 1:
        print(memory_line({n: max(runs[(n, w)]["peak_mib"] for w in args.workers) for n in args.n}), flush=True)


def measure(export: Path, out: Path, workers: int) -> dict:
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
    score_s = ended - marks["score"]
    total_s = ended - started
    # Patients per minute of CPU actually spent scoring (the tasks' process time): the same figure whatever else
    # the machine is running, so it shows what the code costs when wall-clock figures are disturbed.
    cpu_s = sum(json.loads(p.read_text())["cpu_seconds"] for p in (out / "done").glob("*.json"))
    return {"patients": result.patients, "route_s": marks["score"] - marks["route"], "score_s": score_s,
            "total_s": total_s, "per_core_score": result.patients / score_s * 60 / workers,
            "per_core_total": result.patients / total_s * 60 / workers,
            "per_cpu_min": result.patients / cpu_s * 60 if cpu_s else 0.0, "peak_mib": max(peaks.values())}


def scaling_line(n: int, by_workers: dict[int, dict]) -> str:
    """Throughput per core of the largest worker count against the smallest (1.00: linear scaling)."""
    if len(by_workers) < 2:
        return f"scaling at n={n}: needs two worker counts (--workers 1 2)"
    low, high = min(by_workers), max(by_workers)
    ratio = by_workers[high]["per_core_score"] / by_workers[low]["per_core_score"]
    speedup = by_workers[low]["score_s"] / by_workers[high]["score_s"]
    return (f"scaling at n={n}: {low} -> {high} workers: scoring speed-up {speedup:.2f}x (linear: {high / low:.2f}x), "
            f"per-core throughput {ratio:.2f} of {low} worker(s)")


def memory_line(peaks: dict[int, float]) -> str:
    """Peak worker memory at each N, and the largest against the smallest (1.00: flat in N)."""
    ns = sorted(peaks)
    return ("peak MiB per worker vs n: " + ", ".join(f"n={n}: {peaks[n]:.0f}" for n in ns)
            + f" (n={ns[-1]} / n={ns[0]}: {peaks[ns[-1]] / peaks[ns[0]]:.2f})")


if __name__ == "__main__":
    main()
