"""Load test of the real service: gunicorn on loopback, a fixed number of requests from several client threads.

Starts ``gunicorn 'cds_hooks.app:create_app()'`` on 127.0.0.1 with a free port, a throw-away data directory and,
by default, authentication ON (a fresh ES384 key pair; every request carries its own signed JWT, so the jti replay
store and the audit trail are exercised across workers). Sends a mix of hook calls (full prefetch, no FHIR server
needed), discovery and feedback, then prints throughput, p50/p99 latency and the error count, and stops gunicorn.

    python benchmarks/load_gunicorn.py [--requests 2000] [--clients 8] [--workers 2] [--threads 1] [--dev-mode]

Not a test: figures depend on the machine. Exit status 1 when any request failed.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.security.jwt_helpers import ISSUER, Signer, issuer_config  # noqa: E402

SERVICE_PATH = "/cds-services/cardiovascular-risk"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int, data_dir: str, args, signer: Signer | None) -> subprocess.Popen:
    env = dict(os.environ, CDS_DATA_DIR=data_dir, CDS_AS_OF="2026-06-01", CDS_LOG_LEVEL="WARNING",
               CDS_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
    if signer is None:
        env["CDS_DEV_MODE"] = "true"
    else:
        env["CDS_DEV_MODE"] = "false"
        env["CDS_TRUSTED_ISSUERS"] = json.dumps({ISSUER: issuer_config(signer, fhir_servers=[])})
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
               "--threads", str(args.threads), "--timeout", "60", "--log-level", "warning",
               "cds_hooks.app:create_app()"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)  # gunicorn's graceful stop, workers included
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


class Driver:
    def __init__(self, base: str, signer: Signer | None, hook_body: dict) -> None:
        self.base = base
        self.signer = signer
        self.hook_body = hook_body
        self.local = threading.local()
        self.card_uuids: list[str] = []
        self.lock = threading.Lock()

    def headers(self, path: str) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.signer is not None:
            headers["Authorization"] = "Bearer " + self.signer.token(self.base + path)
        return headers

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def one(self, kind: str) -> tuple[str, float, int | str]:
        session = self.session()
        started = time.perf_counter()
        try:
            if kind == "discovery":
                resp = session.get(self.base + "/cds-services", headers=self.headers("/cds-services"), timeout=30)
            elif kind == "feedback":
                with self.lock:
                    card = random.choice(self.card_uuids) if self.card_uuids else str(uuid.uuid4())
                body = {"feedback": [{"card": card, "outcome": "overridden",
                                      "outcomeTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                      "overrideReason": {"reason": {"system": "urn:load", "code": "busy"}}}]}
                path = SERVICE_PATH + "/feedback"
                resp = session.post(self.base + path, data=json.dumps(body), headers=self.headers(path), timeout=30)
            else:
                body = dict(self.hook_body, hookInstance=str(uuid.uuid4()))
                resp = session.post(self.base + SERVICE_PATH, data=json.dumps(body),
                                    headers=self.headers(SERVICE_PATH), timeout=30)
                if resp.status_code == 200:
                    cards = resp.json().get("cards") or []
                    if cards:
                        with self.lock:
                            self.card_uuids.append(cards[0]["uuid"])
            status: int | str = resp.status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        return kind, (time.perf_counter() - started) * 1000, status


def wait_ready(driver: Driver, server: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("gunicorn exited at start-up:\n" + (server.stderr.read() if server.stderr else ""))
        _, _, status = driver.one("discovery")
        if status == 200:
            return
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer in time")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (gthread when > 1)")
    parser.add_argument("--dev-mode", action="store_true", help="authentication off (CDS_DEV_MODE=true)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    random.seed(args.seed)

    hook_body = json.loads((ROOT / "fixtures/hooks/patient-view-prefetch.json").read_text(encoding="utf-8"))
    signer = None if args.dev_mode else Signer("ES384", kid="load-test")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="precision-cds-load-") as data_dir:
        server = start_gunicorn(port, data_dir, args, signer)
        try:
            driver = Driver(f"http://127.0.0.1:{port}", signer, hook_body)
            wait_ready(driver, server)
            kinds = random.choices(["hook", "discovery", "feedback"], weights=[8, 1, 1], k=args.requests)
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.clients) as pool:
                results = list(pool.map(driver.one, kinds))
            elapsed = time.perf_counter() - started
        finally:
            stop(server)
        audited = count_audit_records(data_dir)

    latencies = [ms for _, ms, _ in results]
    errors = [(kind, status) for kind, _, status in results if status != 200]
    print(f"precision-cds under gunicorn: {args.workers} workers x {args.threads} threads, "
          f"{args.clients} client threads, auth {'OFF (dev mode)' if args.dev_mode else 'ON (ES384 JWT per request)'}")
    print(f"requests     {len(results)}  (hook {kinds.count('hook')}, discovery {kinds.count('discovery')}, "
          f"feedback {kinds.count('feedback')})")
    print(f"wall time    {elapsed:.2f} s")
    print(f"throughput   {len(results) / elapsed:.1f} req/s")
    print(f"latency      p50 {percentile(latencies, 0.50):.1f} ms   p99 {percentile(latencies, 0.99):.1f} ms   "
          f"max {max(latencies):.1f} ms   mean {statistics.fmean(latencies):.1f} ms")
    for kind in ("hook", "discovery", "feedback"):
        subset = [ms for k, ms, _ in results if k == kind]
        if subset:
            print(f"  {kind:<10} p50 {percentile(subset, 0.5):.1f} ms   p99 {percentile(subset, 0.99):.1f} ms")
    print(f"errors       {len(errors)}" + (f"  e.g. {errors[:5]}" if errors else ""))
    print(f"audit rows   {audited} (hook calls sent: {kinds.count('hook')})")
    return 1 if errors else 0


def count_audit_records(data_dir: str) -> int:
    from cds_hooks.store import Store, sqlite_url

    store = Store(sqlite_url(data_dir))
    try:
        return len(store.audit_events())
    finally:
        store.dispose()


if __name__ == "__main__":
    sys.exit(main())
