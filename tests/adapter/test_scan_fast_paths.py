"""The fast paths of the per-resource scan of a hook call give the answers of the general code they stand in for:
is_genomic against its full walk, on every Synthea resource, on genomic fixtures and on malformed shapes."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from fhir_adapter.genomics import reader, scan
from tests import pgx_records as rec

ROOT = Path(__file__).resolve().parents[2]
SYNTHEA_FILES = sorted((ROOT.parent / "shared" / "data" / "synthea").glob("*.json"))
# The Synthea bundles live outside the repository: without them, the tests over them are skipped, not passed empty.
NEEDS_SYNTHEA = pytest.mark.skipif(not SYNTHEA_FILES, reason="no Synthea bundles in ../shared/data/synthea")
LOINC = "http://loinc.org"


def _synthea_resources() -> list[dict]:
    out: list[dict] = []
    for path in SYNTHEA_FILES:
        out += [e["resource"] for e in json.loads(path.read_text(encoding="utf-8"))["entry"] if "resource" in e]
    return out


def _genomic_fixtures() -> list[dict]:
    makers = [lambda: rec.ig_genotype("CYP2C19", "*1/*2"), lambda: rec.ig_genotype_in_report("CYP2D6", "*1/*4"),
              lambda: rec.stu1_panel("CYP2D6", "*1/*4"), lambda: rec.hgvs_genotype("DPYD", "c.[1905+1G>A];[=]"),
              lambda: rec.variants_in_report("DPYD", [("c.1905+1G>A", "heterozygous")]),
              lambda: rec.snp_genotype("VKORC1", "rs9923231 C/T"), lambda: rec.hla_presence("HLA-B*57:01", True),
              lambda: rec.hla_typing("HLA-B", "HLA-B*57:01:01+HLA-B*08:01"),
              lambda: rec.phenotype_observation("CYP2C19", "Poor Metabolizer"),
              lambda: rec.therapeutic_implication("32968", "clopidogrel", "Poor Metabolizer")]
    out: list[dict] = []
    for make in makers:
        out += make()
    return out


def _one_coding(system, code, display=None, text=None, **extra) -> dict:
    coding = {"system": system, "code": code}
    if display is not None:
        coding["display"] = display
    concept: dict = {"coding": [coding]}
    if text is not None:
        concept["text"] = text
    return {"resourceType": "Observation", "code": concept, **extra}


def _edge_cases() -> list[dict]:
    gene = rec.gene_component("CYP2C19")
    heart_rate = {"code": {"coding": [{"system": LOINC, "code": "8867-4"}]}}
    return [
        _one_coding(LOINC, "8867-4", "Heart rate", "Heart rate"),
        _one_coding(LOINC, "84413-4", "Genotype display name"),  # a genomic code
        _one_coding("http://example.org/other", "84413-4"),  # the bare code in another system
        _one_coding("http://lab.example.org", "x", "CYP2C19 gene product"),  # a gene-specific code
        _one_coding("http://lab.example.org", "x", None, "HLA-B*57:01 [Presence]"),
        _one_coding("http://lab.example.org", "x", 5, ["CYP2C19"]),  # display and text that are not texts
        _one_coding("http://lab.example.org", "x", "TPMT " * 100),  # too long for the memo
        _one_coding(LOINC, "8867-4", "Heart rate", component=[heart_rate, gene]),  # a gene-studied component
        _one_coding(LOINC, "8867-4", "Heart rate", component=[heart_rate, "x", {"code": "x"}]),
        _one_coding(LOINC, "8867-4", component={"code": gene["code"]}),  # components that are not a list
        _one_coding(LOINC, "8867-4", component=[]),
        _one_coding(5, "8867-4"), _one_coding(LOINC, 8867), _one_coding(None, "84413-4"),
        {"resourceType": "Observation", "code": {"coding": [{"system": LOINC, "code": "84413-4"}, "x"]}},
        {"resourceType": "Observation", "code": {"coding": []}},
        {"resourceType": "Observation", "code": {"coding": "84413-4"}},
        {"resourceType": "Observation", "code": "84413-4"},
        {"resourceType": "Observation"},
        {"resourceType": "Condition", "code": {"coding": [{"system": LOINC, "code": "84413-4"}]}},
        {"resourceType": "DiagnosticReport", "code": {"coding": [{"system": LOINC, "code": "81247-9"}]}},
    ]


@pytest.mark.parametrize("resource", _genomic_fixtures() + _edge_cases())
def test_is_genomic_agrees_with_its_full_walk(resource):
    assert scan.is_genomic(resource) == reader.is_genomic_walk(resource)
    assert scan.is_genomic(copy.deepcopy(resource)) == reader.is_genomic_walk(resource)  # and again, remembered


def test_is_genomic_finds_the_genomic_fixtures():
    fixtures = _genomic_fixtures()
    assert sum(scan.is_genomic(r) for r in fixtures) >= len(fixtures) // 2


@NEEDS_SYNTHEA
def test_is_genomic_agrees_on_every_synthea_resource():
    resources = _synthea_resources()
    assert resources
    for resource in resources:
        assert scan.is_genomic(resource) == reader.is_genomic_walk(resource), resource.get("id")


def test_the_memo_of_codes_is_bounded_and_keeps_only_short_texts(monkeypatch):
    monkeypatch.setattr(scan, "_CODES_SAID", {})
    monkeypatch.setattr(scan, "_CODES_SAID_MAX", 2)
    resources = [_one_coding(LOINC, code, "Heart rate") for code in ("8867-4", "9279-1", "8310-5", "2708-6")]
    for resource in resources:
        assert scan.scan_observation(resource)[0] == reader.is_genomic_walk(resource)
    assert len(scan._CODES_SAID) == 2
    scan._CODES_SAID.clear()
    for resource in (_one_coding(LOINC, "8867-4", "TPMT " * 100), _one_coding(LOINC, "8867-4", 5),
                     _one_coding(LOINC, "8867-4", ["x"]), _one_coding(5, "8867-4")):
        assert scan.scan_observation(resource)[0] == reader.is_genomic_walk(resource)
    assert scan._CODES_SAID == {}  # long texts and values that are not texts are never remembered


def test_is_genomic_raises_where_its_walk_raises():
    # A component coding that is not iterable: the walk fails on it (parse_resources reports the input unreadable),
    # and so does the fast path, even though the display names a gene.
    broken = _one_coding("http://lab.example.org", "x", "CYP2C19 gene", component=[{"code": {"coding": 5}}])
    for check in (scan.is_genomic, reader.is_genomic_walk):
        with pytest.raises(TypeError):
            check(broken)


def _hand_made() -> list[dict]:
    return _genomic_fixtures() + _edge_cases()


RESOURCE_SETS = [pytest.param(_hand_made, id="hand-made"),
                 pytest.param(_synthea_resources, id="synthea", marks=NEEDS_SYNTHEA)]


def _one_text_coding(resource) -> bool:
    """The shape whose concepts scan_observation works out itself: one coding, its system and code texts."""
    code = resource.get("code")
    codings = code.get("coding") if type(code) is dict else None
    return (type(codings) is list and len(codings) == 1 and type(codings[0]) is dict
            and type(codings[0].get("system")) is str and type(codings[0].get("code")) is str)


@pytest.mark.parametrize("resources", RESOURCE_SETS)
def test_scan_observation_gives_is_genomic_and_the_observation_concepts(resources):
    from fhir_adapter.parse.candidates import observation_concepts

    observations = [r for r in resources() if r.get("resourceType") == "Observation"]
    assert any(observation_concepts(r) for r in observations)
    assert any(_one_text_coding(r) for r in observations)
    for resource in observations:
        try:
            expected = reader.is_genomic_walk(resource), observation_concepts(resource)
        except Exception:  # noqa: BLE001 - malformed: see test_is_genomic_raises_where_its_walk_raises
            continue
        genomic, concepts = scan.scan_observation(resource)
        assert genomic == expected[0], resource
        if _one_text_coding(resource):
            assert concepts == expected[1], resource  # worked out, not left to the caller
        else:
            assert concepts in (None, expected[1]), resource


def _general_parse_fhir_datetime(value):
    """parse_fhir_datetime as written before its fast path."""
    from datetime import date, datetime

    if not isinstance(value, str):
        return None
    s = value.strip()
    try:
        if len(s) == 4:
            return date(int(s), 1, 1)
        if len(s) == 7:
            return date(int(s[:4]), int(s[5:7]), 1)
        if len(s) == 10:
            return date.fromisoformat(s)
        return datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None


DATE_TEXTS = ["2019", "2019-03", "2019-03-05", "2019-03-05T10:00:00+01:00", "2019-03-05T10:00:00.123+01:00",
              "2019-03-05T10:00:00Z", "2019-03-05T10:00:00.000Z", "2019-03-05T10:00:00", "2019-03-05T10:00",
              " 2019-03-05T10:00:00+00:00", "2019-03-05T10:00:00+00:00 ", "\t2019-03-05T10:00:00-05:00\n",
              "2019-03-05 ", " 2019-03-05T1", "2019-03-05T25:00:00+00:00", "2019-13-05T10:00:00+00:00",
              "2019-03-05T10:00:00z", "2019-03-05T10:00:00+0100", "20190305T100000Z", "20190305T100000+01:00",
              "2019-03-05Z", "2019-03-05T10:00:00+14:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
              "2019-03-05T10:00:00.1234567+01:00", "not a date at all", "", "   ", "2019-3-5T10:00:00+00:00",
              "2019-03-05T10:00:00+00:00Z", "2019-03-05\u00a0", "\u20032019-03-05T10:00:00+00:00",
              "2019-03-05T10:00:00+00:00\u2003", "\u0662\u0660\u0661\u0669-03-05T10:00:00+00:00", "2019-03-05T10:00:00.5",
              "2019-03-05T10:00:00+01:00.", None, 2019, 5.5]


@pytest.mark.parametrize("value", DATE_TEXTS)
def test_parse_fhir_datetime_reads_as_its_general_path(value):
    from fhir_adapter.parse.dates import parse_fhir_datetime

    fast, general = parse_fhir_datetime(value), _general_parse_fhir_datetime(value)
    assert fast == general and type(fast) is type(general)
    assert getattr(fast, "tzinfo", None) == getattr(general, "tzinfo", None)


@NEEDS_SYNTHEA
def test_parse_fhir_datetime_reads_every_synthea_date_as_its_general_path():
    from fhir_adapter.parse.dates import parse_fhir_datetime

    values = set()

    def collect(node):
        if isinstance(node, dict):
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)
        elif isinstance(node, str) and node[:1].isdigit() and len(node) <= 40:
            values.add(node)

    collect(_synthea_resources())
    assert values
    for value in values:
        fast, general = parse_fhir_datetime(value), _general_parse_fhir_datetime(value)
        assert fast == general and type(fast) is type(general), value
        assert getattr(fast, "tzinfo", None) == getattr(general, "tzinfo", None), value


@pytest.mark.parametrize("rid", ["abc", " abc", "abc ", "  ", "", None, 5, "a b"])
def test_the_reference_of_a_skipped_observation_is_resource_ref(rid):
    from datetime import date

    from fhir_adapter.features.observation_reads import observation_reads
    from fhir_adapter.parse import candidates
    from fhir_adapter.parse.references import resource_ref

    reads = observation_reads(["heart_rate_min"], as_of=date(2021, 4, 1), lookback={"heart_rate_min": 1},
                              history_days={})
    resource = _one_coding(LOINC, "8867-4", "Heart rate", status="final", effectiveDateTime="2001-01-01T00:00:00Z",
                           subject={"reference": "Patient/1"})
    if rid is not None:
        resource["id"] = rid
    kind, (ref, subject) = candidates._look(reads, resource, "urn:uuid:x", 0, [])
    assert kind == candidates.STALE and subject == "Patient/1"
    assert ref == resource_ref(resource, "urn:uuid:x")


def test_a_stale_reading_is_a_stale_record():
    from datetime import date

    from fhir_adapter.features.observation_reads import observation_reads
    from fhir_adapter.parse import candidates

    reads = observation_reads(["heart_rate_min"], as_of=date(2021, 4, 1), lookback={"heart_rate_min": 1},
                              history_days={})
    resource = _one_coding(LOINC, "8867-4", "Heart rate", id="a", effectiveDateTime="2001-01-01T00:00:00+02:00",
                           subject={"reference": "Patient/1"})
    stale: list = []
    candidates._look(reads, resource, None, 7, stale)
    [found] = stale
    assert type(found) is candidates.Stale and found == candidates.Stale(7, resource, ("heart_rate",), found.moment)
    assert (found.index, found.resource, found.concepts) == (7, resource, ("heart_rate",))
    assert str(found.moment) == "2000-12-31 22:00:00"


@pytest.mark.parametrize("resources", RESOURCE_SETS)
def test_component_concepts_are_those_of_the_codings_read(resources):
    from fhir_adapter.features import observation_reads
    from fhir_adapter.parse.datatypes import coding_concepts, read_codings

    observations = [r for r in resources() if r.get("resourceType") == "Observation"]
    observations.append({"component": [5, {"code": 5}, {"code": {"coding": [{"system": LOINC, "code": "8480-6"},
                                                                             {"system": LOINC, "code": "8462-4"}]}}]})
    assert any(observation_reads._component_concepts(r) for r in observations)
    for resource in observations:
        expected: set[str] = set()
        for component in resource.get("component") if isinstance(resource.get("component"), list) else ():
            expected.update(coding_concepts(read_codings(component.get("code") if type(component) is dict else None)))
        assert observation_reads._component_concepts(resource) == expected
