"""Hook latency in process, side by side with ``orjson.loads`` of the same body, at every size.

The application is built and tuned as a gunicorn worker is (``create_app`` with the models warm, then
cds_hooks/gc_tuning.py), and every POST goes through Flask's test client: body decoding, request validation, prefetch,
parsing, features, engines, cards, explainer record, response schema check, audit queue, response encoding. Right
after each POST the same body is decoded with ``orjson.loads``, so both figures see the same machine load. The CPU
columns are the calling thread's CPU time per POST: what a call costs, whatever else the machine was doing.

1. Realistic prefetch: the Synthea patients (../shared/data/synthea, skipped when absent) answered as an EHR would
   answer each service's prefetch templates. Targets: p50 <= 2 ms and <= 10 x orjson.loads; p99 <= 2 x p50.
2. ~1 MiB prefetch: 1,000 Synthea-shaped Observations (benchmarks/prefetch_gen.py). Targets: p50 <= 12 ms,
   p99 <= 25 ms.
3. Cost against the number of Observations, up to 20,000: it should grow linearly (us per Observation flat or
   falling).

    python benchmarks/bench_hook_latency.py [--rounds 20] [--no-models] [--no-gc-tuning] [--only realistic|mib|scale]

Figures depend on the machine and on what else runs on it: print the load average with them (the script does).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from prefetch_gen import record  # noqa: E402

from cds_hooks.app import create_app  # noqa: E402
from cds_hooks.declaration import SERVICES  # noqa: E402
from cds_hooks.evaluate import hook_request_from_resources  # noqa: E402
from cds_hooks.gc_tuning import describe, tune_for_serving  # noqa: E402
from cds_hooks.services import load_all  # noqa: E402

AS_OF = "2021-04-01"  # the Synthea records end in 2020-21
NOW = AS_OF + "T12:00:00+00:00"
REALISTIC_SERVICES = ("cardiovascular-risk", "risk-scores", "diagnosis-gaps", "acute-deterioration-scores")
SIZE_SERVICES = ("acute-deterioration-scores", "cardiovascular-risk")
SCALE = (100, 500, 1000, 2000, 5000, 10000, 20000)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Bench:
    def __init__(self, models: bool, gc_tuning: bool) -> None:
        load_all()
        self.app = create_app({"AS_OF": AS_OF, "NOW": NOW, "DEV_MODE": True, "WARM_MODELS": models,
                               "DATA_DIR": tempfile.mkdtemp(prefix="precision-cds-bench-"),
                               "MAX_BODY_BYTES": 64 * 1024 * 1024, "LOG_LEVEL": "WARNING"})
        self.app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024
        self.client = self.app.test_client()
        self.gc_tuning = gc_tuning
        self.tuned = False

    def warm(self, service_id: str, bodies: list[bytes]) -> None:
        for body in bodies:
            resp = self.client.post(f"/cds-services/{service_id}", data=body, content_type="application/json")
            assert resp.status_code == 200, (resp.status_code, resp.get_data()[:300])
        if self.gc_tuning and not self.tuned:
            tune_for_serving()  # as the gunicorn master does once the app is warm
            self.tuned = True

    def run(self, service_id: str, bodies: list[bytes], calls: int) -> tuple[list[float], list[float]]:
        """Wall-clock ms of each POST and of ``orjson.loads`` of its body; the CPU ms of each POST (this thread's
        CPU time: what the call cost, whatever else ran on the machine) go to ``self.cpu_ms``."""
        hook_ms, loads_ms = [], []
        self.cpu_ms: list[float] = []
        url = f"/cds-services/{service_id}"
        for i in range(calls):
            body = bodies[i % len(bodies)]
            cpu = time.thread_time()
            started = time.perf_counter()
            resp = self.client.post(url, data=body, content_type="application/json")
            hook_ms.append((time.perf_counter() - started) * 1000)
            self.cpu_ms.append((time.thread_time() - cpu) * 1000)
            assert resp.status_code == 200
            started = time.perf_counter()
            orjson.loads(body)
            loads_ms.append((time.perf_counter() - started) * 1000)
        return hook_ms, loads_ms


def template_codes(service_id: str) -> set[str]:
    codes: set[str] = set()
    for template in SERVICES.get(service_id).prefetch.values():
        query = template.partition("?")[2]
        for value in parse_qs(query).get("code", []):
            codes.update(c.split("|")[-1] for c in value.split(","))
    return codes


def synthetic_body(service_id: str, n: int) -> bytes:
    resources = record(n, end=datetime.fromisoformat(NOW), codes=template_codes(service_id))
    request = hook_request_from_resources(resources, SERVICES.get(service_id))
    return orjson.dumps(request)


def line(label: str, size_kib: float, hook: list[float], loads: list[float], cpu: list[float]) -> str:
    p50, p99, l50 = percentile(hook, .5), percentile(hook, .99), percentile(loads, .5)
    return (f"{label:<30} {size_kib:9.1f} {p50:9.2f} {p99:9.2f} {p99 / p50:6.2f} {l50:9.3f} {p50 / l50:7.1f} "
            f"{percentile(cpu, .5):8.2f} {percentile(cpu, .99):8.2f}  {len(hook)}")


HEADER = (f"{'':<30} {'body KiB':>9} {'p50 ms':>9} {'p99 ms':>9} {'p99/50':>6} {'orjson':>9} {'x orj':>7} "
          f"{'cpu p50':>8} {'cpu p99':>8}  calls")


def realistic(bench: Bench, rounds: int, synthea: Path) -> None:
    files = sorted(synthea.glob("*.json"))
    if not files:
        print(f"\n1. realistic prefetch: skipped ({synthea} has no Synthea bundles)")
        return
    patients = [[e["resource"] for e in json.loads(f.read_text())["entry"] if "resource" in e] for f in files]
    print(f"\n1. realistic prefetch: {len(files)} Synthea patients; target p50 <= 2 ms and <= 10 x orjson.loads, "
          f"p99 <= 2 x p50")
    print(HEADER)
    for service_id in REALISTIC_SERVICES:
        bodies = [orjson.dumps(hook_request_from_resources(p, SERVICES.get(service_id))) for p in patients]
        bench.warm(service_id, bodies)
        hook, loads = bench.run(service_id, bodies, rounds * len(bodies))
        print(line(service_id, statistics.median(len(b) for b in bodies) / 1024, hook, loads, bench.cpu_ms))


def mib(bench: Bench, calls: int) -> None:
    print("\n2. ~1 MiB prefetch (1,000 Observations); target p50 <= 12 ms, p99 <= 25 ms")
    print(HEADER)
    for service_id in SIZE_SERVICES:
        body = synthetic_body(service_id, 1000)
        bench.warm(service_id, [body] * 3)
        hook, loads = bench.run(service_id, [body], calls)
        print(line(service_id, len(body) / 1024, hook, loads, bench.cpu_ms))


def scale(bench: Bench, budget_s: float) -> None:
    print("\n3. cost against the number of Observations (linear: us/obs flat or falling)")
    print(f"{'service':<28} {'obs':>6} {'body KiB':>9} {'p50 ms':>9} {'p99 ms':>9} {'orjson':>9} {'us/obs':>7} "
          f"{'cpu p50':>8} {'cpu us/obs':>10}  calls")
    for service_id in SIZE_SERVICES:
        for n in SCALE:
            body = synthetic_body(service_id, n)
            bench.warm(service_id, [body])
            first, _ = bench.run(service_id, [body], 1)
            calls = max(5, min(200, int(budget_s * 1000 / max(first[0], 0.1))))
            hook, loads = bench.run(service_id, [body], calls)
            p50 = percentile(hook, .5)
            cpu50 = percentile(bench.cpu_ms, .5)
            print(f"{service_id:<28} {n:6d} {len(body) / 1024:9.1f} {p50:9.2f} {percentile(hook, .99):9.2f} "
                  f"{percentile(loads, .5):9.3f} {p50 * 1000 / n:7.1f} {cpu50:8.2f} {cpu50 * 1000 / n:10.1f}  "
                  f"{len(hook)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthea", type=Path, default=ROOT.parent / "shared" / "data" / "synthea")
    parser.add_argument("--rounds", type=int, default=20, help="calls per Synthea patient and service")
    parser.add_argument("--mib-calls", type=int, default=300)
    parser.add_argument("--scale-budget-s", type=float, default=3.0, help="seconds per row of the scale table")
    parser.add_argument("--no-models", action="store_true", help="do not load the sentence encoder (smaller heap)")
    parser.add_argument("--no-gc-tuning", action="store_true", help="keep Python's default collector settings")
    parser.add_argument("--only", choices=("realistic", "mib", "scale"))
    args = parser.parse_args()

    started = time.perf_counter()
    bench = Bench(models=not args.no_models, gc_tuning=not args.no_gc_tuning)
    print(f"precision-cds hook latency in process; models {'off' if args.no_models else 'warm'}; GC "
          f"{'default' if args.no_gc_tuning else 'frozen after warm-up, thresholds raised'}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; app built in "
          f"{time.perf_counter() - started:.1f} s")
    if args.only in (None, "realistic"):
        realistic(bench, args.rounds, args.synthea)
    if args.only in (None, "mib"):
        mib(bench, args.mib_calls)
    if args.only in (None, "scale"):
        scale(bench, args.scale_budget_s)
    state = describe()
    print(f"\nGC: {state['frozen']} objects frozen, {state['tracked']} tracked, thresholds {state['threshold']}, "
          f"collections {[s['collections'] for s in gc.get_stats()]}; load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
