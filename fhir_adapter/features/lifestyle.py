"""Lifestyle Observations: smoking status and physical activity (the exercise vital sign)."""
from __future__ import annotations

import math
from datetime import date
from typing import Any, Mapping

from fhir_adapter.codes import concepts_of_coding
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.dates import day_of
from fhir_adapter.features.plausibility import check_plausible
from fhir_adapter.features.quantities import convert_reading
from fhir_adapter.features.selection import USABLE_OBS_STATUS, Reading, Reject, Selection, readings_of, select

# Physical activity: >= 150 min/week of moderate-to-vigorous activity (Physical Activity Guidelines for
# Americans, 2nd ed., US HHS 2018; WHO guidelines on physical activity and sedentary behaviour 2020).
# Override with options["physically_active_min_per_week"].
PHYSICALLY_ACTIVE_MIN_PER_WEEK = 150.0

_SMOKING_VALUE = {"smoker_current": True, "smoker_former": False, "smoker_never": False}


def smoking(ctx: ExtractionContext) -> Selection:
    def interpret(reading: Reading) -> tuple[Any, str | None]:
        if reading.absent_reason is not None:
            raise Reject(f"no value (dataAbsentReason '{reading.absent_reason}'); not used")
        for coding in reading.value_codes:
            for concept in concepts_of_coding(coding.system, coding.code):
                if concept in _SMOKING_VALUE:
                    return _SMOKING_VALUE[concept], coding.label()
                if concept == "smoker_unknown":
                    raise Reject("smoking status recorded as unknown; not used")
        raise Reject("smoking status answer is not a recognised SNOMED CT / LOINC answer code; not used")

    return select(ctx, "smoker_current", readings_of(ctx.parsed, "smoking_status"), interpret, keep_history=False)


def physical_activity(ctx: ExtractionContext) -> Selection:
    """Exercise vital sign: minutes/week (82290-8), or days/week x minutes/day recorded on the same day."""
    name = "physically_active"
    threshold = _number_option(ctx.options, "physically_active_min_per_week", PHYSICALLY_ACTIVE_MIN_PER_WEEK)
    per_day: dict[date, list[Reading]] = {}
    for reading in readings_of(ctx.parsed, "pa_minutes_per_day"):
        if reading.record.status in USABLE_OBS_STATUS and day_of(reading.when) is not None:
            per_day.setdefault(day_of(reading.when), []).append(reading)

    def interpret(reading: Reading) -> tuple[Any, str | None]:
        if reading.kind == "pa_minutes_per_week":
            conv = convert_reading(reading, "minutes_per_week")
            check_plausible("pa_min_per_week", conv)
            minutes = conv.value
            how = f"{minutes:g} min/week"
        else:
            days_conv = convert_reading(reading, "days_per_week")
            check_plausible("pa_days_per_week", days_conv)
            partners = per_day.get(day_of(reading.when), [])
            if not partners:
                raise Reject("days per week of exercise without minutes per day on the same date; not used")
            mins_conv = convert_reading(partners[0], "minutes_per_day")
            check_plausible("pa_min_per_day", mins_conv)
            minutes = days_conv.value * mins_conv.value
            how = f"{days_conv.value:g} days/week x {mins_conv.value:g} min/day = {minutes:g} min/week"
        return minutes >= threshold, f"{how} of moderate-to-vigorous activity (active if >= {threshold:g})"

    readings = readings_of(ctx.parsed, "pa_minutes_per_week") + readings_of(ctx.parsed, "pa_days_per_week")
    return select(ctx, name, readings, interpret, keep_history=False)


def _number_option(options: Mapping[str, Any], key: str, default: float) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return default
    return float(value)
