"""Readers of FHIR datatypes shared by the resource readers: CodeableConcept and Quantity."""
from __future__ import annotations

from typing import Iterable

from fhir_adapter import codes
from fhir_adapter.parse.json_values import nonblank_str
from fhir_adapter.parse.records import Coding, Quantity

# Codings already read: (system, code, display) as written -> the Coding (immutable, so one instance serves every
# resource that carries it) and the value sets of its code. A record repeats the same few hundred codings thousands of
# times. Bounded.
_CODINGS_SEEN: dict[tuple, tuple[Coding, tuple[str, ...]]] = {}
_CODINGS_SEEN_MAX = 50_000
_NONE: tuple = ((), ())


def read_codings(concept: object) -> tuple[Coding, ...]:
    if type(concept) is not dict:
        return ()  # most elements read this way are absent (dataAbsentReason, valueCodeableConcept)
    return read_coded(concept)[0]


def read_coded(concept: object) -> tuple[tuple[Coding, ...], tuple[str, ...]]:
    """The codings of a CodeableConcept and their value sets: ``(read_codings(concept), coding_concepts(...))`` in
    one step (each coding is looked up once)."""
    if type(concept) is not dict:
        return _NONE
    coding_list = concept.get("coding")
    if type(coding_list) is not list or not coding_list:
        return _NONE
    if len(coding_list) == 1:  # the usual shape
        c = coding_list[0]
        if type(c) is not dict:
            return _NONE
        coding, concepts = _coding_and_concepts(c)
        return (coding,), concepts
    codings = []
    found: list[str] = []
    for c in coding_list:
        if type(c) is dict:
            coding, concepts = _coding_and_concepts(c)
            codings.append(coding)
            for concept_name in concepts:
                if concept_name not in found:
                    found.append(concept_name)
    return tuple(codings), tuple(found)


def _coding_and_concepts(c: dict) -> tuple[Coding, tuple[str, ...]]:
    system, code, display = c.get("system"), c.get("code"), c.get("display")
    plain = type(system) is str and type(code) is str and (display is None or type(display) is str)
    key = (system, code, display)
    seen = _CODINGS_SEEN.get(key) if plain else None
    if seen is None:
        coding = _read_coding(system, code, display)
        seen = (coding, codes.concepts_of_coding(coding.system, coding.code))
        if plain and len(_CODINGS_SEEN) < _CODINGS_SEEN_MAX:
            _CODINGS_SEEN[key] = seen
    return seen


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
    if type(concept) is not dict:
        return None  # mostly absent (dataAbsentReason, statuses not given)
    for c in read_coded(concept)[0]:
        if c.code:
            return c.code
    return None


def read_quantity(value: object) -> Quantity | None:
    if type(value) is not dict or not value:
        return None
    get = value.get
    unit, system, code, comparator = get("unit"), get("system"), get("code"), get("comparator")
    # nonblank_str, inlined: every reading has a quantity.
    return Quantity(get("value"), unit if isinstance(unit, str) and unit.strip() else None,
                    system if isinstance(system, str) and system.strip() else None,
                    code if isinstance(code, str) and code.strip() else None,
                    comparator if isinstance(comparator, str) and comparator.strip() else None)
