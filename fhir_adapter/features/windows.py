"""Look-back and history windows per feature, in days, and how they read in reasons."""
from __future__ import annotations

from typing import Mapping

from engine import feature_catalog

_YEAR = 365

# Look-back windows in days for the value in FeatureSet.values, and history windows (FeatureSet.history) where they
# are longer than the look-back; other history features use their look-back window. Both are declared per feature in
# engine/feature_catalog.py (with their rationale; the table is in docs/features.md).
DEFAULT_LOOKBACK_DAYS: dict[str, int] = feature_catalog.lookback_days()
DEFAULT_HISTORY_DAYS: dict[str, int] = feature_catalog.history_days()

# At most this many history entries per feature (the newest), so a long inpatient stay with hourly
# vitals costs a bounded time. Far more than any detector needs.
HISTORY_MAX_ENTRIES = 100


def window_noun(days: int) -> str:
    if days % _YEAR == 0:
        years = days // _YEAR
        return "year" if years == 1 else f"{years} years"
    return "day" if days == 1 else f"{days} days"


def window_adj(days: int) -> str:
    if days % _YEAR == 0:
        return f"{days // _YEAR}-year"
    return f"{days}-day"


def merged_windows(defaults: Mapping[str, int], overrides: Mapping[str, int] | None) -> dict[str, int]:
    out = dict(defaults)
    for key, days in (overrides or {}).items() if isinstance(overrides, Mapping) else ():
        if isinstance(days, int) and not isinstance(days, bool) and days >= 0:
            out[key] = days
    return out
