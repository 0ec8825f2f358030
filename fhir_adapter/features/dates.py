"""Date helpers: the day of a date or datetime, a sort key across both, and age on a day."""
from __future__ import annotations

from datetime import date, datetime

from fhir_adapter.parse.dates import chronological_key  # noqa: F401 - defined with the parse, which needs it too


def day_of(when: date | datetime | None) -> date | None:
    if when is None:
        return None
    return when.date() if isinstance(when, datetime) else when


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
