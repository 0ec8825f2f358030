"""Physiological plausibility bounds: sanity limits that catch unit mix-ups and typing errors."""
from __future__ import annotations

from engine import feature_catalog
from fhir_adapter import units
from fhir_adapter.features.selection import Reject

# Physiological plausibility bounds in canonical units, inclusive, per feature (and per component measure such as
# the oxygen flow), declared in engine/feature_catalog.py. These are sanity limits chosen by this project to catch
# unit mix-ups and typing errors, deliberately much wider than any reference range (they are not clinical
# thresholds). See docs/features.md.
PLAUSIBLE_RANGE: dict[str, tuple[float, float]] = feature_catalog.plausible_ranges()


def check_plausible(name: str, conv: units.Converted, canonical: str | None = None) -> None:
    low, high = PLAUSIBLE_RANGE[name]
    if not low <= conv.value <= high:
        canonical = canonical or conv.unit
        unit = "" if canonical == "1" else f" {canonical}"  # INR and GCS have no unit
        shown = f"{conv.value:.4g}{unit}"
        if conv.converted:
            shown = f"{conv.original_value:g} {conv.original_unit} = {shown}"
        raise Reject(f"implausible value ({shown}; accepted range {low:g}-{high:g}{unit}); "
                     f"likely a unit or entry error; not used")
