"""FHIR date / dateTime / instant strings -> ``date`` or ``datetime``."""
from __future__ import annotations

from datetime import date, datetime


def parse_fhir_datetime(value: object) -> date | datetime | None:
    """FHIR date / dateTime / instant -> date (no time given) or datetime; None if unreadable.

    Partial dates ("2019", "2019-03") map to their first day: the conservative choice for a
    look-back window (a value is never made to look more recent than it can be).
    """
    if not isinstance(value, str):
        return None
    s = value.strip()
    try:
        if len(s) == 4:
            return date(int(s), 1, 1)
        if len(s) == 7:
            return date(int(s[:4]), int(s[5:7]), 1)
        if len(s) == 10:
            return date.fromisoformat(s)
        return datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
