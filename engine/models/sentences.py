"""Clinical sentence splitting with exact character spans and section headings.

Notes are not prose: they mix headings ("PAST MEDICAL HISTORY:"), bullet lists, wrapped lines and
abbreviations with full stops ("Dr.", "e.g."). The splitter therefore works line by line, joins
wrapped lines, cuts at sentence-final punctuation unless the word before it is a known
abbreviation, and remembers the heading each sentence sits under (assertion rules use it:
everything under "Family history" is about relatives). Every sentence keeps its offsets in the
original text so evidence can quote the exact span.
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
# Words that can start a line with a colon without being a heading ("Note: ...", "BP: 120/80").
NOT_HEADINGS = {"bp", "hr", "rr", "temp", "spo2", "o2 sat", "weight", "height", "bmi", "a1c", "ldl", "note", "time", "date"}


def normalise_section(heading: str) -> str:
    key = re.sub(r"\s+", " ", heading.strip().lower())
    return SECTION_ALIASES.get(key, key)


def _heading(line: str) -> tuple[str, int] | None:
    """(section, end of heading) when the line starts with a heading such as 'Family History:'."""
    m = HEADING.match(line)
    if not m:
        return None
    words = m.group(1).strip()
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


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of a note with character spans into ``text`` and their section heading."""
    if not text:
        return []
    sentences: list[Sentence] = []
    section: str | None = None
    unit_start: int | None = None  # start offset of the logical line being built
    unit_section: str | None = None
    pos = 0
    lines = text.splitlines(keepends=True)

    def flush(until: int) -> None:
        nonlocal unit_start
        if unit_start is not None and until > unit_start:
            sentences.extend(_split_unit(text[unit_start:until], unit_start, unit_section))
        unit_start = None

    for line in lines:
        line_start, line_end = pos, pos + len(line.rstrip("\r\n"))
        pos += len(line)
        content = text[line_start:line_end]
        if not content.strip():
            flush(line_end)
            continue
        head = _heading(content)
        if head is not None:
            flush(line_start)
            section, head_end = head
            rest_start = line_start + head_end
            if text[rest_start:line_end].strip():
                unit_start, unit_section = rest_start, section
            continue
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
