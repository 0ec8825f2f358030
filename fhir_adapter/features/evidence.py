"""Small Evidence helpers shared by the problem-list and medication features."""
from __future__ import annotations

from typing import Iterable

from engine.finding import Evidence
from engine.inputs import feature_label
from fhir_adapter.codes import concepts_of_coding
from fhir_adapter.parse import Coding


def matching_coding(codings: Iterable[Coding], concepts: str | tuple[str, ...]) -> Coding | None:
    wanted = (concepts,) if isinstance(concepts, str) else concepts
    for c in codings:
        if any(w in concepts_of_coding(c.system, c.code) for w in wanted):
            return c
    return None


def absent_evidence(name: str, note: str, inactive: int = 0) -> Evidence:
    if inactive:
        note += f" ({inactive} inactive or resolved entr{'y' if inactive == 1 else 'ies'} not counted)"
    return Evidence(name=name, label=feature_label(name), value=False, unit=None, source=None, note=note)
