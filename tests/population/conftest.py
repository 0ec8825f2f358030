"""Small generated populations for the population tests: from the Synthea bundles when ../shared has them, from the
project's fixture Bundles otherwise (CI), so the same assertions run in both places."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from population.generate import generate, load_templates
from population.services import resource_types, select_services
from tests.conftest import FIXTURES, SHARED_DATA

AS_OF = date(2026, 6, 1)
SYNTHEA = SHARED_DATA / "synthea"
TEMPLATE_SOURCES = {"fixtures": FIXTURES / "patients"}
if any(SYNTHEA.glob("*.json")):
    TEMPLATE_SOURCES["synthea"] = SYNTHEA


def make_population(folder: Path, templates: str, n: int, *, compress: bool = False) -> Path:
    types = resource_types(select_services(None))
    generate(load_templates(TEMPLATE_SOURCES[templates], types), n, folder, end=AS_OF, compress=compress)
    return folder


@pytest.fixture(params=sorted(TEMPLATE_SOURCES))
def population_ndjson(request, tmp_path) -> Path:
    """30 generated patients as Bulk Data NDJSON (fixture templates always; Synthea when present)."""
    return make_population(tmp_path / f"export-{request.param}", request.param, 30)
