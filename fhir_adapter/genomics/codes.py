"""The codes of genomic results (fhir_adapter/data/terminology/genomics.json) and small readers of coded values."""
from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Iterable, Mapping

from fhir_adapter.parse.json_values import dict_or_empty, list_or_empty, nonblank_str


@cache
def data() -> dict[str, Any]:
    text = resources.files("fhir_adapter").joinpath("data/terminology/genomics.json").read_text(encoding="utf-8")
    return json.loads(text)


def _norm(system: str | None) -> str:
    return (system or "").strip().rstrip("/")


@cache
def _code_index() -> dict[tuple[str, str], tuple[str, str]]:
    """(system, code) -> (group, kind): ('observation', 'genotype'), ('component', 'gene'), ('report', '')."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for group in ("observation", "component"):
        for kind, codings in data()[group].items():
            for c in codings:
                out.setdefault((group + ":" + _norm(c["system"]), c["code"]), (group, kind))
    for c in data()["report"]:
        out.setdefault(("report:" + _norm(c["system"]), c["code"]), ("report", ""))
    return out


def kind_of(group: str, codings: Iterable[tuple[str | None, str | None]]) -> str | None:
    """The kind ('genotype', 'gene', ...) of the first coding listed under ``group`` ('observation', 'component')."""
    for system, code in codings:
        found = _code_index().get((f"{group}:{_norm(system)}", (code or "").strip()))
        if found is not None:
            return found[1]
    return None


def is_report_code(codings: Iterable[tuple[str | None, str | None]]) -> bool:
    return any((f"report:{_norm(s)}", (c or "").strip()) in _code_index() for s, c in codings)


def in_systems(system: str | None, name: str) -> bool:
    return _norm(system) in {_norm(s) for s in data()["systems"][name]}


def codings_of(concept: Any) -> list[tuple[str | None, str | None, str | None]]:
    """(system, code, display) of a CodeableConcept's codings."""
    out = []
    for coding in list_or_empty(dict_or_empty(concept).get("coding")):
        coding = dict_or_empty(coding)
        out.append((nonblank_str(coding.get("system")), nonblank_str(coding.get("code")),
                    nonblank_str(coding.get("display"))))
    return out


def texts_of(element: Mapping) -> list[str]:
    """Every text a value may be written in, most specific first: valueString, the concept's text, each coding's
    display and code."""
    out: list[str] = []
    value_string = nonblank_str(element.get("valueString"))
    if value_string:
        out.append(value_string)
    concept = dict_or_empty(element.get("valueCodeableConcept"))
    text = nonblank_str(concept.get("text"))
    if text:
        out.append(text)
    for _system, code, display in codings_of(concept):
        out += [t for t in (display, code) if t]
    return list(dict.fromkeys(out))


def answer(element: Mapping, group: str) -> str | None:
    """The answer-list meaning of a value: 'phenotype' gives the CPIC term; 'present' / 'absent' / 'heterozygous' /
    'homozygous' give that word when the value's LOINC answer code or words say it."""
    concept = dict_or_empty(element.get("valueCodeableConcept"))
    answers = data()["answers"]
    for _system, code, _display in codings_of(concept):
        if group == "phenotype" and code in answers["phenotype"]:
            return answers["phenotype"][code]
        if group != "phenotype" and code in answers[group]:
            return group
    return None


def search_codes(group: str) -> str:
    """'system|code,...' for a search on the genomic Observation codes (``group`` 'observation') or report codes
    ('report'), codes of the LOINC system only (a search by a code system the server does not know may fail)."""
    codings = ([c for kind in data()["observation"].values() for c in kind] if group == "observation"
               else list(data()["report"]))
    pairs = [f"{c['system']}|{c['code']}" for c in codings if c["system"] == "http://loinc.org"]
    return ",".join(dict.fromkeys(pairs))
