"""The words of a card (cards/markdown.py, cards/render.py): whole sentences and whole list items, the recommendation
line, measures said as sentences, missing inputs named once, results kept for the explainer page, and numbers never
rounded across a threshold."""
from __future__ import annotations

from datetime import date

from cards.markdown import (
    DETAIL_MAX_CHARS,
    QUOTE_SHORTENED,
    detail_markdown,
    inputs_line,
    insufficient_markdown,
    listed,
    number_text,
    quote_line,
    whole_sentences,
)
from cards.render import RenderOptions, render_cards
from engine.finding import (
    Citation,
    Evidence,
    Finding,
    Kind,
    Measure,
    MissingInput,
    Recommendation,
    Severity,
    Status,
)

CITATION = Citation(short="Goff 2014 (ACC/AHA Pooled Cohort Equations)", full="Goff DC Jr et al. 2014.")
DAY = date(2026, 5, 4)


def finding(**changes) -> Finding:
    base = dict(id="pce-2013:ascvd-10y", engine_id="pce-2013", engine_version="1.0.0", kind=Kind.RISK,
                status=Status.COMPUTED, title="10-year ASCVD risk (Pooled Cohort Equations)", citation=CITATION,
                value=12.3, unit="%", category="intermediate", severity=Severity.WARNING,
                inputs=(Evidence("age_years", "Age", 55, "years"), Evidence("sex", "Sex", "male"),
                        Evidence("chol_total_mgdl", "Total cholesterol", 213.0, "mg/dL", DAY)))
    return Finding(**{**base, **changes})


# -- the recommendation line -----------------------------------------------------------------------------------------
STATIN = Recommendation(text="Start a moderate-intensity statin", guideline="2018 AHA/ACC cholesterol guideline",
                        strength="Class I")


def test_the_recommendation_is_one_line_with_its_guideline_and_strength():
    lines = detail_markdown(finding(recommendation=STATIN)).split("\n\n")
    assert ("**Recommendation:** start a moderate-intensity statin — 2018 AHA/ACC cholesterol guideline, Class I"
            in lines)
    assert "Recommendation" not in detail_markdown(finding())


def test_the_recommendation_stays_when_the_budget_is_short_and_caveats_go_first():
    crowded = finding(recommendation=STATIN, message="PREVENT 10-year ASCVD 4.0 % vs PCE 12.3 %: they differ. " * 2,
                      assumptions=tuple(f"Assumption number {i} is a long sentence about the record, " * 3 + "."
                                        for i in range(4)),
                      inputs=tuple(Evidence(f"flag_{i}", f"Flag number {i} of the record", False) for i in range(30)))
    detail = detail_markdown(crowded)
    assert len(detail) <= DETAIL_MAX_CHARS
    assert "**Recommendation:**" in detail and "**12.3 %**" in detail
    assert "**Caveats:**" not in detail  # the lowest priority line went first


def test_a_recommendation_is_escaped_like_any_text():
    hostile = Recommendation(text="Start <script>x</script> **now**", guideline="[g](javascript:x)", strength="I")
    detail = detail_markdown(finding(recommendation=hostile))
    assert "<script>" not in detail and "&lt;script&gt;" in detail and "\\[g\\](javascript:x)" in detail


# -- whole sentences, whole items ----------------------------------------------------------------------------------
def test_sentences_are_kept_whole_never_clipped():
    text = ("Above 180 systolic and/or 120 diastolic: the ACC/AHA 2017 hypertensive crisis range. Repeat the "
            "measurement and assess for acute target-organ damage (hypertensive emergency). Hypertension is on the "
            "problem list.")
    shown = whole_sentences(text, 230)
    assert shown.endswith("(hypertensive emergency).") and "…" not in shown
    assert whole_sentences("One sentence far longer than the limit, kept whole.", 10) == (
        "One sentence far longer than the limit, kept whole.")


def test_lists_keep_whole_items_and_count_the_rest():
    items = ["chronic dialysis or kidney transplant", "chronic liver disease (cirrhosis)", "prior stroke",
             "major bleeding history or predisposition", "antiplatelet or NSAID", "alcohol use >= 8 drinks/week"]
    text = listed("no: ", items, 90, ", ")
    assert len(text) <= 90 and text.endswith("more") and "…" not in text
    assert all(part.strip() in items for part in text.removeprefix("no: ").split(", ")[:-1])
    line = inputs_line([Evidence("age_years", "Age", 78, "years")]
                       + [Evidence(f"x{i}", f"Item number {i}", False) for i in range(20)], limit=120)
    assert len(line) <= 120 and "(+" in line and "…" not in line


def test_a_quoted_sentence_is_shortened_only_at_a_word_and_says_so():
    sentence = "He has obstructive sleep apnea, " + "diagnosed on a sleep study last year and " * 8 + "uses CPAP."
    line = quote_line(sentence)
    assert line.startswith("> He has obstructive sleep apnea,") and line.endswith(QUOTE_SHORTENED)
    assert line.split("…")[0].split()[-1] in sentence.split()
    assert quote_line("Short sentence.") == "> Short sentence."


def test_a_quoted_sentence_is_not_repeated_among_the_inputs_and_no_bare_term_names_are_criteria():
    from engine.finding import Term

    quote = "He has obstructive sleep apnea, diagnosed on a sleep study last year, and uses CPAP nightly."
    note = finding(kind=Kind.DIAGNOSIS, title="Possible undocumented problem in notes", value="Obstructive sleep apnea",
                   unit=None, category=None, quote=quote, message="A note of 2026-05-02 states:",
                   inputs=(Evidence("note_sentence", "Note sentence mentioning Obstructive sleep apnea", quote,
                                    effective=DAY),),
                   explanation=(Term("Matched text", "obstructive sleep apnea"), Term("Match method", "lexical")))
    detail = detail_markdown(note)
    assert detail.count("obstructive sleep apnea, diagnosed") == 1
    assert "Criteria met" not in detail and "Based on" not in detail


# -- measures said as sentences ---------------------------------------------------------------------------------------
def test_a_measure_with_a_sentence_is_said_as_that_sentence_and_left_out_of_the_summary():
    has_bled = finding(title="Major bleeding risk in atrial fibrillation (HAS-BLED)", value=1, unit="points",
                       category="indeterminate", severity=Severity.INFO,
                       measures=(Measure("Major bleeds (Pisters 2010)", 1.02, "per 100 patient-years", sentence=(
                           "About 1.0 major bleeds per 100 patient-years at a score of 1 (Pisters 2010).")),))
    [card] = [rc.card for rc in render_cards([has_bled])]
    assert card["summary"] == "Major bleeding risk in atrial fibrillation (HAS-BLED): 1 point (indeterminate)"
    lines = card["detail"].split("\n\n")
    assert lines[:2] == ["**1 point**, indeterminate",
                         "About 1.0 major bleeds per 100 patient-years at a score of 1 (Pisters 2010)."]


# -- data needed: each missing input once ----------------------------------------------------------------------------
def test_a_message_that_only_names_the_missing_inputs_again_is_not_repeated():
    kdigo = finding(id="kdigo-2012-ckd-stage:risk", engine_id="kdigo-2012-ckd-stage", status=Status.INSUFFICIENT_DATA,
                    title="CKD stage and risk (KDIGO 2012 GFR and albuminuria categories)", value=None,
                    missing=(MissingInput("uacr_mgg", "Urine albumin/creatinine ratio",
                                          "no urine albumin/creatinine ratio result in the last year"),),
                    message=("Cannot place on the KDIGO heat map: missing Urine albumin/creatinine ratio. Known: eGFR "
                             "94 mL/min/1.73m2 is G1."))
    detail = insufficient_markdown([kdigo])
    assert detail.count("Urine albumin/creatinine ratio") == 1, detail
    assert "Known: eGFR 94 mL/min/1.73m2 is G1." in detail


# -- results kept for the explainer page -------------------------------------------------------------------------------
def test_an_explainer_only_result_is_no_card_but_still_gets_a_page_slot():
    slots = []
    normal = finding(id="ckd-epi-2021-cr:egfr", engine_id="ckd-epi-2021-cr", title="eGFR (CKD-EPI 2021)", value=94.2,
                     unit="mL/min/1.73m2", category="G1", severity=Severity.INFO, explainer_only=True)
    cards = render_cards([finding(), normal], RenderOptions(explain_url=lambda ids: slots.append(ids) or "https://x"))
    assert [rc.finding_ids for rc in cards] == [("pce-2013:ascvd-10y",)]
    assert slots == [("pce-2013:ascvd-10y",)]  # the eGFR's own page is made at capture (explainer.evidence)


# -- numbers -------------------------------------------------------------------------------------------------------
def test_numbers_are_not_rounded_across_a_threshold_on_cards():
    assert number_text(29.996, name="bmi_kgm2") == "29.9"
    assert number_text(59.96, unit="mL/min/1.73m2") == "59"  # a result in eGFR units is compared as an eGFR
    assert number_text(6.449, name="hba1c_pct") == "6.4" and number_text(189.6, name="ldl_mgdl") == "189"
    assert number_text(7.46, unit="%", cut_points=(5.0, 7.5, 20.0)) == "7.4"
    assert number_text(-0.0001, unit="%") == "0.0"
    egfr = finding(id="ckd-epi-2021-cr:egfr", title="eGFR (CKD-EPI 2021 creatinine, race-free)", value=59.96,
                   unit="mL/min/1.73m2", category="G3a")
    risk = finding(value=7.46, category="borderline", cut_points=(5.0, 7.5, 20.0))
    summaries = [rc.card["summary"] for rc in render_cards([egfr, risk])]
    assert "eGFR (CKD-EPI 2021 creatinine, race-free): 59 mL/min/1.73m2 (G3a)" in summaries
    assert "10-year ASCVD risk (Pooled Cohort Equations): 7.4 % (borderline)" in summaries
