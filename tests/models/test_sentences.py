from engine.models.sentences import split_sentences

NOTE = """HPI: 67 yo man seen by Dr. Smith for f/u. He has HTN, e.g. BP 150/90 today.
No chest pain. Sugars high on metformin 500 mg
twice daily.

PAST MEDICAL HISTORY:
- Type 2 diabetes
- Hyperlipidemia
Family History: Mother with breast cancer. Father had CAD.
Assessment and Plan: 1. Hypertension - increase lisinopril. 2. Obesity.
"""


def test_spans_are_exact_and_sections_are_tracked():
    sentences = split_sentences(NOTE)
    for s in sentences:
        assert NOTE[s.start:s.end] == s.text
    texts = [s.text for s in sentences]
    assert texts[0] == "67 yo man seen by Dr. Smith for f/u."  # "Dr." does not end a sentence
    assert texts[1] == "He has HTN, e.g. BP 150/90 today."  # nor does "e.g."
    assert "Sugars high on metformin 500 mg\ntwice daily." in texts  # wrapped line joined
    by_text = {s.text: s.section for s in sentences}
    assert by_text["Type 2 diabetes"] == "past medical history"
    assert by_text["Father had CAD."] == "family history"
    assert by_text["Hypertension - increase lisinopril."] == "assessment"
    assert "1." not in texts and "2." not in texts  # list numbers are not sentences


def test_prose_with_colon_is_not_a_heading():
    sentences = split_sentences("Patient reports: no fever.\nBP: 120/80")
    assert [s.section for s in sentences] == [None, None]


def test_empty_and_odd_input():
    assert split_sentences("") == []
    assert split_sentences("   \n\n  ") == []
    assert split_sentences("...") == []
    s = split_sentences("No period at the end")
    assert len(s) == 1 and s[0].text == "No period at the end"
