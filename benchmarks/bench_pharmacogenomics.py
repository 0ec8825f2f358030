"""Pharmacogenomics: latency of the three services in process, and what reading genomic results costs a chart.

* POST latency (Flask test client: parse, validate, features and genomic results, engines, cards, response schema
  check) of the patient-view service on fixtures/hooks/patient-view-pharmacogenomics.json (five results in four
  encodings, three affected medications) and of order-select on the README worked example
  (fixtures/hooks/order-select-pgx-clopidogrel.json; a new hook instance and draft id each round, so that every alert
  is new and its card rendered), p50 / p95 over ``--rounds``;
* the genomic-result filter every Observation of a chart goes through (``fhir_adapter.genomics.is_genomic``), per
  Observation and per chart, over the Synthea bundles in ../shared/data/synthea (skipped when absent).

    python benchmarks/bench_pharmacogenomics.py [--rounds 200] [--synthea ../shared/data/synthea]
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cds_hooks.app import create_app  # noqa: E402 - after the sys.path line
from cds_hooks.services import load_all  # noqa: E402 - after the sys.path line
from fhir_adapter.genomics import is_genomic  # noqa: E402 - after the sys.path line

FIXTURES = ROOT / "fixtures" / "hooks"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def latency(client, service: str, body: dict, rounds: int, fresh_draft: bool) -> list[float]:
    times = []
    for i in range(rounds + 5):
        request = copy.deepcopy(body)
        request["hookInstance"] = str(uuid.uuid4())
        if fresh_draft:  # a new draft each round: the alert is new, the card rendered
            entry = request["context"]["draftOrders"]["entry"][0]["resource"]
            entry["id"] = f"bench-{i}"
            request["context"]["selections"] = [f"MedicationRequest/bench-{i}"]
        start = time.perf_counter()
        resp = client.post(f"/cds-services/{service}", json=request)
        elapsed = (time.perf_counter() - start) * 1000
        assert resp.status_code == 200 and resp.get_json()["cards"], resp.get_data(as_text=True)[:300]
        if i >= 5:  # warm-up rounds left out
            times.append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--synthea", type=Path, default=ROOT.parent / "shared" / "data" / "synthea")
    args = parser.parse_args()
    load_all()
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app({"AS_OF": "2026-06-01", "DEV_MODE": True, "WARM_MODELS": False, "DATA_DIR": data_dir})
        client = app.test_client()
        for service, fixture, fresh in (("pharmacogenomics", "patient-view-pharmacogenomics", False),
                                        ("pharmacogenomics-order-select", "order-select-pgx-clopidogrel", True)):
            body = json.loads((FIXTURES / f"{fixture}.json").read_text())
            times = latency(client, service, body, args.rounds, fresh)
            print(f"{service:32s} {fixture}: p50 {statistics.median(times):.1f} ms, p95 {percentile(times, 0.95):.1f} ms"
                  f" ({len(times)} rounds)")
    files = sorted(args.synthea.glob("*.json")) if args.synthea.is_dir() else []
    if not files:
        print("Synthea bundles not found: the genomic filter was not measured")
        return
    charts = [[e["resource"] for e in json.loads(f.read_text())["entry"]] for f in files]
    observations = [r for chart in charts for r in chart if r.get("resourceType") in ("Observation", "DiagnosticReport")]
    is_genomic(observations[0])  # the compiled patterns, once
    rounds = 5
    start = time.perf_counter()
    for _ in range(rounds):
        found = sum(1 for r in observations if is_genomic(r))
    elapsed = (time.perf_counter() - start) / rounds
    print(f"genomic filter: {elapsed * 1e6 / len(observations):.1f} us per Observation, "
          f"{elapsed * 1000 / len(charts):.2f} ms per chart ({len(observations)} Observations and reports in "
          f"{len(charts)} Synthea charts, {found} genomic)")


if __name__ == "__main__":
    main()
