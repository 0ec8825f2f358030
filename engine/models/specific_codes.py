"""The specific code a note sentence supports: CKD stage, end-stage renal disease, diabetes with a complication.

A concept carries one default code (chronic kidney disease N18.9, type 2 diabetes E11.9). When the sentence says
more, the suggestion should say it too: "CKD 3b" is N18.32, "ESRD on hemodialysis" N18.6, "T2DM with peripheral
neuropathy" E11.42. The rules are data (engine/data/note_specific_codes.json, with their ICD-10-CM and SNOMED CT
sources); this module applies them to the mentions the matcher found in one sentence.

* Staged concepts: a stage right after the term ("CKD 3b", "CKD3", "CKD stage IV", "CKD G3bA2"), right before it
  ("stage 3a CKD"), or a term that names the stage ("ESRD"); stage 5 with dialysis in the sentence is end-stage.
* Causes: a cause stated with the term ("hypothyroidism 2/2 Hashimoto" E06.3, "renovascular hypertension" I15.0),
  affirmed and within the rule's word window (before or after the term, not past a ";").
* Combinations: a diabetes mention and a complication phrase in the same sentence (after the mention, not past a
  ";", or just before it: "poorly controlled type 2 diabetes"), the complication not negated or otherwise qualified.
  The first complication named decides the code. A concept mention that the combination code covers
  ("peripheral neuropathy" in "T2DM with peripheral neuropathy") is absorbed: one suggestion, not two.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from engine.models.settings import DATA_DIR

CODES_PATH = DATA_DIR / "note_specific_codes.json"
WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class SpecificCode:
    name: str  # "Chronic kidney disease stage 3b", "Type 2 diabetes mellitus with diabetic polyneuropathy"
    icd10cm: tuple[str, str]  # (code, display)
    snomed: tuple[str, str] | None  # None: the concept's own SNOMED CT code stays
    reason: str  # what in the sentence selected it


class _MentionLike:  # what refine() needs of engine.models.matcher.Mention
    concept: object
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class _Staged:
    after: re.Pattern
    before: re.Pattern
    glued: re.Pattern
    roman: dict[str, str]
    naming: dict[str, str]
    dialysis: re.Pattern
    dialysis_stage: str
    stages: dict[str, dict]


@dataclass(frozen=True)
class _Complication:
    suffix: str
    with_text: str
    patterns: tuple[re.Pattern, ...]
    absorbs: frozenset[str]


def _phrases(phrases: Sequence[str]) -> str:
    parts = [re.escape(p).replace(r"\-", "\0").replace(r"\ ", r"[\s\-]+").replace("\0", r"[\s\-]?")
             for p in sorted(phrases, key=len, reverse=True)]
    return r"(?i)(?<![A-Za-z0-9])(?:" + "|".join(parts) + r")(?![A-Za-z0-9])" if parts else ""


_DATA = json.loads(CODES_PATH.read_text(encoding="utf-8"))  # package data, read once at import


@lru_cache(maxsize=1)
def _rules() -> tuple[dict[str, _Staged], dict[str, dict], int, tuple[_Complication, ...]]:
    data = _DATA
    staged = {}
    for concept_id, spec in data["staged"].items():
        staged[concept_id] = _Staged(
            after=re.compile(spec["after"], re.IGNORECASE), before=re.compile(spec["before"], re.IGNORECASE),
            glued=re.compile(r"(?:" + spec["glued_suffix"] + r")$"), roman=spec["roman"],
            naming={k.lower(): v for k, v in spec["terms_naming_a_stage"].items()},
            dialysis=re.compile(spec["stage_5_on_dialysis"]["pattern"]), dialysis_stage=spec["stage_5_on_dialysis"]["stage"],
            stages=spec["stages"])
    diabetes = data["combinations"]["diabetes"]
    complications = tuple(
        _Complication(c["suffix"], c["with"],
                      tuple(re.compile(p) for p in [_phrases(c.get("phrases", ())), *c.get("patterns", ())] if p),
                      frozenset(c.get("absorbs", ())))
        for c in diabetes["complications"])
    return staged, diabetes["concepts"], int(diabetes["before_window_words"]), complications


@dataclass(frozen=True)
class _Cause:
    name: str
    icd10cm: tuple[str, str]
    snomed: tuple[str, str] | None
    window: int
    pattern: re.Pattern
    position: str  # "before" | "after" | "both": where the cause may stand relative to the term


@lru_cache(maxsize=1)
def _causes() -> dict[str, tuple[_Cause, ...]]:
    return {concept_id: tuple(_Cause(c["name"], tuple(c["icd10cm"]), tuple(c["snomed"]) if c.get("snomed") else None,
                                     int(c["window_words"]), re.compile(_phrases(c["phrases"])),
                                     c.get("position", "both"))
                              for c in rules)
            for concept_id, rules in _DATA.get("causes", {}).items()}


def _cause(sentence: str, mention: _MentionLike, causes: tuple[_Cause, ...]) -> tuple[_Cause, str] | None:
    from engine.models.assertion import Assertion, classify

    for cause in causes:
        for m in cause.pattern.finditer(sentence):
            if m.start() < mention.end and mention.start < m.end():
                return cause, " ".join(m.group(0).split())  # the term names the cause itself ("Hashimoto thyroiditis")
            after = m.start() >= mention.end
            if cause.position != "both" and cause.position != ("after" if after else "before"):
                continue
            between = sentence[mention.end:m.start()] if after else sentence[m.end():mention.start]
            if ";" in between or len(WORD.findall(between)) > cause.window:
                continue
            if classify(sentence, m.start(), m.end()).label is not Assertion.AFFIRMED:
                continue
            return cause, " ".join(m.group(0).split())
    return None


def glued_suffixes() -> dict[str, str]:
    """concept id -> regex of a stage written onto an abbreviation without a space ("CKD3b")."""
    return {cid: spec["glued_suffix"] for cid, spec in _DATA["staged"].items()}


def _stage_code(rule: _Staged, stage: str, reason: str) -> SpecificCode | None:
    entry = rule.stages.get(stage)
    if entry is None:
        return None
    return SpecificCode(entry["name"], tuple(entry["icd10cm"]), tuple(entry["snomed"]), reason)


def _stage_of(rule: _Staged, sentence: str, mention: _MentionLike) -> tuple[str, str] | None:
    """(stage key, how it was written) for a staged concept's mention."""
    text = " ".join(mention.text.split())
    if text.lower() in rule.naming:
        return rule.naming[text.lower()], f"'{text}'"
    glued = rule.glued.search(text)
    if glued and glued.start() > 0 and text[glued.start() - 1].isalpha():
        stage = glued.group(0).lower()
        return ("5d" if stage.endswith("d") else stage), f"'{text}'"
    m = rule.after.match(sentence[mention.end:]) or rule.before.search(sentence[:mention.start])
    if not m:
        return None
    if m.group("roman"):
        stage = rule.roman.get(m.group("roman").lower())
    else:
        stage = re.sub(r"\s+", "", m.group("stage")).lower()
    if stage and "dialysis" in m.groupdict() and m.group("dialysis"):
        stage = "5d" if stage == "5" else stage
    return (stage, f"'{' '.join(m.group(0).split()).strip(' ,:(-')}'") if stage else None


def _affirmed_anywhere(pattern: re.Pattern, sentence: str) -> bool:
    """Whether the sentence states the pattern's phrase without negating or hedging it ("not yet on dialysis")."""
    from engine.models.assertion import Assertion, classify

    return any(classify(sentence, m.start(), m.end()).label is Assertion.AFFIRMED for m in pattern.finditer(sentence))


def _complication(sentence: str, mention: _MentionLike, before_window: int,
                  complications: tuple[_Complication, ...]) -> tuple[_Complication, tuple[int, int]] | None:
    from engine.models.assertion import Assertion, classify

    found = []
    for comp in complications:
        for m in (m for pattern in comp.patterns for m in pattern.finditer(sentence)):
            if m.start() < mention.end and mention.start < m.end():
                continue  # part of the diabetes mention itself
            if m.start() >= mention.end:
                if ";" in sentence[mention.end:m.start()]:
                    continue
            elif len(WORD.findall(sentence[m.end():mention.start])) > before_window:
                continue
            if classify(sentence, m.start(), m.end()).label is not Assertion.AFFIRMED:
                continue  # "no retinopathy", "screen for neuropathy": not a complication the note states
            found.append((m.start(), -(m.end() - m.start()), comp, m.span()))
    if not found:
        return None
    _, _, comp, span = min(found, key=lambda f: (f[0], f[1]))
    return comp, span


def refine(sentence: str, mentions: Sequence[_MentionLike]) -> tuple[dict[int, SpecificCode], set[int]]:
    """Specific codes by mention index, and the indices of mentions a combination code absorbs."""
    staged, combined, before_window, complications = _rules()
    causes = _causes()
    codes: dict[int, SpecificCode] = {}
    absorbed: set[int] = set()
    for i, mention in enumerate(mentions):
        concept_id = mention.concept.id
        if concept_id in causes:
            hit = _cause(sentence, mention, causes[concept_id])
            if hit is not None:
                cause, said = hit
                codes[i] = SpecificCode(cause.name, cause.icd10cm, cause.snomed, f"'{said}' stated with it")
        elif concept_id in staged:
            rule = staged[concept_id]
            found = _stage_of(rule, sentence, mention)
            if found:
                stage, how = found
                if stage == "5" and _affirmed_anywhere(rule.dialysis, sentence):
                    stage, how = rule.dialysis_stage, how + " with dialysis"
                code = _stage_code(rule, stage, f"stage {stage.upper()} stated ({how})")
                if code:
                    codes[i] = code
        elif concept_id in combined:
            hit = _complication(sentence, mention, before_window, complications)
            if hit is None:
                continue
            comp, (start, end) = hit
            spec = combined[concept_id]
            code = spec["prefix"] + comp.suffix
            name = f"{spec['name']} {comp.with_text}"
            codes[i] = SpecificCode(name, (code, name), None, f"'{' '.join(sentence[start:end].split())}' stated with it")
            for j, other in enumerate(mentions):
                if other.concept.id in comp.absorbs and other.start < end and start < other.end:
                    absorbed.add(j)
                elif j != i and other.concept.id in combined and start <= other.start and other.end <= end:
                    absorbed.add(j)  # "diabetic" inside "diabetic chronic kidney disease": part of the complication
    return codes, absorbed
