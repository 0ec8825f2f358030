"""Untrusted text on cards: note sentences (and any text value from the record) show as literal characters when the
card markdown is rendered, with raw HTML enabled as some EHRs do."""
from __future__ import annotations

import html
import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from cards.escape import escape_markdown
from cards.render import RenderOptions, render_cards
from engine.finding import Citation, Evidence, Finding, Kind, Severity, Status
from engine.proposals import SNOMED, Coding, ConditionRef

HOSTILE = [
    "<script>alert('x')</script> Patient has atrial fibrillation.",
    "AF noted. [click here](javascript:alert(1)) for details",
    "![pixel](https://evil.example/track.png) atrial fibrillation",
    "**URGENT** _stop_ all ~~anticoagulants~~ `now`",
    "AF | rate controlled | see table",
    "# Heading\n- list item\n1. numbered\n> quote",
    "<img src=x onerror=alert(1)>&lt;b&gt;",
]
# CommonMark + GFM tables + strikethrough, raw HTML on: the most permissive renderer an EHR may use.
RENDERER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def rendered_text_only(markdown: str) -> str:
    """The HTML of a paragraph of escaped text; fails the test when it holds any element but the paragraph."""
    html = RENDERER.render(markdown).strip()
    assert html.startswith("<p>") and html.endswith("</p>") and html.count("<") == 2, html
    return html


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_renders_as_one_paragraph_of_the_same_characters(text):
    html = rendered_text_only(escape_markdown(text))
    unescaped = (html[3:-4].replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&"))
    assert unescaped == " ".join(text.split())


def test_plain_sentences_are_left_alone():
    assert escape_markdown("Type 2 diabetes, on metformin (500 mg).") == "Type 2 diabetes, on metformin (500 mg)."


def note_finding(sentence: str) -> Finding:
    af = ConditionRef("atrial-fibrillation", "Atrial fibrillation", (Coding(SNOMED, "49436004"),))
    return Finding(
        id="note-diagnosis:atrial-fibrillation", engine_id="note-diagnosis", engine_version="1.0.0",
        kind=Kind.DIAGNOSIS, status=Status.COMPUTED, title="Possible undocumented problem in notes",
        citation=Citation(short="NegEx/ConText", full="Chapman 2001."), value="Atrial fibrillation",
        severity=Severity.INFO, message="DocumentReference/n1 (2026-05-02) states:", quote=sentence,
        inputs=(Evidence("note_sentence", "Note sentence", sentence, effective=date(2026, 5, 2),
                         source="DocumentReference/n1", note=f"matched '{sentence[:20]}'"),),
        condition=af)


def card_html(sentence: str) -> tuple[str, str]:
    (rc,) = render_cards([note_finding(sentence)], RenderOptions(patient_id="p1"))
    return rc.card["detail"], RENDERER.render(rc.card["detail"])


@pytest.mark.parametrize("sentence", HOSTILE)
def test_a_quoted_note_sentence_cannot_inject_markup_into_the_card(sentence):
    detail, html = card_html(sentence)
    _, benign = card_html("Patient has atrial fibrillation.")
    # The hostile card has exactly the elements of a card quoting a harmless sentence: no link, image, emphasis,
    # heading, list, extra table cell or HTML came from the note.
    assert re.findall(r"<(/?[a-z0-9]+)", html) == re.findall(r"<(/?[a-z0-9]+)", benign)
    assert "<script" not in html and "javascript:" not in " ".join(re.findall(r'href="([^"]*)"', html))
    # The card quotes the sentence on one line (the inputs table is on the explainer page): no pipe, newline or
    # marker of the note is left unescaped there.
    quote = next(line for line in detail.splitlines() if line.startswith("> "))
    assert not re.findall(r"(?<!\\)\|", quote)
    assert "<blockquote>" in html  # the sentence is still quoted for the clinician


@pytest.mark.parametrize("sentence", [
    "Patient says see https://evil.example/login for details",
    "Portal at www.evil.example today",
    "Write to someone@evil.example",
    "HTTP://EVIL.EXAMPLE in capitals",
])
def test_bare_urls_and_emails_cannot_become_gfm_autolinks(sentence):
    """GFM's extended autolinks need no markup: 'https://', 'www.' and 'user@host' must reach the card broken up."""
    escaped = escape_markdown(sentence)
    assert not re.search(r"(?i)\b(?:https?|ftp|mailto):", escaped)
    assert not re.search(r"(?i)\bwww\.", escaped)
    assert "@" not in escaped.replace("\\@", "")
    # CommonMark shows the escaped characters as written: the reader still sees the address.
    text = re.sub(r"<[^>]+>", "", MarkdownIt("commonmark").render(escaped)).strip()
    assert text == html.escape(sentence, quote=False)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aAwW.:@&<>\\`*_{}[]#!|~-+=()09 \t\n\u00a0é1.)hHtTpPsS/")),
               max_size=24))
def test_text_with_nothing_to_escape_skips_the_escaping_steps(text):
    """escape_markdown returns text that no step would rewrite as it is: the same as running every step."""
    from cards.escape import _WHITESPACE, _escaped

    assert escape_markdown(text) == _escaped(_WHITESPACE.sub(" ", text).strip())
