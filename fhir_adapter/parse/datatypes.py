"""Readers of FHIR datatypes shared by the resource readers: CodeableConcept and Quantity."""
from __future__ import annotations

from typing import Iterable

from fhir_adapter import codes
from fhir_adapter.parse.json_values import dict_or_empty, list_or_empty, nonblank_str
from fhir_adapter.parse.records import Coding, Quantity


def read_codings(concept: object) -> tuple[Coding, ...]:
    out = []
    for c in list_or_empty(dict_or_empty(concept).get("coding")):
        if type(c) is dict:
            code = c.get("code")
            out.append(Coding(codes.normalise_system(nonblank_str(c.get("system"))),
                              code if isinstance(code, str) else (str(code) if isinstance(code, int) else None),
                              nonblank_str(c.get("display"))))
    return tuple(out)


def coding_concepts(codings: Iterable[Coding]) -> tuple[str, ...]:
    out: list[str] = []
    for c in codings:
        for concept in codes.concepts_of_coding(c.system, c.code):
            if concept not in out:
                out.append(concept)
    return tuple(out)


def first_code(concept: object) -> str | None:
    for c in read_codings(concept):
        if c.code:
            return c.code
    return None


def read_quantity(value: object) -> Quantity | None:
    q = dict_or_empty(value)
    if not q:
        return None
    return Quantity(q.get("value"), nonblank_str(q.get("unit")), nonblank_str(q.get("system")),
                    nonblank_str(q.get("code")), nonblank_str(q.get("comparator")))
