"""Latency of the patient-view service in process over the Synthea patients sent as prefetch.

Prints p50/p99 of the whole POST (Flask test client: parse, validate, features, engines, cards, response
schema check) next to the json.loads time of the same bodies. Target: p50 <= 25 ms, p99 <= 60 ms on 2 cores.

    python benchmarks/bench_patient_view.py [--rounds 20] [--synthea ../shared/data/synthea]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cds_hooks.app import create_app  # noqa: E402
from cds_hooks.declaration import SERVICES  # noqa: E402
from cds_hooks.evaluate import hook_request_from_resources  # noqa: E402
from cds_hooks.services import load_all  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthea", type=Path, default=ROOT.parent / "shared" / "data" / "synthea")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--as-of", default="2021-04-01", help="evaluation date (the Synthea records end in 2020-21)")
    args = parser.parse_args()
    files = sorted(args.synthea.glob("*.json"))
    if not files:
        sys.exit(f"no Synthea bundles in {args.synthea}")

    load_all()
    definition = SERVICES.get("cardiovascular-risk")
    bodies = []
    for f in files:
        resources = [e["resource"] for e in json.loads(f.read_text()).get("entry", []) if "resource" in e]
        bodies.append(json.dumps(hook_request_from_resources(resources, definition)).encode())
    # In process, without client authentication: this measures the hook itself (auth is timed by the load script).
    client = create_app({"AS_OF": args.as_of, "DEV_MODE": True}).test_client()
    for body in bodies:  # warm-up: imports, schema compilation, model classes
        assert client.post("/cds-services/cardiovascular-risk", data=body, content_type="application/json").status_code == 200

    hook_ms, loads_ms = [], []
    for _ in range(args.rounds):
        for body in bodies:
            t0 = time.perf_counter()
            resp = client.post("/cds-services/cardiovascular-risk", data=body, content_type="application/json")
            hook_ms.append((time.perf_counter() - t0) * 1000)
            assert resp.status_code == 200
            t0 = time.perf_counter()
            json.loads(body)
            loads_ms.append((time.perf_counter() - t0) * 1000)
    sizes = [len(b) / 1024 for b in bodies]
    print(f"patients: {len(bodies)}  rounds: {args.rounds}  calls: {len(hook_ms)}")
    print(f"body size KiB: median {statistics.median(sizes):.1f}  max {max(sizes):.1f}")
    print(f"patient-view  p50 {percentile(hook_ms, .5):7.2f} ms   p99 {percentile(hook_ms, .99):7.2f} ms")
    print(f"json.loads    p50 {percentile(loads_ms, .5):7.2f} ms   p99 {percentile(loads_ms, .99):7.2f} ms")


if __name__ == "__main__":
    main()
