"""Acute-care Observations: level of consciousness (ACVPU) and supplemental oxygen."""
from __future__ import annotations

import re
from typing import Any

from fhir_adapter.codes import concepts_of_coding
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.plausibility import check_plausible
from fhir_adapter.features.quantities import convert_reading
from fhir_adapter.features.selection import (
    Reading,
    Reject,
    Selection,
    component_readings_of,
    readings_of,
    select,
)

_AVPU_LETTER = {"avpu_alert": "A", "avpu_confusion": "C", "avpu_voice": "V", "avpu_pain": "P",
                "avpu_unresponsive": "U"}

# Free-text / valueString answers (whole words, case-insensitive); checked after the codes.
_AVPU_TEXT = (
    (re.compile(r"^\s*([ACVPU])\s*$", re.IGNORECASE), None),
    (re.compile(r"\bunrespons", re.IGNORECASE), "U"),
    (re.compile(r"\bpain\b", re.IGNORECASE), "P"),
    (re.compile(r"\b(voice|verbal)\b", re.IGNORECASE), "V"),
    (re.compile(r"\bconfus", re.IGNORECASE), "C"),
    (re.compile(r"\balert\b", re.IGNORECASE), "A"),
)

_NOT_ALERT = re.compile(r"\b(not|non|less)[\s-]+alert\b", re.IGNORECASE)


def consciousness(ctx: ExtractionContext) -> Selection:
    def interpret(reading: Reading) -> tuple[Any, str | None]:
        if reading.absent_reason is not None:
            raise Reject(f"no value (dataAbsentReason '{reading.absent_reason}'); not used")
        for coding in reading.value_codes:
            for concept in concepts_of_coding(coding.system, coding.code):
                if concept in _AVPU_LETTER:
                    return _AVPU_LETTER[concept], coding.label()
        text = reading.value_text
        if text:
            for pattern, letter in _AVPU_TEXT:
                match = pattern.search(text)
                if match:
                    if letter == "A" and _NOT_ALERT.search(text):
                        break  # "not alert" without a V / P / U word: not an ACVPU answer we can read
                    return (letter or match.group(1).upper()), f"read from the text answer '{text[:40]}'"
        raise Reject("level-of-consciousness answer is not a recognised ACVPU code or text; not used")

    return select(ctx, "consciousness_avpu", readings_of(ctx.parsed, "consciousness"), interpret)


_ROOM_AIR_TEXT = re.compile(r"\b(room air|none|no oxygen|ra)\b", re.IGNORECASE)


def supplemental_o2(ctx: ExtractionContext) -> Selection:
    """Newest of: oxygen flow (> 0 L/min), FiO2 (> 21 %), or an oxygen-delivery answer (room air or a device)."""
    name = "on_supplemental_o2"

    def interpret(reading: Reading) -> tuple[Any, str | None]:
        if reading.kind == "o2_flow":
            conv = convert_reading(reading, "o2_flow")
            check_plausible("o2_flow_lmin", conv)
            return conv.value > 0, f"inhaled oxygen flow {conv.value:g} L/min"
        if reading.kind == "fio2":
            conv = convert_reading(reading, "fio2")
            check_plausible("fio2_pct", conv)
            # Room air is 21 % oxygen; anything above it is supplemental (RCP NEWS2 2017: "any supplemental oxygen").
            return conv.value > 21.0, f"inhaled oxygen concentration {conv.value:g} %"
        if reading.absent_reason is not None:
            raise Reject(f"no value (dataAbsentReason '{reading.absent_reason}'); not used")
        for coding in reading.value_codes:
            if "room_air" in concepts_of_coding(coding.system, coding.code):
                return False, coding.label()
        text = reading.value_text or " ".join(filter(None, (c.display for c in reading.value_codes)))
        if text and _ROOM_AIR_TEXT.search(text):
            return False, f"oxygen delivery recorded as '{text[:40]}'"
        if text or reading.value_codes:
            label = text or reading.value_codes[0].label()
            return True, f"oxygen delivery device '{label[:60]}'"
        raise Reject("oxygen-delivery observation without an answer; not used")

    readings = (component_readings_of(ctx.parsed, "o2_flow") + component_readings_of(ctx.parsed, "fio2")
                + readings_of(ctx.parsed, "o2_device"))
    return select(ctx, name, readings, interpret)
