"""Cost of feedback-driven suppression on the hook, and of the feedback endpoint, in process (Flask test client).

For each Synthea patient (as prefetch) every card that offers an override reason is overridden ("not-applicable"),
so that later calls hide cards. Then, interleaved call by call so that machine noise hits both alike:

* ``hook, suppressions on``: the patient-view call reads the patient's suppressions, hides the answered cards and
  records the cards issued;
* ``hook, suppressions off`` (``SUPPRESSION_ENABLED=false``): the same call that hides nothing (the issued cards are
  still recorded - feedback must be able to name them);

and the feedback POST (one item: look-up of the issued card, insert of the feedback and its suppression). Optionally
``--background N`` suppressions of other patients are put in the table first, to show the look-up stays indexed.

    python benchmarks/bench_feedback.py [--rounds 10] [--background 100000] [--synthea ../shared/data/synthea]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cards.fhir import OVERRIDE_REASON_SYSTEM  # noqa: E402
from cds_hooks.app import create_app  # noqa: E402
from cds_hooks.declaration import SERVICES  # noqa: E402
from cds_hooks.evaluate import hook_request_from_resources  # noqa: E402
from cds_hooks.services import load_all  # noqa: E402
from cds_hooks.store import card_suppression, store_of  # noqa: E402

SERVICE = "/cds-services/diagnosis-gaps"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def background_rows(count: int) -> list[dict]:
    return [{"key": f"bg{n:012d}", "card_key": f"card{n:060d}", "patient_key": f"patient{n % 5000:057d}",
             "service_id": "diagnosis-gaps", "suggestion_key": None, "reason_code": "not-applicable",
             "reason_display": None, "fingerprint": "0" * 64, "title": "background", "card_uuid": f"u{n}",
             "finding_ids": "[]", "created_at": time.time(), "until_at": None, "lifted_at": None,
             "lifted_because": None} for n in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthea", type=Path, default=ROOT.parent / "shared" / "data" / "synthea")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--background", type=int, default=0, help="suppressions of other patients in the table")
    parser.add_argument("--as-of", default="2021-04-01", help="evaluation date (the Synthea records end in 2020-21)")
    args = parser.parse_args()
    files = sorted(args.synthea.glob("*.json"))
    if not files:
        sys.exit(f"no Synthea bundles in {args.synthea}")

    load_all()
    definition = SERVICES.get("diagnosis-gaps")
    bodies = []
    for f in files:
        resources = [e["resource"] for e in json.loads(f.read_text()).get("entry", []) if "resource" in e]
        bodies.append(json.dumps(hook_request_from_resources(resources, definition)).encode())
    with tempfile.TemporaryDirectory() as on_dir, tempfile.TemporaryDirectory() as off_dir:
        apps = {"on": create_app({"AS_OF": args.as_of, "DEV_MODE": True, "DATA_DIR": on_dir, "LOG_LEVEL": "ERROR"}),
                "off": create_app({"AS_OF": args.as_of, "DEV_MODE": True, "DATA_DIR": off_dir, "LOG_LEVEL": "ERROR",
                                   "SUPPRESSION_ENABLED": False})}
        clients = {name: app.test_client() for name, app in apps.items()}
        if args.background:
            with store_of(apps["on"]).engine.begin() as conn:
                conn.execute(card_suppression.insert(), background_rows(args.background))

        def hook(name: str, body: bytes):
            resp = clients[name].post(SERVICE, data=body, content_type="application/json")
            assert resp.status_code == 200, resp.status_code
            return resp.get_json()["cards"]

        feedback_ms, shown_before = [], 0
        for body in bodies:  # warm-up, and the clinicians' answers
            hook("off", body)
            for card in hook("on", body):
                shown_before += 1
                codes = [r["code"] for r in card.get("overrideReasons", [])]
                if "not-applicable" not in codes:
                    continue
                item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2021-04-01T10:00:00Z",
                        "overrideReason": {"reason": {"system": OVERRIDE_REASON_SYSTEM, "code": "not-applicable"}}}
                t0 = time.perf_counter()
                resp = clients["on"].post(SERVICE + "/feedback", json={"feedback": [item]})
                feedback_ms.append((time.perf_counter() - t0) * 1000)
                assert resp.status_code == 200, resp.get_json()

        timings: dict[str, list[float]] = {"on": [], "off": []}
        shown_after = 0
        for _ in range(args.rounds):
            for body in bodies:
                for name in ("on", "off"):
                    t0 = time.perf_counter()
                    cards = hook(name, body)
                    timings[name].append((time.perf_counter() - t0) * 1000)
                    if name == "on":
                        shown_after += len(cards)
        suppressions = sum(1 for _ in store_of(apps["on"]).suppression_rows()) - args.background
        for app in apps.values():
            store_of(app).dispose()

    print(f"patients: {len(bodies)}  rounds: {args.rounds}  background suppressions: {args.background}")
    print(f"cards per opening before feedback: {shown_before / len(bodies):.2f}; after: "
          f"{shown_after / (len(bodies) * args.rounds):.2f} ({suppressions} suppressions)")
    for name in ("on", "off"):
        values = timings[name]
        print(f"hook, suppressions {name:3}  p50 {percentile(values, .5):7.2f} ms   p99 {percentile(values, .99):7.2f} ms")
    if feedback_ms:
        print(f"feedback POST         p50 {percentile(feedback_ms, .5):7.2f} ms   p99 "
              f"{percentile(feedback_ms, .99):7.2f} ms   ({len(feedback_ms)} posts)")


if __name__ == "__main__":
    main()
