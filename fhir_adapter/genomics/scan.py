"""The genomic test of the walk over a record (fhir_adapter.parse.candidates), which meets every resource of a chart:
``is_genomic``, and for an Observation ``scan_observation``, its fast path, which also gives the Observation's
concepts. The full test, for any shape, is ``reader.is_genomic_walk``; ``scan_observation`` answers as it does (and
raises where it raises), reading the usual code of one coding from a bounded memo.
"""
from __future__ import annotations

from typing import Mapping

from fhir_adapter.genomics.codes import kind_of
# The reader's own tests of a code, which the fast path runs as is_genomic_walk runs them.
from fhir_adapter.genomics.reader import _one_coding_names_gene, _plain_codes, has_gene_component, is_genomic_walk
from fhir_adapter.parse.candidates import one_coding_concepts
from fhir_adapter.terminology.text_memo import MAX_TEXT


def is_genomic(resource: Mapping) -> bool:
    """Whether a resource is a genomic result (or report) the reader looks at: its code is a genomic code, it has a
    gene-studied component, or its code's display or text names a gene of the tables (a gene-specific code).

    The walk over a record (fhir_adapter.parse.candidates) asks it of every DiagnosticReport; its Observations go
    through ``scan_observation``, which answers this and their concepts at once."""
    if resource.get("resourceType") == "Observation":
        return scan_observation(resource)[0]
    return is_genomic_walk(resource)


def scan_observation(resource: Mapping) -> tuple[bool, tuple[str, ...] | None]:
    """(``is_genomic``, ``observation_concepts`` or None: not worked out) of an Observation, its code read once: the
    walk over a record (fhir_adapter.parse.candidates) asks both of every Observation.

    The usual code - one coding with a text system and code, a short display and text - is answered from a bounded
    memo of what it says (is_genomic's first and last tests, and the concepts), with the gene-studied component test
    run between the two as the full walk runs it: the answer, and any error a malformed resource raises, are those of
    ``is_genomic_walk``."""
    code = resource.get("code")
    if type(code) is dict:
        codings = code.get("coding")
        if type(codings) is list and len(codings) == 1:
            coding = codings[0]
            if type(coding) is dict:
                key = (coding.get("system"), coding.get("code"), coding.get("display"), code.get("text"))
                try:
                    said = _CODES_SAID.get(key)
                except TypeError:  # an unhashable value (a malformed coding): worked out, never remembered
                    said = None
                if said is None:
                    said = _code_says(key)
                if said is not None:
                    by_code, by_text, concepts = said
                    if by_code:
                        return True, concepts
                    components = resource.get("component")
                    if isinstance(components, list) and components and has_gene_component(components):
                        return True, concepts
                    return by_text, concepts
    return is_genomic_walk(resource), None


# What the code of one coding says (see _code_says), by (system, code, display, text) when all four are short texts
# (or absent). A record repeats the same few hundred codes; bounded, so that a flood of made-up codes cannot grow it
# (past the bound, codes are simply not remembered).
_CODES_SAID: dict[tuple, tuple[bool, bool, tuple[str, ...]]] = {}
_CODES_SAID_MAX = 4096


def _code_says(key: tuple) -> tuple[bool, bool, tuple[str, ...]] | None:
    """What a code of one coding - (system, code, display, text) - says: whether the coding is a genomic Observation
    code (is_genomic's first test), whether the display or text names a gene (its last), and its Observation
    concepts. None when its system or code is not a text: left to the full walk."""
    system, value, display, text = key
    if type(system) is not str or type(value) is not str:
        return None
    observation_codes, _ = _plain_codes()
    by_code = value in observation_codes and kind_of("observation", [(system, value)]) is not None
    said = (by_code, _one_coding_names_gene(display if isinstance(display, str) else None,
                                            text if isinstance(text, str) else None),
            one_coding_concepts(system, value))
    if len(_CODES_SAID) < _CODES_SAID_MAX and all(v is None or type(v) is str for v in key) and \
            sum(len(v) for v in key if v is not None) <= 2 * MAX_TEXT:
        _CODES_SAID[key] = said
    return said
