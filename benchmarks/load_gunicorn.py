"""Load test of the real service: gunicorn on loopback, started as documented, driven by several client threads.

Starts ``gunicorn -c python:cds_hooks.gunicorn_conf 'cds_hooks.wsgi:app'`` (the application preloaded once in the
master, its heap frozen, shared by the workers) on 127.0.0.1 with a free port, a throw-away data directory, the models
warm as in production unless ``--no-models``, and authentication ON: a fresh ES384 key pair, every request with its
own signed JWT (so the jti replay store and the audit trail are exercised across workers), and explainer links on
(``CDS_EXPLAINER_SECRET`` set: each hook call stores its evidence) unless ``--no-explainer``. Prints:

* cold start: seconds from starting gunicorn to the first 200 of a hook call;
* memory once the load has run: RSS, PSS (shared pages split between the processes that share them) and private
  memory of the master and of each worker, and the totals (PSS adds up to what the service really holds);
* throughput, p50/p99 latency and errors of a mix of hook calls (full prefetch, no FHIR server needed), discovery
  and feedback; and the audit rows counted after gunicorn stopped (one per hook call: none lost).

The JWTs are signed before the clock starts (the service verifies each one as always): the client shares the
machine's CPUs with the service, and signing ES384 in the client would be measured as service time.

    python benchmarks/load_gunicorn.py [--requests 3000] [--clients 8] [--workers 2] [--no-models] [--no-preload]

Not a test: figures depend on the machine and on what else runs on it (the load average is printed). Exit status 1
when any request failed or an audit record is missing.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
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
from urllib.parse import urlsplit


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.security.jwt_helpers import ISSUER, Signer, issuer_config  # noqa: E402

SERVICE_PATH = "/cds-services/cardiovascular-risk"
PATHS = {"hook": SERVICE_PATH, "discovery": "/cds-services", "feedback": SERVICE_PATH + "/feedback"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int, data_dir: str, args, signer: Signer | None) -> subprocess.Popen:
    env = dict(os.environ, CDS_DATA_DIR=data_dir, CDS_AS_OF="2026-06-01", CDS_LOG_LEVEL="WARNING",
               CDS_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", CDS_WARM_MODELS="false" if args.no_models else "true",
               PYTHONPATH=str(ROOT))
    if not args.no_explainer:  # as a deployment documented in docs/explainer.md runs: cards carry explainer links
        env["CDS_EXPLAINER_SECRET"] = secrets.token_urlsafe(48)
    else:
        env["CDS_EXPLAINER_ENABLED"] = "false"
    if signer is None:
        env["CDS_DEV_MODE"] = "true"
    else:
        env["CDS_DEV_MODE"] = "false"
        env["CDS_TRUSTED_ISSUERS"] = json.dumps({ISSUER: issuer_config(signer, fhir_servers=[])})
    command = [sys.executable, "-m", "gunicorn", "-c", "python:cds_hooks.gunicorn_conf",
               "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers), "--threads", str(args.threads),
               "--timeout", "60", "--log-level", "warning", "cds_hooks.wsgi:app"]
    if args.no_preload:
        env["CDS_PRELOAD_APP"] = "false"  # read by cds_hooks/gunicorn_conf.py (gunicorn has no flag to turn it off)
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)  # gunicorn's graceful stop, workers included
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


class Driver:
    """The client side: one persistent HTTP/1.1 connection per client thread (``http.client``, reopened whenever the
    server closes it: gunicorn's sync workers close after every response, gthread workers keep it alive), with the
    request bodies and JWTs prepared before the clock starts. The client shares the 2 CPUs with the service, so it
    must cost little: ``requests`` cost ~1 ms of CPU per request here, this ~0.3 ms."""

    def __init__(self, base: str, signer: Signer | None, hook_body: dict) -> None:
        self.base = base
        parsed = urlsplit(base)
        self.host, self.port = parsed.hostname, parsed.port
        self.signer = signer
        self.hook_body = hook_body
        self.local = threading.local()
        self.card_uuids: list[str] = []
        self.lock = threading.Lock()
        self.tokens: dict[str, list[str]] = {kind: [] for kind in PATHS}
        self.reconnects = 0

    def presign(self, kinds: list[str]) -> None:
        if self.signer is None:
            return
        for kind in kinds:
            self.tokens[kind].append(self.signer.token(self.base + PATHS[kind], lifetime=280))

    def headers(self, kind: str) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.signer is not None:
            with self.lock:
                pool = self.tokens[kind]
                token = pool.pop() if pool else None
            headers["Authorization"] = "Bearer " + (token or self.signer.token(self.base + PATHS[kind]))
        return headers

    def connection(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            with self.lock:
                self.reconnects += 1
        return conn

    def body(self, kind: str) -> bytes | None:
        if kind == "feedback":
            with self.lock:
                card = random.choice(self.card_uuids) if self.card_uuids else str(uuid.uuid4())
            return json.dumps({"feedback": [{"card": card, "outcome": "overridden",
                                             "outcomeTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                             "overrideReason": {"reason": {"system": "urn:load", "code": "busy"}}}]
                               }).encode("utf-8")
        if kind == "hook":  # the body encoded once; only the hook instance changes
            if not hasattr(self, "hook_template"):
                self.hook_template = json.dumps(dict(self.hook_body, hookInstance="HOOK-INSTANCE")).encode("utf-8")
            return self.hook_template.replace(b"HOOK-INSTANCE", str(uuid.uuid4()).encode("ascii"), 1)
        return None

    def one(self, kind: str) -> tuple[str, float, int | str]:
        headers = self.headers(kind)
        data = self.body(kind)
        started = time.perf_counter()
        status: int | str
        payload = b""
        for attempt in (1, 2):  # a kept-alive connection the server has since closed is reopened once
            conn = self.connection()
            try:
                conn.request("GET" if data is None else "POST", PATHS[kind], body=data, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
                status = resp.status
                if resp.will_close:
                    conn.close()
                    self.local.conn = None
                break
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self.local.conn = None
                status = type(exc).__name__
                if attempt == 2 or not isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError,
                                                        BrokenPipeError)):
                    break
                if self.signer is not None:  # the first try may have reached the service: its jti is used up
                    headers["Authorization"] = "Bearer " + self.signer.token(self.base + PATHS[kind])
        elapsed = (time.perf_counter() - started) * 1000
        if kind == "hook" and status == 200:
            cards = json.loads(payload).get("cards") or []
            if cards:
                with self.lock:
                    self.card_uuids.append(cards[0]["uuid"])
        return kind, elapsed, status


def wait_first_hook(driver: Driver, server: subprocess.Popen, started: float, timeout_s: float = 120) -> float:
    """Seconds from starting gunicorn to the first 200 of a hook call."""
    while time.perf_counter() - started < timeout_s:
        if server.poll() is not None:
            raise SystemExit("gunicorn exited at start-up:\n" + (server.stderr.read() if server.stderr else ""))
        _, _, status = driver.one("hook")
        if status == 200:
            return time.perf_counter() - started
        time.sleep(0.02)
    raise SystemExit("gunicorn did not answer in time")


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def memory(pid: int) -> dict[str, float]:
    """MiB from /proc/<pid>/smaps_rollup: Rss, Pss, and private (clean + dirty) memory."""
    out = {"rss": 0.0, "pss": 0.0, "private": 0.0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            value = rest.split()
            if not value or not value[0].isdigit():
                continue
            kib = int(value[0]) / 1024
            if key == "Rss":
                out["rss"] = kib
            elif key == "Pss":
                out["pss"] = kib
            elif key in ("Private_Clean", "Private_Dirty"):
                out["private"] += kib
    except OSError:
        pass
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (gthread when > 1)")
    parser.add_argument("--dev-mode", action="store_true", help="authentication off (CDS_DEV_MODE=true)")
    parser.add_argument("--no-models", action="store_true", help="CDS_WARM_MODELS=false: torch never imported")
    parser.add_argument("--no-preload", action="store_true", help="each worker builds its own application")
    parser.add_argument("--no-explainer", action="store_true",
                        help="CDS_EXPLAINER_ENABLED=false: no explainer links, no evidence written per call")
    parser.add_argument("--hooks-only", action="store_true", help="hook calls only (no discovery, no feedback)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    random.seed(args.seed)

    hook_body = json.loads((ROOT / "fixtures/hooks/patient-view-prefetch.json").read_text(encoding="utf-8"))
    signer = None if args.dev_mode else Signer("ES384", kid="load-test")
    port = free_port()
    kinds = (["hook"] * args.requests if args.hooks_only
             else random.choices(["hook", "discovery", "feedback"], weights=[8, 1, 1], k=args.requests))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="precision-cds-load-") as data_dir:
        driver = Driver(f"http://127.0.0.1:{port}", signer, hook_body)
        started = time.perf_counter()
        server = start_gunicorn(port, data_dir, args, signer)
        try:
            cold_start_s = wait_first_hook(driver, server, started)
            for _ in range(20):  # every worker answers once before the clock starts
                driver.one("hook")
            driver.presign(kinds)
            worker_pids = children(server.pid)
            cpu_before = sum(cpu_seconds(p) for p in worker_pids)
            client_before = time.process_time()
            begun = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.clients) as pool:
                results = list(pool.map(driver.one, kinds))
            elapsed = time.perf_counter() - begun
            server_cpu = sum(cpu_seconds(p) for p in worker_pids) - cpu_before
            client_cpu = time.process_time() - client_before
            processes = [("master", server.pid)] + [(f"worker {i + 1}", p) for i, p in enumerate(children(server.pid))]
            mem = {name: memory(pid) for name, pid in processes}
        finally:
            stop(server)
        audited = count_audit_records(data_dir)

    latencies = [ms for _, ms, _ in results]
    errors = [(kind, status) for kind, _, status in results if status != 200]
    hooks_sent = sum(1 for kind, _, _ in results if kind == "hook") + 21  # + the cold-start and warm-up calls
    print(f"precision-cds under gunicorn ({'preloaded' if not args.no_preload else 'no preload'}, models "
          f"{'off' if args.no_models else 'warm'}): {args.workers} workers x {args.threads} threads, {args.clients} "
          f"client threads, auth {'OFF (dev mode)' if args.dev_mode else 'ON (ES384 JWT per request)'}, explainer "
          f"{'off' if args.no_explainer else 'on'}; load "
          f"average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after, on {os.cpu_count()} CPUs")
    print(f"cold start   {cold_start_s:.2f} s to the first 200 of a hook call")
    print(f"requests     {len(results)}  (hook {kinds.count('hook')}, discovery {kinds.count('discovery')}, "
          f"feedback {kinds.count('feedback')})")
    print(f"wall time    {elapsed:.2f} s")
    print(f"throughput   {len(results) / elapsed:.1f} req/s")
    per_request = server_cpu * 1000 / len(results)
    print(f"CPU          workers {per_request:.2f} ms per request (at most {2000 / per_request:.0f} req/s on two "
          f"cores of their own), client {client_cpu * 1000 / len(results):.2f} ms per request")
    print(f"latency      p50 {percentile(latencies, 0.50):.1f} ms   p99 {percentile(latencies, 0.99):.1f} ms   "
          f"max {max(latencies):.1f} ms   mean {statistics.fmean(latencies):.1f} ms")
    for kind in ("hook", "discovery", "feedback"):
        subset = [ms for k, ms, _ in results if k == kind]
        if subset:
            print(f"  {kind:<10} p50 {percentile(subset, 0.5):.1f} ms   p99 {percentile(subset, 0.99):.1f} ms")
    print("memory (MiB)      RSS      PSS  private")
    for name, m in mem.items():
        print(f"  {name:<12} {m['rss']:8.1f} {m['pss']:8.1f} {m['private']:8.1f}")
    workers = [m for name, m in mem.items() if name != "master"]
    print(f"  {'workers':<12} {sum(m['rss'] for m in workers):8.1f} {sum(m['pss'] for m in workers):8.1f} "
          f"{sum(m['private'] for m in workers):8.1f}")
    print(f"  {'all':<12} {sum(m['rss'] for m in mem.values()):8.1f} {sum(m['pss'] for m in mem.values()):8.1f} "
          f"{sum(m['private'] for m in mem.values()):8.1f}")
    print(f"errors       {len(errors)}" + (f"  e.g. {errors[:5]}" if errors else ""))
    print(f"audit rows   {audited} (hook calls answered 200 or refused after authentication: {hooks_sent})")
    return 1 if errors or audited < hooks_sent else 0


def count_audit_records(data_dir: str) -> int:
    from cds_hooks.store import Store, sqlite_url

    store = Store(sqlite_url(data_dir))
    try:
        return len(store.audit_events())
    finally:
        store.dispose()


if __name__ == "__main__":
    sys.exit(main())
