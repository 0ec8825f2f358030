"""The bounded memos of text scans (fhir_adapter/terminology/text_memo.py) and of is_genomic's gene-name test: the
same answers as the scans themselves, bounded, and never a shared mutable value."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhir_adapter.genomics import reader
from fhir_adapter.terminology import concepts_named_in, drugs, medication_concepts_by_text, valuesets
from fhir_adapter.terminology.text_memo import MAX_TEXT, memoised_by_text
from tests import pgx_records as rec

ROOT = Path(__file__).resolve().parents[2]
SYNTHEA_FILES = sorted((ROOT.parent / "shared" / "data" / "synthea").glob("*.json"))
TEXTS = ["Lisinopril 10 MG Oral Tablet", "atorvastatin 40 mg", "Lipitor 20 mg", "Allergy to penicillin", "", "x",
         "Essential hypertension", "Diabetes mellitus type 2 (disorder)", "diabetes insipidus", "Body Weight",
         "CYP2C19 gene product", "HLA-B*57:01", "simvastatin " * 30]


def test_the_memo_is_bounded_and_skips_long_texts():
    calls = []

    @memoised_by_text(maxsize=3)
    def scan(text, extra=None):
        calls.append(text)
        return (text, extra)

    for text in ["a", "b", "c", "d", "a"]:
        assert scan(text) == (text, None)
    assert scan.cache_info().currsize == 3 and scan.cache_info().maxsize == 3
    assert calls == ["a", "b", "c", "d", "a"]  # "a" was the least recently used when "d" came
    assert scan("d") == ("d", None) and calls[-1] == "a"  # remembered
    assert scan("d", "x") == ("d", "x") and calls[-1] == "d"  # the further argument is part of the key
    long = "y" * (MAX_TEXT + 1)
    scan(long)
    scan(long)
    assert calls[-2:] == [long, long]  # never remembered
    assert scan(None) == (None, None) and scan(5) == (5, None)  # not a text: computed, not remembered


@pytest.mark.parametrize("text", TEXTS)
def test_remembered_scans_give_the_scans_answers(text):
    assert drugs.ingredients_by_text(text) == drugs.ingredients_by_text.__wrapped__(text)
    among = ("diabetes", "hypertension", "ascvd")
    if not text:
        assert medication_concepts_by_text(text) == {} and concepts_named_in(text, among) == {}
        return
    assert medication_concepts_by_text(text) == dict(valuesets._medication_concepts_by_text.__wrapped__(text))
    assert concepts_named_in(text, among) == dict(valuesets._concepts_named_in.__wrapped__(text, among))
    assert concepts_named_in(text) == dict(valuesets._concepts_named_in.__wrapped__(text, None))


def test_remembered_dicts_are_the_callers_own():
    first = medication_concepts_by_text("Lisinopril 10 MG Oral Tablet")
    first["statin"] = "changed by the caller"
    assert "statin" not in medication_concepts_by_text("Lisinopril 10 MG Oral Tablet")
    named = concepts_named_in("Essential hypertension")
    named.clear()
    assert concepts_named_in("Essential hypertension")


def _general_gene_test(code: dict) -> bool:
    """is_genomic's last test as written for any code (every display and the text)."""
    codings = code.get("coding") or ()
    texts = [c.get("display") for c in codings if isinstance(c, dict) and isinstance(c.get("display"), str)]
    if isinstance(code.get("text"), str):
        texts.append(code["text"])
    return any(reader._gene_words().search(t) for t in texts) and reader._gene_in_code(code) is not None


def _observation_codes() -> list[dict]:
    codes = []
    for maker in (lambda: rec.ig_genotype("CYP2C19", "*1/*2"), lambda: rec.stu1_panel("CYP2D6", "*1/*4"),
                  lambda: rec.hgvs_genotype("DPYD", "c.[1905+1G>A];[=]")):
        codes += [r["code"] for r in maker() if r.get("resourceType") == "Observation"]
    for path in SYNTHEA_FILES[:4]:
        codes += [e["resource"]["code"] for e in json.loads(path.read_text(encoding="utf-8"))["entry"]
                  if e["resource"].get("resourceType") == "Observation"]
    displays = ["CYP2C19 gene", "HLA-B*57:01 [Presence]", "Body Weight", "", "  ", "TPMT", "cyp2d6 star alleles"]
    for display in displays:
        for text in (None, "HLA-A*31:01", "Heart rate", ""):
            code = {"coding": [{"system": "http://lab.example.org", "code": "x", "display": display}]}
            if text is not None:
                code["text"] = text
            codes.append(code)
    return codes


def test_the_gene_name_test_of_a_one_coding_code_agrees_with_the_general_one():
    codes = _observation_codes()
    assert sum(_general_gene_test(code) for code in codes) >= 5  # some do name a gene
    for code in codes:
        codings = code.get("coding")
        if isinstance(codings, list) and len(codings) == 1 and isinstance(codings[0], dict):
            display, text = codings[0].get("display"), code.get("text")
            fast = reader._one_coding_names_gene(display if isinstance(display, str) else None,
                                                 text if isinstance(text, str) else None)
            assert fast == _general_gene_test(code), code
    assert reader._remembered_names_gene.cache_info().maxsize is not None  # bounded
