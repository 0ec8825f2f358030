"""Latency of the order-sign service in process, next to patient-view, over the Synthea patients sent as prefetch.

Each patient's record is the prefetch; the drafted orders are two new drugs that the order checks have rules for - a
DOAC (renal dosing, duplicate anticoagulant, interactions) and an NSAID (interaction with the anticoagulant) - plus
a renewal of the patient's newest medication order (duplicate-therapy check). Prints p50/p99 of the whole POST
(Flask test client: parse, validate, features, the five order checks, the alert memory write, cards, response
schema check) for order-sign - with new drafts (every alert new: cards rendered) and with the same drafts again
(alerts already shown) - and for the patient-view cardiovascular-risk service on the same records.
Target: order-sign p50 <= 15 ms with prefetch.

    python benchmarks/bench_order_sign.py [--rounds 20] [--synthea ../shared/data/synthea]
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

from cds_hooks.app import create_app  # noqa: E402 - after the sys.path line
from cds_hooks.declaration import SERVICES  # noqa: E402 - after the sys.path line
from cds_hooks.evaluate import hook_request_from_resources  # noqa: E402 - after the sys.path line
from cds_hooks.services import load_all  # noqa: E402 - after the sys.path line

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def drafted(did: str, patient_id: str, code: str, display: str, mg: float, per_day: int) -> dict:
    return {"resourceType": "MedicationRequest", "id": did, "status": "draft", "intent": "order",
            "subject": {"reference": f"Patient/{patient_id}"},
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": display}]},
            "dosageInstruction": [{"text": f"{mg:g} mg", "timing": {"repeat": {"frequency": per_day, "period": 1,
                                                                               "periodUnit": "d"}},
                                   "doseAndRate": [{"doseQuantity": {"value": mg, "unit": "mg",
                                                                     "system": "http://unitsofmeasure.org",
                                                                     "code": "mg"}}]}]}


def drafts_for(resources: list[dict]) -> list[dict]:
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    out = [drafted("bench-dabigatran", patient_id, "1037045", "dabigatran etexilate 150 MG Oral Capsule", 150, 2),
           drafted("bench-ibuprofen", patient_id, "310965", "Ibuprofen 200 MG Oral Tablet", 400, 3)]
    requests = sorted((r for r in resources if r["resourceType"] == "MedicationRequest"),
                      key=lambda r: r.get("authoredOn", ""))
    if requests:
        out.append({**requests[-1], "id": "bench-renewal", "status": "draft", "intent": "order"})
    return out


def timed(client, service_id: str, bodies: list[bytes], rounds: int) -> list[float]:
    for body in bodies:  # warm-up: imports, schema compilation, model classes, the database
        assert client.post(f"/cds-services/{service_id}", data=body, content_type="application/json").status_code == 200
    out = []
    for _ in range(rounds):
        for body in bodies:
            t0 = time.perf_counter()
            resp = client.post(f"/cds-services/{service_id}", data=body, content_type="application/json")
            out.append((time.perf_counter() - t0) * 1000)
            assert resp.status_code == 200
    return out


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
    sign, view = SERVICES.get("order-sign-safety"), SERVICES.get("cardiovascular-risk")
    sign_bodies, view_bodies, cards = [], [], 0
    for f in files:
        resources = [e["resource"] for e in json.loads(f.read_text()).get("entry", []) if "resource" in e]
        sign_bodies.append(json.dumps(hook_request_from_resources(resources + drafts_for(resources), sign)).encode())
        view_bodies.append(json.dumps(hook_request_from_resources(resources, view)).encode())
    with tempfile.TemporaryDirectory() as data_dir:
        # In process, without client authentication: this measures the hook itself (auth is timed by the load script).
        app = create_app({"AS_OF": args.as_of, "DEV_MODE": True, "WARM_MODELS": False, "DATA_DIR": data_dir,
                          "LOG_LEVEL": "WARNING"})
        client = app.test_client()
        for body in sign_bodies:  # the cards of a first call (later calls repeat no alert: the memory says shown)
            cards += len(client.post("/cds-services/order-sign-safety", data=body,
                                     content_type="application/json").get_json()["cards"])
        repeat_ms = timed(client, "order-sign-safety", sign_bodies, args.rounds)
        # New draft ids every round: every alert is new, so every call renders its cards and writes the memory.
        fresh = [body.replace(b'"bench-', f'"bench{i}-'.encode()).replace(b"/bench-", f"/bench{i}-".encode())
                 for i in range(args.rounds) for body in sign_bodies]
        sign_ms = timed(client, "order-sign-safety", fresh, 1)
        view_ms = timed(client, "cardiovascular-risk", view_bodies, args.rounds)
    sizes = [len(b) / 1024 for b in sign_bodies]
    print(f"patients: {len(sign_bodies)}  rounds: {args.rounds}  calls per measurement: {len(sign_ms)}")
    print(f"order-sign body size KiB: median {statistics.median(sizes):.1f}  max {max(sizes):.1f}; "
          f"cards on first call: {cards} ({cards / len(sign_bodies):.1f} per patient)")
    print(f"order-sign    p50 {percentile(sign_ms, .5):7.2f} ms   p99 {percentile(sign_ms, .99):7.2f} ms   "
          "(new drafts: cards rendered; target p50 <= 15)")
    print(f"order-sign    p50 {percentile(repeat_ms, .5):7.2f} ms   p99 {percentile(repeat_ms, .99):7.2f} ms   "
          "(the same drafts again: alerts already shown)")
    print(f"patient-view  p50 {percentile(view_ms, .5):7.2f} ms   p99 {percentile(view_ms, .99):7.2f} ms")


if __name__ == "__main__":
    main()
