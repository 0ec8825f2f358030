"""Date helpers: the day of a date or datetime, a sort key across both, and age on a day."""
from __future__ import annotations

from datetime import date, datetime, timezone


def day_of(when: date | datetime | None) -> date | None:
    if when is None:
        return None
    return when.date() if isinstance(when, datetime) else when


def chronological_key(when: date | datetime | None) -> datetime:
    if when is None:
        return datetime.min
    if isinstance(when, datetime):
        if when.tzinfo is not None:
            try:
                return when.astimezone(timezone.utc).replace(tzinfo=None)
            except OverflowError:  # year 1 or 9999 shifted out of range by its offset
                return when.replace(tzinfo=None)
        return when
    return datetime(when.year, when.month, when.day)


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
