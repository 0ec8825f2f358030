"""Clinical sentence splitting with exact character spans and section headings.

Notes are not prose: they mix headings ("PAST MEDICAL HISTORY:"), bullet lists, wrapped lines and
abbreviations with full stops ("Dr.", "e.g."). The splitter therefore works line by line, joins
wrapped lines, cuts at sentence-final punctuation unless the word before it is a known
abbreviation, and remembers the heading each sentence sits under (assertion rules use it:
everything under "Family history" is about relatives). Every sentence keeps its offsets in the
original text so evidence can quote the exact span.

A section ends at the next heading or at a blank line after its first content (a note's next block is not
under the last heading: "Family history: ...", blank line, "Patient has asthma." is about the patient). A heading
is "Name:" at the start of a line (or of a sentence, for the headings we know: "... cancer. PMH: HTN."), or a known
heading alone on its line without a colon ("Family History"). A line labelled with a relative ("Mother: dementia",
"- Brother: epilepsy") is family history for that line only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int  # offset of the first character in the note text
    end: int  # offset one past the last character
    section: str | None = None  # normalised heading, e.g. "family history"


# Words that end with a full stop without ending a sentence.
ABBREVIATIONS = {
    "dr", "mr", "mrs", "ms", "prof", "vs", "etc", "e.g", "i.e", "eg", "ie", "approx", "appt", "st", "no", "nos",
    "pt", "pts", "hx", "dx", "tx", "rx", "fx", "sx", "yo", "y.o", "b.i.d", "t.i.d", "q.d", "p.o", "q", "bid", "tid",
    "qid", "qd", "po", "prn", "inc", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec", "mg", "mcg", "ml", "min", "max", "wk", "wks", "mo", "mos", "yr", "yrs", "hr", "hrs", "fig", "ref", "cf",
}

HEADING = re.compile(r"^[ \t]*(?:[-*•]\s*)?([A-Za-z][A-Za-z0-9 /&()'-]{1,48}?)\s*:(?=\s|$)")
BULLET = re.compile(r"^[ \t]*(?:[-*•]|\d{1,2}[.)])\s+")
# A sentence ends at . ! ? followed by whitespace (or end), then a capital, digit, bullet or quote.
BOUNDARY = re.compile(r"[.!?]+[\"')\]]*(?=\s+(?:[A-Z0-9\"'(•*-])|\s*$)")

# Headings we recognise, normalised; others are kept verbatim (lower-cased).
SECTION_ALIASES = {
    "fh": "family history", "fhx": "family history", "family hx": "family history", "family history": "family history",
    "family medical history": "family history",
    "pmh": "past medical history", "pmhx": "past medical history", "past medical history": "past medical history",
    "medical history": "past medical history", "past history": "past medical history",
    "psh": "past surgical history", "past surgical history": "past surgical history", "surgical history": "past surgical history",
    "ros": "review of systems", "review of systems": "review of systems",
    "assessment": "assessment", "assessment and plan": "assessment", "assessment/plan": "assessment", "a/p": "assessment",
    "impression": "assessment", "plan": "plan", "problem list": "problem list", "problems": "problem list",
    "hpi": "history of present illness", "history of present illness": "history of present illness",
    "social history": "social history", "sh": "social history", "allergies": "allergies", "medications": "medications",
    "meds": "medications", "diagnosis": "assessment", "diagnoses": "assessment",
}
# "Relative: condition" lines are family history for that line only.
RELATIVES = {
    "mother", "mom", "father", "dad", "brother", "brothers", "sister", "sisters", "sibling", "siblings", "son", "sons",
    "daughter", "daughters", "child", "children", "parent", "parents", "aunt", "uncle", "cousin", "grandmother",
    "grandfather", "grandparents", "maternal grandmother", "maternal grandfather", "paternal grandmother",
    "paternal grandfather", "maternal aunt", "maternal uncle", "paternal aunt", "paternal uncle", "half-brother",
    "half-sister", "twin", "twin brother", "twin sister",
}
FAMILY_SECTION = "family history"
INLINE_HEADING = re.compile(r"^([A-Za-z][A-Za-z /&]{0,30}?)\s*:\s+")
# Words that can start a line with a colon without being a heading ("Note: ...", "BP: 120/80").
NOT_HEADINGS = {"bp", "hr", "rr", "temp", "spo2", "o2 sat", "weight", "height", "bmi", "a1c", "ldl", "note", "time", "date"}


def normalise_section(heading: str) -> str:
    key = re.sub(r"\s+", " ", heading.strip().lower())
    return SECTION_ALIASES.get(key, key)


def _heading(line: str) -> tuple[str, int] | None:
    """(section, end of heading) when the line starts with a heading such as 'Family History:', or is a known
    heading alone on its line ('Family History')."""
    m = HEADING.match(line)
    if not m:
        alone = re.sub(r"\s+", " ", line.strip().rstrip(":").lower())
        if alone in SECTION_ALIASES and len(alone) > 3:  # 'fh' alone on a line is too short to trust
            return SECTION_ALIASES[alone], len(line)
        return None
    words = m.group(1).strip()
    if words.lower() in RELATIVES:
        return FAMILY_SECTION, 0  # the relative stays part of the sentence
    if words.lower() in NOT_HEADINGS or len(words.split()) > 6:
        return None
    if words.lower() not in SECTION_ALIASES and not (words.isupper() or words.istitle()):
        return None  # "Patient reports: ..." is prose, not a heading
    return normalise_section(words), m.end()


def _split_unit(text: str, offset: int, section: str | None) -> list[Sentence]:
    out: list[Sentence] = []
    start = 0
    for m in BOUNDARY.finditer(text):
        end = m.end()
        before = text[start:m.start()]
        last_word = re.split(r"\s+", before.strip())[-1].lower().rstrip(".") if before.strip() else ""
        if last_word in ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue
        _emit(out, text, start, end, offset, section)
        start = end
    _emit(out, text, start, len(text), offset, section)
    return out


def _emit(out: list[Sentence], text: str, start: int, end: int, offset: int, section: str | None) -> None:
    chunk = text[start:end]
    stripped = chunk.strip()
    if not stripped or not any(ch.isalpha() for ch in stripped):
        return  # list numbers ("1.") and stray punctuation are not sentences
    lead = len(chunk) - len(chunk.lstrip())
    s = offset + start + lead
    out.append(Sentence(stripped, s, s + len(stripped), section))


def _inline_heading(sentence: Sentence) -> tuple[str, Sentence] | None:
    """A known heading opening a sentence mid-line ('Mother with diabetes. PMH: hypertension.')."""
    m = INLINE_HEADING.match(sentence.text)
    if not m or m.group(1).strip().lower() not in SECTION_ALIASES or m.end() >= len(sentence.text):
        return None
    rest = sentence.text[m.end():]
    return normalise_section(m.group(1)), Sentence(rest, sentence.start + m.end(), sentence.end, None)


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of a note with character spans into ``text`` and their section heading."""
    if not text:
        return []
    sentences: list[Sentence] = []
    section: str | None = None
    section_has_content = False  # a blank line after the section's first content ends the section
    line_scoped = False  # a "Mother: ..." line: family history for that line only
    unit_start: int | None = None  # start offset of the logical line being built
    unit_section: str | None = None
    pos = 0
    lines = text.splitlines(keepends=True)

    def flush(until: int) -> None:
        nonlocal unit_start, section
        if unit_start is not None and until > unit_start:
            current = unit_section
            for sentence in _split_unit(text[unit_start:until], unit_start, unit_section):
                inline = _inline_heading(sentence)
                if inline is not None:
                    current, sentence = inline
                    if not line_scoped:
                        section = current
                sentences.append(Sentence(sentence.text, sentence.start, sentence.end, current))
        unit_start = None

    previous_section: str | None = None
    for line in lines:
        line_start, line_end = pos, pos + len(line.rstrip("\r\n"))
        pos += len(line)
        content = text[line_start:line_end]
        if line_scoped:
            flush(line_start)
            section, line_scoped = previous_section, False
        if not content.strip():
            flush(line_end)
            if section_has_content:
                section, section_has_content = None, False
            continue
        head = _heading(content)
        if head is not None:
            flush(line_start)
            new_section, head_end = head
            if head_end == 0:  # "Mother: dementia": family history, this line only
                previous_section, line_scoped = section, True
                section = new_section
                bullet = BULLET.match(content)
                unit_start, unit_section = line_start + (bullet.end() if bullet else 0), section
                section_has_content = True
                continue
            section, section_has_content = new_section, False
            rest_start = line_start + head_end
            if text[rest_start:line_end].strip():
                unit_start, unit_section = rest_start, section
                section_has_content = True
            continue
        section_has_content = True
        bullet = BULLET.match(content)
        continues = (
            unit_start is not None and bullet is None
            and not re.search(r"[.!?:]\s*$", text[unit_start:line_start])
            and content.lstrip()[:1].islower()
        )
        if continues:
            continue  # a wrapped line: the unit runs on
        flush(line_start)
        unit_start = line_start + (bullet.end() if bullet else 0)
        unit_section = section
    flush(len(text))
    return sentences
