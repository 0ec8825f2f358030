"""Latency of the patient-view services in process over the Synthea patients sent as prefetch.

Prints, per service, p50/p99 of the whole POST (Flask test client: parse, validate, features, engines, cards, response
schema check, and the explainer evidence written to SQLite in one insert, as the cards carry explainer links) next to
the json.loads time of the same bodies. Target: p50 <= 25 ms, p99 <= 60 ms per hook on 2 cores.

    python benchmarks/bench_patient_view.py [--rounds 20] [--synthea ../shared/data/synthea] [--service ID ...]

Without --service: every patient-view service enabled by default except the note service (its transformer encoder is
timed by benchmarks/bench_models.py).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cds_hooks.app import create_app  # noqa: E402
from cds_hooks.config import DEFAULTS  # noqa: E402
from cds_hooks.declaration import SERVICES  # noqa: E402
from cds_hooks.evaluate import hook_request_from_resources  # noqa: E402
from cds_hooks.services import load_all  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def default_services() -> list[str]:
    return [s.id for s in SERVICES
            if s.hook == "patient-view" and s.enabled(DEFAULTS) and s.id != "note-diagnosis-gaps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthea", type=Path, default=ROOT.parent / "shared" / "data" / "synthea")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--as-of", default="2021-04-01", help="evaluation date (the Synthea records end in 2020-21)")
    parser.add_argument("--service", action="append", help="a patient-view service id (repeatable)")
    args = parser.parse_args()
    files = sorted(args.synthea.glob("*.json"))
    if not files:
        sys.exit(f"no Synthea bundles in {args.synthea}")

    load_all()
    records = [[e["resource"] for e in json.loads(f.read_text()).get("entry", []) if "resource" in e] for f in files]
    with tempfile.TemporaryDirectory() as data_dir:
        # In process, without client authentication: this measures the hook itself (auth is timed by the load
        # script). Dev mode signs explainer links with a random secret, so every call also stores its evidence.
        client = create_app({"AS_OF": args.as_of, "DEV_MODE": True, "DATA_DIR": data_dir}).test_client()
        print(f"patients: {len(records)}  rounds: {args.rounds}")
        for service_id in args.service or default_services():
            bench_service(client, service_id, records, args.rounds)


def bench_service(client, service_id: str, records: list[list[dict]], rounds: int) -> None:
    definition = SERVICES.get(service_id)
    url = f"/cds-services/{service_id}"
    bodies = [json.dumps(hook_request_from_resources(resources, definition)).encode() for resources in records]
    links = 0
    for body in bodies:  # warm-up: imports, schema compilation, model classes
        resp = client.post(url, data=body, content_type="application/json")
        assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
        links += sum(1 for card in resp.get_json()["cards"] for link in card.get("links", [])
                     if "/explain/" in link["url"])
    hook_ms, loads_ms = [], []
    for _ in range(rounds):
        for body in bodies:
            t0 = time.perf_counter()
            resp = client.post(url, data=body, content_type="application/json")
            hook_ms.append((time.perf_counter() - t0) * 1000)
            assert resp.status_code == 200
            t0 = time.perf_counter()
            json.loads(body)
            loads_ms.append((time.perf_counter() - t0) * 1000)
    sizes = [len(b) / 1024 for b in bodies]
    print(f"{service_id}: calls {len(hook_ms)}, body KiB median {statistics.median(sizes):.1f} max {max(sizes):.1f}, "
          f"explainer links per pass {links}")
    print(f"  hook        p50 {percentile(hook_ms, .5):7.2f} ms   p99 {percentile(hook_ms, .99):7.2f} ms")
    print(f"  json.loads  p50 {percentile(loads_ms, .5):7.2f} ms   p99 {percentile(loads_ms, .99):7.2f} ms")


if __name__ == "__main__":
    main()
