"""Physiological plausibility bounds: sanity limits that catch unit mix-ups and typing errors."""
from __future__ import annotations

from fhir_adapter import units
from fhir_adapter.features.selection import Reject

# Physiological plausibility bounds in canonical units, inclusive. These are sanity limits chosen
# by this project to catch unit mix-ups and typing errors, deliberately much wider than any
# reference range (they are not clinical thresholds). See docs/features.md.
PLAUSIBLE_RANGE: dict[str, tuple[float, float]] = {
    "chol_total_mgdl": (50.0, 1000.0),
    "hdl_mgdl": (5.0, 200.0),
    "ldl_mgdl": (5.0, 900.0),
    "sbp_mmhg": (50.0, 300.0),
    "dbp_mmhg": (20.0, 200.0),
    "hba1c_pct": (3.0, 20.0),
    "creatinine_mgdl": (0.1, 30.0),
    "egfr_mlmin173m2": (1.0, 200.0),
    "bmi_kgm2": (10.0, 100.0),
    "height_cm": (40.0, 275.0),
    "weight_kg": (2.0, 650.0),
    "age_years": (0.0, 120.0),
    "waist_cm": (40.0, 250.0),
    "cystatin_c_mgl": (0.2, 10.0),
    "uacr_mgg": (0.0, 25000.0),
    "glucose_fasting_mgdl": (10.0, 2000.0),
    "glucose_ogtt_2h_mgdl": (10.0, 2000.0),
    "glucose_random_mgdl": (10.0, 2000.0),
    "hemoglobin_gdl": (2.0, 25.0),
    "platelets_10e9l": (1.0, 2000.0),
    "ast_ul": (1.0, 20000.0),
    "alt_ul": (1.0, 20000.0),
    "bilirubin_total_mgdl": (0.05, 50.0),
    "inr": (0.5, 20.0),
    "respiratory_rate_min": (1.0, 80.0),
    "heart_rate_min": (15.0, 300.0),
    "temperature_c": (25.0, 45.0),
    "spo2_pct": (40.0, 100.0),
    "gcs_total": (3.0, 15.0),
    "o2_flow_lmin": (0.0, 80.0),
    "fio2_pct": (21.0, 100.0),
    "pa_min_per_week": (0.0, 10080.0),
    "pa_min_per_day": (0.0, 1440.0),
    "pa_days_per_week": (0.0, 7.0),
}


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
