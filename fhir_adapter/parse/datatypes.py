"""Readers of FHIR datatypes shared by the resource readers: CodeableConcept and Quantity."""
from __future__ import annotations

from typing import Iterable

from fhir_adapter import codes
from fhir_adapter.parse.json_values import dict_or_empty, list_or_empty, nonblank_str
from fhir_adapter.parse.records import Coding, Quantity

# Codings already read: (system, code, display) as written -> the Coding (immutable, so one instance serves every
# resource that carries it). A record repeats the same few hundred codings thousands of times. Bounded.
_CODINGS_SEEN: dict[tuple, Coding] = {}
_CODINGS_SEEN_MAX = 50_000


def read_codings(concept: object) -> tuple[Coding, ...]:
    if type(concept) is not dict:
        return ()  # most elements read this way are absent (dataAbsentReason, valueCodeableConcept)
    out = []
    for c in list_or_empty(concept.get("coding")):
        if type(c) is dict:
            system, code, display = c.get("system"), c.get("code"), c.get("display")
            plain = type(system) is str and type(code) is str and (display is None or type(display) is str)
            key = (system, code, display)
            coding = _CODINGS_SEEN.get(key) if plain else None
            if coding is None:
                coding = _read_coding(system, code, display)
                if plain and len(_CODINGS_SEEN) < _CODINGS_SEEN_MAX:
                    _CODINGS_SEEN[key] = coding
            out.append(coding)
    return tuple(out)


def _read_coding(system: object, code: object, display: object) -> Coding:
    return Coding(codes.normalise_system(nonblank_str(system)),
                  code if isinstance(code, str) else (str(code) if isinstance(code, int) else None),
                  nonblank_str(display))


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
