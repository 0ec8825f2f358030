"""Look-back and history windows per feature, in days, and how they read in reasons."""
from __future__ import annotations

from typing import Mapping

_YEAR = 365

# Default look-back windows in days for the value in FeatureSet.values (project defaults, rationale
# in docs/features.md): lipids 5 y (2019 ACC/AHA primary-prevention guideline, Arnett 2019: assess
# risk factors every 4-6 years), BP, HbA1c, glucose, kidney function and other labs 1 y (values that
# change and drive treatment), smoking 2 y, BMI / weight / waist 2 y, adult height 10 y (stable in
# adults), vital signs and level of consciousness 30 days (acute scores check their own recency
# against FeatureSet.now), pregnancy 42 weeks (the upper limit of a post-term pregnancy).
DEFAULT_LOOKBACK_DAYS: dict[str, int] = {
    "chol_total_mgdl": 5 * _YEAR,
    "hdl_mgdl": 5 * _YEAR,
    "ldl_mgdl": 5 * _YEAR,
    "sbp_mmhg": 1 * _YEAR,
    "dbp_mmhg": 1 * _YEAR,
    "smoker_current": 2 * _YEAR,
    "hba1c_pct": 1 * _YEAR,
    "creatinine_mgdl": 1 * _YEAR,
    "egfr_mlmin173m2": 1 * _YEAR,
    "bmi_kgm2": 2 * _YEAR,
    "weight_kg": 2 * _YEAR,
    "height_cm": 10 * _YEAR,
    "waist_cm": 2 * _YEAR,
    "cystatin_c_mgl": 1 * _YEAR,
    "uacr_mgg": 1 * _YEAR,
    "glucose_fasting_mgdl": 1 * _YEAR,
    "glucose_ogtt_2h_mgdl": 1 * _YEAR,
    "glucose_random_mgdl": 1 * _YEAR,
    "hemoglobin_gdl": 1 * _YEAR,
    "platelets_10e9l": 1 * _YEAR,
    "ast_ul": 1 * _YEAR,
    "alt_ul": 1 * _YEAR,
    "bilirubin_total_mgdl": 1 * _YEAR,
    "inr": 1 * _YEAR,
    "respiratory_rate_min": 30,
    "heart_rate_min": 30,
    "temperature_c": 30,
    "spo2_pct": 30,
    "on_supplemental_o2": 30,
    "consciousness_avpu": 30,
    "gcs_total": 30,
    "hypercapnic_target": 30,  # the NEWS2 scale-2 Observation; Goals and Conditions have no window
    "pregnant": 294,
    "physically_active": 2 * _YEAR,
    "dialysis_or_transplant": 90,  # a dialysis procedure this recent means chronic dialysis
}

# History windows (FeatureSet.history) where they are longer than the look-back above: detectors
# need repeated results - two abnormal glucose / HbA1c results (ADA), BP on >= 2 occasions
# (ACC/AHA 2017), eGFR / ACR abnormal for > 90 days (KDIGO 2012) - and the first of two results may
# be older than a year. Other history features use their look-back window.
DEFAULT_HISTORY_DAYS: dict[str, int] = {
    "sbp_mmhg": 2 * _YEAR,
    "dbp_mmhg": 2 * _YEAR,
    "hba1c_pct": 2 * _YEAR,
    "glucose_fasting_mgdl": 2 * _YEAR,
    "glucose_ogtt_2h_mgdl": 2 * _YEAR,
    "glucose_random_mgdl": 2 * _YEAR,
    "creatinine_mgdl": 2 * _YEAR,
    "egfr_mlmin173m2": 2 * _YEAR,
    "uacr_mgg": 2 * _YEAR,
    "cystatin_c_mgl": 2 * _YEAR,
}

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
