"""Unit normalisation and conversion to the canonical units of engine/inputs.py.

A FHIR Quantity's unit is read from its UCUM code (``system`` = http://unitsofmeasure.org,
``code``) first and from the free-text ``unit`` second, both normalised (case, spaces, micro
sign). Anything we cannot convert raises :class:`UnitError` carrying a human reason; the caller
records that reason as an input problem and does not use the value.

Conversion factors (each cited where it is used):

* cholesterol (total, HDL, LDL): 1 mmol/L = 38.67 mg/dL (cholesterol molar mass 386.65 g/mol;
  NCEP ATP III Final Report 2002, Circulation 106:3143, converts mg/dL -> mmol/L x 0.0259 = 1/38.6).
* creatinine: 1 mg/dL = 88.42 umol/L (creatinine molar mass 113.12 g/mol; the 88.4 factor of
  Levey AS et al., Ann Intern Med 2009;150:604 (CKD-EPI), given to 4 significant figures).
* HbA1c: NGSP % = 0.09148 x IFCC mmol/mol + 2.152 (IFCC-NGSP master equation, Hoelzel W et al.,
  Clin Chem 2004;50:166-174; NGSP "IFCC-NGSP conversion", http://www.ngsp.org/ifccngsp.asp).
* length: 1 in = 2.54 cm exactly; mass: 1 lb = 0.45359237 kg exactly (International Yard and
  Pound Agreement, 1959).
* pressure: 1 mmHg = 133.322387415 Pa (conventional millimetre of mercury, BIPM SI Brochure
  9th ed. 2019, Table 8), so 1 kPa = 7.50062 mmHg.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

from fhir_adapter.codes import UCUM

# Factors (see module docstring for sources).
CHOLESTEROL_MGDL_PER_MMOLL = 38.67
CREATININE_UMOLL_PER_MGDL = 88.42
HBA1C_NGSP_SLOPE = 0.09148
HBA1C_NGSP_INTERCEPT = 2.152
CM_PER_INCH = 2.54
KG_PER_POUND = 0.45359237
PA_PER_MMHG = 133.322387415

# Canonical units per quantity kind (matching the feature units in engine/inputs.py).
CANONICAL_UNIT: dict[str, str] = {
    "cholesterol": "mg/dL",
    "creatinine": "mg/dL",
    "hba1c": "%",
    "pressure": "mmHg",
    "bmi": "kg/m2",
    "egfr": "mL/min/1.73m2",
    "length": "cm",
    "mass": "kg",
}


class UnitError(ValueError):
    """A unit we cannot interpret or convert for this kind of quantity; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Converted:
    value: float  # in the canonical unit
    unit: str  # canonical unit
    original_value: float
    original_unit: str  # the recognised source unit, canonical spelling
    note: str | None = None  # "converted from 5.5 mmol/L" (None when no conversion happened)

    @property
    def converted(self) -> bool:
        return self.original_unit != self.unit


# Spelling variants -> one canonical spelling. Keys are already passed through _key().
_ALIASES: dict[str, str] = {
    "mg/dl": "mg/dL",
    "mg%": "mg/dL",
    "mmol/l": "mmol/L",
    "umol/l": "umol/L",
    "micromol/l": "umol/L",
    "mcmol/l": "umol/L",
    "g/l": "g/L",
    "mg/l": "mg/L",
    "%": "%",
    "percent": "%",
    "%{hb}": "%",
    "%{hba1c}": "%",
    "%{totalhgb}": "%",
    "mmol/mol": "mmol/mol",
    "mmol/mol{hb}": "mmol/mol",
    "mm[hg]": "mmHg",
    "mmhg": "mmHg",
    "kpa": "kPa",
    "kg/m2": "kg/m2",
    "kg/m^2": "kg/m2",
    "kg/(m2)": "kg/m2",
    "kg/(m.m)": "kg/m2",
    "ml/min/{1.73_m2}": "mL/min/1.73m2",
    "ml/min/1.73_m2": "mL/min/1.73m2",
    "ml/min/1.73m2": "mL/min/1.73m2",
    "ml/min/{1.73m2}": "mL/min/1.73m2",
    "ml/min/1.73m^2": "mL/min/1.73m2",
    "ml/min/1.73.m2": "mL/min/1.73m2",
    "ml/min/bsa": "mL/min/1.73m2",
    "ml/min": "mL/min",
    "cm": "cm",
    "m": "m",
    "mm": "mm",
    "[in_i]": "in",
    "[in_us]": "in",
    "in": "in",
    "inch": "in",
    "inches": "in",
    "kg": "kg",
    "g": "g",
    "[lb_av]": "lb",
    "lb": "lb",
    "lbs": "lb",
    "pound": "lb",
    "pounds": "lb",
}


def _key(unit: str) -> str:
    k = unit.strip().lower().replace(" ", "")
    # Both the micro sign (U+00B5) and Greek mu (U+03BC) appear in lab feeds.
    k = k.replace("\u00b5", "u").replace("\u03bc", "u").replace("\u00b2", "2")
    return k


def normalise_unit(unit: str | None) -> str | None:
    """Canonical spelling of a unit string, or None when we do not know it."""
    if not isinstance(unit, str) or not unit.strip():
        return None
    return _ALIASES.get(_key(unit))


def _linear(factor: float) -> tuple[Callable[[float], float], Callable[[float], float]]:
    return (lambda v: v * factor, lambda v: v / factor)


# kind -> source unit -> (to canonical, from canonical)
_CONVERSIONS: dict[str, dict[str, tuple[Callable[[float], float], Callable[[float], float]]]] = {
    "cholesterol": {
        "mg/dL": _linear(1.0),
        "mmol/L": _linear(CHOLESTEROL_MGDL_PER_MMOLL),
        "g/L": _linear(100.0),  # 1 g/L = 100 mg/dL (exact)
    },
    "creatinine": {
        "mg/dL": _linear(1.0),
        "umol/L": _linear(1.0 / CREATININE_UMOLL_PER_MGDL),
        "mmol/L": _linear(1000.0 / CREATININE_UMOLL_PER_MGDL),
        "mg/L": _linear(0.1),  # 1 mg/L = 0.1 mg/dL (exact)
    },
    "hba1c": {
        "%": _linear(1.0),
        "mmol/mol": (
            lambda v: HBA1C_NGSP_SLOPE * v + HBA1C_NGSP_INTERCEPT,
            lambda v: (v - HBA1C_NGSP_INTERCEPT) / HBA1C_NGSP_SLOPE,
        ),
    },
    "pressure": {
        "mmHg": _linear(1.0),
        "kPa": _linear(1000.0 / PA_PER_MMHG),
    },
    "bmi": {
        "kg/m2": _linear(1.0),
    },
    "egfr": {
        "mL/min/1.73m2": _linear(1.0),
        # Every eGFR LOINC code we read is defined per 1.73 m2 body-surface area, so a result
        # labelled plain "mL/min" under such a code is the normalised value with a shortened unit
        # (Synthea and several lab feeds do this). Accepted, with a note.
        "mL/min": _linear(1.0),
    },
    "length": {
        "cm": _linear(1.0),
        "m": _linear(100.0),
        "mm": _linear(0.1),
        "in": _linear(CM_PER_INCH),
    },
    "mass": {
        "kg": _linear(1.0),
        "g": _linear(0.001),
        "lb": _linear(KG_PER_POUND),
    },
}

# Display spellings for source units in notes.
_DISPLAY = {"umol/L": "\u00b5mol/L"}


def _fmt(value: float) -> str:
    return f"{value:g}"


def _check_number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnitError("value is not a number")
    v = float(value)
    if not math.isfinite(v):
        raise UnitError("value is not a finite number")
    return v


def to_canonical(value: object, unit: str | None, kind: str) -> Converted:
    """Convert ``value`` in ``unit`` (any known spelling) to the canonical unit of ``kind``."""
    if kind not in _CONVERSIONS:
        raise UnitError(f"unknown quantity kind {kind!r}")
    v = _check_number(value)
    if unit is None or not str(unit).strip():
        raise UnitError(f"no unit given; expected {CANONICAL_UNIT[kind]}")
    norm = normalise_unit(str(unit))
    table = _CONVERSIONS[kind]
    if norm is None or norm not in table:
        raise UnitError(f"unit '{unit}' cannot be converted to {CANONICAL_UNIT[kind]}")
    to_fn, _ = table[norm]
    canonical = CANONICAL_UNIT[kind]
    result = to_fn(v)
    if not math.isfinite(result):
        raise UnitError("conversion gave a non-finite number")
    note = None
    if norm != canonical:
        if kind == "egfr" and norm == "mL/min":
            note = "unit recorded as mL/min; read as mL/min/1.73m2 (the eGFR code is normalised to 1.73 m2)"
        else:
            note = f"converted from {_fmt(v)} {_DISPLAY.get(norm, norm)}"
    return Converted(value=result, unit=canonical, original_value=v, original_unit=norm, note=note)


def from_canonical(value: float, unit: str, kind: str) -> float:
    """Inverse of :func:`to_canonical`: a canonical value expressed in ``unit``."""
    if kind not in _CONVERSIONS:
        raise UnitError(f"unknown quantity kind {kind!r}")
    v = _check_number(value)
    norm = normalise_unit(unit)
    if norm is None or norm not in _CONVERSIONS[kind]:
        raise UnitError(f"unit '{unit}' is not a {kind} unit")
    return _CONVERSIONS[kind][norm][1](v)


def quantity_unit(quantity: Mapping) -> str | None:
    """The unit to use for a FHIR Quantity: a recognised UCUM code first, else the unit text.

    An unrecognised code falls through to the text so that e.g. a local code with a readable
    unit still works; if neither is recognised the raw code/text is returned for the error message.
    """
    code = quantity.get("code")
    text = quantity.get("unit")
    system = quantity.get("system")
    candidates: list[str] = []
    if isinstance(code, str) and code.strip() and (system in (None, UCUM)):
        candidates.append(code)
    if isinstance(text, str) and text.strip():
        candidates.append(text)
    if isinstance(code, str) and code.strip() and code not in candidates:
        candidates.append(code)
    for cand in candidates:
        if normalise_unit(cand) is not None:
            return cand
    return candidates[0] if candidates else None


def convert_quantity(quantity: Mapping | None, kind: str) -> Converted:
    """Convert a FHIR Quantity dict (``value``, ``unit``, ``system``, ``code``) to canonical units."""
    if not isinstance(quantity, Mapping):
        raise UnitError("no quantity value")
    if quantity.get("comparator"):
        # "<5" or ">60": a bound, not a measurement; using the bound would bias the calculation.
        raise UnitError(f"value is censored ('{quantity.get('comparator')}'); a bound is not a measurement")
    return to_canonical(quantity.get("value"), quantity_unit(quantity), kind)
