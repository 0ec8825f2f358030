"""Date helpers: the day of a date or datetime, a sort key across both, and age on a day."""
from __future__ import annotations

from datetime import date, datetime, timezone


def day_of(when: date | datetime | None) -> date | None:
    if when is None:
        return None
    return when.date() if isinstance(when, datetime) else when


# A fixed-offset time as naive UTC: its distance from the epoch, added to the naive epoch. The same instant as
# ``astimezone(timezone.utc).replace(tzinfo=None)`` at a tenth of the cost (``replace`` alone costs ~0.8 us), and it
# runs for every reading of a record (the read plan, every sort by time).
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def chronological_key(when: date | datetime | None) -> datetime:
    if when is None:
        return datetime.min
    if isinstance(when, datetime):
        if type(when.tzinfo) is timezone:  # what parse_fhir_datetime gives
            try:
                return _NAIVE_EPOCH + (when - _EPOCH)
            except OverflowError:  # year 1 or 9999 shifted out of range by its offset
                return when.replace(tzinfo=None)
        if when.tzinfo is not None:
            try:
                return when.astimezone(timezone.utc).replace(tzinfo=None)
            except OverflowError:  # year 1 or 9999 shifted out of range by its offset
                return when.replace(tzinfo=None)
        return when
    return datetime(when.year, when.month, when.day)


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
