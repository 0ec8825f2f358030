"""Lab and vital-sign quantity features: unit conversion, plausibility, latest value and history."""
from __future__ import annotations

from typing import Any, Callable

from engine.inputs import feature_unit
from fhir_adapter import units
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.plausibility import check_plausible
from fhir_adapter.features.selection import Reading, Reject, Selection, readings_of, select


def convert_reading(reading: Reading, kind: str) -> units.Converted:
    if reading.absent_reason is not None:
        raise Reject(f"no value (dataAbsentReason '{reading.absent_reason}'); not used")
    if reading.quantity is None:
        raise Reject("no numeric value (valueQuantity); not used")
    try:
        return units.convert_quantity(reading.quantity.as_mapping(), kind)
    except units.UnitError as err:
        raise Reject(f"{err.reason}; not used") from None


# Notes for codes that are accepted with a caveat (shown in Evidence.note).
_CODE_NOTES = {
    ("http://loinc.org", "1518-0"): "LOINC 1518-0 does not state the glucose dose; read as a 75 g OGTT",
}


def quantity_interpreter(name: str, kind: str) -> Callable[[Reading], tuple[Any, str | None]]:
    canonical = feature_unit(name) or units.CANONICAL_UNIT[kind]

    def interpret(reading: Reading) -> tuple[Any, str | None]:
        conv = convert_reading(reading, kind)
        check_plausible(name, conv, canonical)
        note = conv.note
        for coding in reading.codes or reading.record.codes:
            extra = _CODE_NOTES.get((coding.system, coding.code))
            if extra:
                note = f"{note}; {extra}" if note else extra
        return conv.value, note

    return interpret


# Feature -> (value-set concept, unit kind, panel concept whose components may carry it)
_QUANTITY_FEATURES: dict[str, tuple[str, str, str | None]] = {
    "chol_total_mgdl": ("chol_total", "cholesterol", None),
    "hdl_mgdl": ("hdl", "cholesterol", None),
    "ldl_mgdl": ("ldl", "cholesterol", None),
    "hba1c_pct": ("hba1c", "hba1c", None),
    "creatinine_mgdl": ("creatinine", "creatinine", None),
    "egfr_mlmin173m2": ("egfr", "egfr", None),
    "bmi_kgm2": ("bmi", "bmi", None),
    "weight_kg": ("body_weight", "mass", None),
    "height_cm": ("body_height", "length", None),
    "waist_cm": ("waist_circumference", "length", None),
    "cystatin_c_mgl": ("cystatin_c", "cystatin_c", None),
    "uacr_mgg": ("uacr", "uacr", None),
    "glucose_fasting_mgdl": ("glucose_fasting", "glucose", None),
    "glucose_ogtt_2h_mgdl": ("glucose_ogtt_2h", "glucose", None),
    "glucose_random_mgdl": ("glucose_random", "glucose", None),
    "hemoglobin_gdl": ("hemoglobin", "hemoglobin", None),
    "platelets_10e9l": ("platelets", "platelets", None),
    "ast_ul": ("ast", "enzyme", None),
    "alt_ul": ("alt", "enzyme", None),
    "bilirubin_total_mgdl": ("bilirubin_total", "bilirubin", None),
    "inr": ("inr", "ratio", None),
    "respiratory_rate_min": ("respiratory_rate", "rate", "vital_signs_panel"),
    "heart_rate_min": ("heart_rate", "rate", "vital_signs_panel"),
    "temperature_c": ("body_temperature", "temperature", "vital_signs_panel"),
    "spo2_pct": ("spo2", "percent", "vital_signs_panel"),
    "gcs_total": ("gcs_total", "score", None),
}

# Quantity features selected plainly (latest + history), in the order they are built.
SIMPLE_QUANTITY_FEATURES = (
    "chol_total_mgdl", "hdl_mgdl", "ldl_mgdl", "hba1c_pct", "waist_cm", "cystatin_c_mgl", "uacr_mgg",
    "glucose_fasting_mgdl", "glucose_ogtt_2h_mgdl", "glucose_random_mgdl", "hemoglobin_gdl", "platelets_10e9l",
    "ast_ul", "alt_ul", "bilirubin_total_mgdl", "inr", "respiratory_rate_min", "heart_rate_min", "temperature_c",
    "spo2_pct", "gcs_total",
)


def quantity_feature(ctx: ExtractionContext, name: str, *, reported_as: str | None = None) -> Selection:
    concept, kind, panel = _QUANTITY_FEATURES[name]
    return select(ctx, name, readings_of(ctx.parsed, concept, panel), quantity_interpreter(name, kind),
                  reported_as=reported_as)


def blood_pressure(ctx: ExtractionContext, name: str, concept: str) -> Selection:
    # Single systolic/diastolic Observations and the components of BP panels (85354-9, 55284-4).
    return select(ctx, name, readings_of(ctx.parsed, concept, panel_concept="bp_panel"),
                  quantity_interpreter(name, "pressure"))
