import json
import re

import pytest

from engine.models.concepts import ICD10CM, SNOMED, CONCEPTS_PATH, load_concepts
from engine.models.matcher import ConceptMatcher
from fhir_adapter.terminology import value_set


def test_concept_list_is_complete_and_well_formed():
    concepts = load_concepts()
    assert len(concepts) >= 60
    ids = [c.id for c in concepts.concepts]
    assert len(ids) == len(set(ids))
    for c in concepts.concepts:
        assert re.fullmatch(r"\d{6,18}", c.snomed_code), c.id
        assert c.documented_by_value_sets, c.id
        for name in c.documented_by_value_sets:  # every named value set exists in the one terminology
            assert value_set(name).all_codes() or value_set(name).prefixes, (c.id, name)
        # the suggestion itself counts as documenting the concept
        assert c.is_documented({(SNOMED, c.snomed_code)}), c.id
        assert c.is_documented({(ICD10CM, c.icd10cm_code)}), c.id
        assert re.fullmatch(r"[A-Z]\d{2}(\.[0-9A-Z]{1,4})?", c.icd10cm_code), c.id
        assert c.synonyms, c.id
        codings = c.codings()
        assert [x["system"] for x in codings] == [SNOMED, ICD10CM]
    raw = json.loads(CONCEPTS_PATH.read_text())
    assert "snomed_also" not in json.dumps(raw)  # code lists live in the terminology, not here


def test_is_documented_by_snomed_related_code_and_icd_category():
    t2dm = load_concepts().get("type-2-diabetes")
    assert t2dm.is_documented({(SNOMED, "44054006")})
    assert t2dm.is_documented({(ICD10CM, "E11.65")})  # same category, other code
    assert t2dm.is_documented({(ICD10CM, "E1165")})  # dotless form
    assert not t2dm.is_documented({(ICD10CM, "E10.9")})  # type 1 is another category
    assert not t2dm.is_documented({(SNOMED, "38341003")})
    assert not t2dm.is_documented({("http://loinc.org", "E11.9")})  # system matters
    assert not t2dm.is_documented(set())


@pytest.fixture(scope="module")
def matcher():
    return ConceptMatcher(load_concepts())


def ids(matcher, text):
    return [m.concept.id for m in matcher.lexical(text)[0]]


def test_longest_match_and_blocking_phrases(matcher):
    assert ids(matcher, "She has type 2 diabetes.") == ["type-2-diabetes"]
    assert ids(matcher, "She has diabetes.") == ["diabetes-mellitus"]
    assert ids(matcher, "Gestational diabetes in 2019.") == []
    assert ids(matcher, "Pre-diabetes noted.") == ["prediabetes"]
    assert ids(matcher, "Lupus anticoagulant positive.") == []


def test_abbreviations_are_case_sensitive_and_bounded(matcher):
    assert ids(matcher, "Hx of HTN and CKD.") == ["hypertension", "chronic-kidney-disease"]
    assert ids(matcher, "wears hearing aids") == []  # "AIDS" only in capitals
    assert ids(matcher, "CADASIL gene test") == []  # word boundary
    assert ids(matcher, "A-fib on monitor; a fib again") == ["atrial-fibrillation", "atrial-fibrillation"]


def test_spans_point_at_the_text(matcher):
    text = "Known Crohn\u2019s disease and COPD."
    mentions, _ = matcher.lexical(text)
    assert [text[m.start:m.end] for m in mentions] == ["Crohn\u2019s disease", "COPD"]


def test_ambiguous_abbreviations_need_the_encoder(matcher, fake_encoder):
    mentions, candidates = matcher.lexical("RA on methotrexate.")
    assert mentions == [] and candidates == [("RA", 0, 2)]
    assert matcher.match(["RA on methotrexate."]) == [[]]  # lexical mode: dropped, never guessed


def test_ambiguous_abbreviation_confirmed_by_similarity():
    class Oracle:
        """Similarity 0.9 for the sentence that is about the disease, 0.1 otherwise."""
        fingerprint = {"name": "oracle"}

        def encode(self, texts):
            import numpy as np

            out = []
            for t in texts:
                v = np.zeros(2, dtype=np.float32)
                about = "methotrexate" in t or "rheumatoid" in t
                v[:] = (1.0, 0.0) if about else (0.1, 0.995)
                out.append(v / np.linalg.norm(v))
            return np.asarray(out)

    m = ConceptMatcher(load_concepts(), Oracle(), semantic=False)
    yes, no = m.match(["RA on methotrexate.", "RA is dilated."])
    assert [(x.concept.id, x.method) for x in yes] == [("rheumatoid-arthritis", "abbreviation-confirmed")]
    assert no == []
