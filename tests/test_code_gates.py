"""The code gates CI runs with the tests: ruff (the lint rules in pyproject.toml, [tool.ruff]) and import-linter
(the layering contracts, [tool.importlinter]). Each runs as its own process on this checkout; a failure shows the
tool's report. `ruff check --fix` repairs most lint findings; docs/security.md ("CI gates") says what the contracts
mean."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def run_gate(command: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def report(done: subprocess.CompletedProcess) -> str:
    return f"{' '.join(done.args)} exited {done.returncode}:\n{done.stdout[-8000:]}\n{done.stderr[-4000:]}"


def console_script(name: str) -> str:
    """The tool installed next to this interpreter (the test extra), else on PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


def test_ruff_finds_nothing():
    done = run_gate([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."])
    assert done.returncode == 0, report(done)


def test_the_import_contracts_are_kept():
    done = run_gate([console_script("lint-imports"), "--no-cache"])
    assert done.returncode == 0, report(done)
    assert "0 broken" in done.stdout, report(done)
