"""Lab and vital-sign quantity features: unit conversion, plausibility, latest value and history."""
from __future__ import annotations

import math
from typing import Any, Callable

from engine.feature_catalog import FEATURES, QUANTITY, FeatureSpec
from engine.inputs import feature_unit
from fhir_adapter import units
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.plausibility import PLAUSIBLE_RANGE, check_plausible
from fhir_adapter.features.selection import Reading, Reject, Selection, readings_of, select


def convert_reading(reading: Reading, kind: str) -> units.Converted:
    if reading.absent_reason is not None:
        raise Reject(f"no value (dataAbsentReason '{reading.absent_reason}'); not used")
    quantity = reading.quantity
    if quantity is None:
        raise Reject("no numeric value (valueQuantity); not used")
    try:
        return units.convert_parts(quantity.value, quantity.unit, quantity.system, quantity.code, quantity.comparator,
                                   kind)
    except units.UnitError as err:
        raise Reject(f"{err.reason}; not used") from None


# Notes for codes that are accepted with a caveat (shown in Evidence.note).
_CODE_NOTES = {
    ("http://loinc.org", "1518-0"): "LOINC 1518-0 does not state the glucose dose; read as a 75 g OGTT",
}
# Their codes alone: most readings' codes are none of them, which one set lookup per coding tells.
_NOTED_CODES = frozenset(code for _, code in _CODE_NOTES)


def quantity_interpreter(name: str, kind: str) -> Callable[[Reading], tuple[Any, str | None]]:
    canonical = feature_unit(name) or units.CANONICAL_UNIT[kind]
    # No bounds (not a catalogue feature): never the short way, so that check_plausible fails as it always did.
    low, high = PLAUSIBLE_RANGE.get(name, (math.inf, -math.inf))

    def interpret(reading: Reading) -> tuple[Any, str | None]:
        quantity = reading.quantity
        # The usual reading (a plausible number in a unit already met) without the Converted made; anything else
        # (rejected, or a unit met for the first time) the long way, which raises the same Reject as always.
        fast = None if reading.absent_reason is not None or quantity is None else units.converted_value(
            quantity.value, quantity.unit, quantity.system, quantity.code, quantity.comparator, kind)
        if fast is not None and low <= fast[0] <= high:
            value, note = fast
        else:
            conv = convert_reading(reading, kind)
            check_plausible(name, conv, canonical)
            value, note = conv.value, conv.note
        for coding in reading.codes or reading.record.codes:
            if coding.code in _NOTED_CODES:
                extra = _CODE_NOTES.get((coding.system, coding.code))
                if extra:
                    note = f"{note}; {extra}" if note else extra
        return value, note

    return interpret


# Quantity features read from Observations, by their declaration in engine/feature_catalog.py: each is selected by
# its first value set (and components of its first panel value set) and converted by its unit kind.
_QUANTITY_SPECS: dict[str, FeatureSpec] = {
    spec.name: spec for spec in FEATURES
    if spec.kind == QUANTITY and spec.quantity_kind is not None and spec.value_sets
}

# Built in steps of their own (fhir_adapter/features/extract.py): blood pressure (systolic and diastolic from single
# Observations and BP panel components, 85354-9 / 55284-4), creatinine with the eGFR derived from it, and weight and
# height with the BMI derived from them.
_BUILT_IN_OWN_STEP = frozenset({"sbp_mmhg", "dbp_mmhg", "creatinine_mgdl", "egfr_mlmin173m2", "weight_kg",
                                "height_cm", "bmi_kgm2"})

# Quantity features selected plainly (latest + history), in catalogue order (the order they are built).
SIMPLE_QUANTITY_FEATURES = tuple(name for name in _QUANTITY_SPECS if name not in _BUILT_IN_OWN_STEP)


def quantity_spec(name: str) -> FeatureSpec | None:
    """The catalogue entry of a quantity feature read from Observations (None for any other feature)."""
    return _QUANTITY_SPECS.get(name)


def quantity_feature(ctx: ExtractionContext, name: str, *, reported_as: str | None = None) -> Selection:
    spec = _QUANTITY_SPECS[name]
    panel = spec.panel_value_sets[0] if spec.panel_value_sets else None
    return select(ctx, name, readings_of(ctx.parsed, spec.value_sets[0], panel),
                  quantity_interpreter(name, spec.quantity_kind), reported_as=reported_as)

