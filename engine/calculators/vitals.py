"""Recent bedside observations for the acute scores (NEWS2, qSOFA).

An observation is used only if it was taken within ``vitals_max_age_h`` hours (engine option, default 24)
before the request time (``FeatureSet.now``; without a clock, the end of the ``as_of`` day in UTC) and
lies inside wide sanity limits. Limits and the default: ``engine/data/vitals.json``.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from engine.calculators.common import is_finite_number, load_data
from engine.finding import Evidence, MissingInput
from engine.inputs import FeatureSet

DATA_FILE = "vitals.json"


def limits() -> dict:
    return load_data(DATA_FILE)


def reference_time(features: FeatureSet) -> datetime:
    """The moment recency is measured from (always timezone-aware)."""
    if features.now is not None:
        now = features.now
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)
    return datetime.combine(features.as_of, time.max, tzinfo=timezone.utc)


def max_age_hours(features: FeatureSet) -> tuple[float, str | None]:
    """The recency limit in hours and, when the configured option was unusable, a note saying so."""
    default = float(limits()["recency"]["default_max_age_hours"])
    option = features.options.get("vitals_max_age_h")
    if option is None:
        return default, None
    if is_finite_number(option) and option > 0:
        return float(option), None
    return default, f"Engine option vitals_max_age_h={option!r} is not a positive number; {default:g} h used."


def recency_window(features: FeatureSet) -> tuple[dict, list[str]]:
    """Keyword arguments ``reference`` and ``max_age_h`` for the ``recent*`` readers below, and the assumptions
    that state the window (and any unusable option) on the finding."""
    reference = reference_time(features)
    max_age_h, option_note = max_age_hours(features)
    assumptions = [f"Only observations from the {max_age_h:g} h before "
                   f"{reference.isoformat(timespec='minutes')} are used."]
    if option_note:
        assumptions.append(option_note)
    return dict(reference=reference, max_age_h=max_age_h), assumptions


def measured_at(evidence: Evidence) -> datetime | None:
    """When the observation was taken, timezone-aware; a bare date counts from 00:00 UTC of that day."""
    when = evidence.effective
    if isinstance(when, datetime):
        return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    if isinstance(when, date):
        return datetime.combine(when, time.min, tzinfo=timezone.utc)
    return None


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f}"


def recent(features: FeatureSet, name: str, *, reference: datetime,
           max_age_h: float) -> tuple[Evidence | None, MissingInput | None]:
    """The feature if it was measured recently enough; otherwise why it cannot be used.

    A time slightly after the reference (clock skew between EHR and server) counts as current; the adapter
    already drops results dated after the request day.
    """
    evidence = features.get(name)
    if evidence is None:
        return None, features.missing_reason(name)
    taken = measured_at(evidence)
    if taken is None:
        return None, MissingInput(name, evidence.label,
                                  "time of measurement not recorded, so its recency cannot be checked")
    age = reference - taken
    if age > timedelta(hours=max_age_h):
        return None, MissingInput(
            name, evidence.label,
            f"latest value ({taken.isoformat(timespec='minutes')}) is {_hours(age)} h old; the score needs "
            f"observations from the last {max_age_h:g} h")
    return evidence, None


def recent_number(features: FeatureSet, name: str, *, reference: datetime,
                  max_age_h: float) -> tuple[Evidence | None, MissingInput | None]:
    """A recent observation that is a number inside the sanity limits."""
    evidence, missing = recent(features, name, reference=reference, max_age_h=max_age_h)
    if evidence is None:
        return None, missing
    bounds = limits()["accepted_ranges"][name]
    if not (is_finite_number(evidence.value) and bounds["min"] <= evidence.value <= bounds["max"]):
        unit = f" {bounds['unit']}" if bounds["unit"] else ""
        return None, MissingInput(name, evidence.label,
                                  f"recorded value is not a number between {bounds['min']:g} and "
                                  f"{bounds['max']:g}{unit}; treated as a recording error")
    return evidence, None


def recent_avpu(features: FeatureSet, *, reference: datetime,
                max_age_h: float) -> tuple[Evidence | None, MissingInput | None]:
    evidence, missing = recent(features, "consciousness_avpu", reference=reference, max_age_h=max_age_h)
    if evidence is None:
        return None, missing
    if evidence.value not in limits()["avpu_values"]:
        return None, MissingInput("consciousness_avpu", evidence.label, "recorded value is not one of A, C, V, P, U")
    return evidence, None


def recent_gcs(features: FeatureSet, *, reference: datetime,
               max_age_h: float) -> tuple[Evidence | None, MissingInput | None]:
    evidence, missing = recent_number(features, "gcs_total", reference=reference, max_age_h=max_age_h)
    if evidence is not None and float(evidence.value) != int(evidence.value):
        return None, MissingInput("gcs_total", evidence.label, "recorded Glasgow Coma Scale is not a whole number")
    return evidence, missing
