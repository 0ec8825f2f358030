"""Unit normalisation and conversion to the canonical units of the features (engine/feature_catalog.py).

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
* glucose: 1 mmol/L = 18.016 mg/dL (glucose C6H12O6 molar mass 180.16 g/mol from IUPAC standard
  atomic weights; the factor used by the ADA Standards of Care tables, 126 mg/dL = 7.0 mmol/L).
* urine albumin/creatinine ratio: 1 mg/mmol = 8.842 mg/g, i.e. 1000 mg per g divided by the
  creatinine molar mass 113.1 g/mol implied by the 88.42 umol/L per mg/dL factor above (KDIGO 2012
  CKD guideline, Kidney Int Suppl 2013;3:1, Table 5: 3 mg/mmol ~ 30 mg/g, 30 mg/mmol ~ 300 mg/g).
* haemoglobin: 1 mmol/L (Hb monomer) = 1.6114 g/dL (monomer molar mass 16 114.5 g/mol; the ICSH /
  IFCC convention, conventional factor g/dL x 0.6206 = mmol/L); 1 g/L = 0.1 g/dL exactly.
* total bilirubin: 1 mg/dL = 17.1 umol/L (bilirubin molar mass 584.66 g/mol; the conventional SI
  conversion factor, e.g. AMA Manual of Style SI conversion table).
* cystatin C: 1 mg/dL = 10 mg/L, 1 ug/mL = 1 mg/L (exact).
* enzyme activity (AST, ALT): 1 U = 1 umol/min (IUB 1961) and 1 kat = 1 mol/s (SI 1999), so
  1 ukat/L = 60 U/L exactly; IU/L is the same unit as U/L.
* counts: 10^3/uL = 10^9/L exactly (1 L = 10^6 uL); a plain per-microlitre count is divided by 1000.
* temperature: degC = (degF - 32) x 5/9 and degC = K - 273.15 (exact, SI definitions).
* oxygen: FiO2 as a fraction x 100 = percent; flow 1 L/min = 1000 mL/min (exact).
* time: 1 h = 60 min (exact).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

from engine.quick_init import quick_init
from fhir_adapter.codes import UCUM

# Factors (see module docstring for sources).
CHOLESTEROL_MGDL_PER_MMOLL = 38.67
CREATININE_UMOLL_PER_MGDL = 88.42
HBA1C_NGSP_SLOPE = 0.09148
HBA1C_NGSP_INTERCEPT = 2.152
CM_PER_INCH = 2.54
KG_PER_POUND = 0.45359237
PA_PER_MMHG = 133.322387415
GLUCOSE_MGDL_PER_MMOLL = 18.016
UACR_MGG_PER_MGMMOL = CREATININE_UMOLL_PER_MGDL / 10.0  # 8.842: 1000 / (creatinine 113.1 g/mol)
HEMOGLOBIN_GDL_PER_MMOLL = 1.6114
BILIRUBIN_UMOLL_PER_MGDL = 17.1
UL_PER_UKATL = 60.0

# Canonical units per quantity kind: each is the unit of the features declared with that kind in
# engine/feature_catalog.py (tests/adapter/test_feature_spec.py checks they agree).
CANONICAL_UNIT: dict[str, str] = {
    "cholesterol": "mg/dL",
    "creatinine": "mg/dL",
    "hba1c": "%",
    "pressure": "mmHg",
    "bmi": "kg/m2",
    "egfr": "mL/min/1.73m2",
    "length": "cm",
    "mass": "kg",
    "glucose": "mg/dL",
    "uacr": "mg/g",
    "cystatin_c": "mg/L",
    "hemoglobin": "g/dL",
    "platelets": "10^9/L",
    "enzyme": "U/L",
    "bilirubin": "mg/dL",
    "ratio": "1",  # INR: dimensionless
    "score": "1",  # GCS: dimensionless points
    "rate": "/min",
    "temperature": "Cel",
    "percent": "%",
    "fio2": "%",
    "o2_flow": "L/min",
    "minutes_per_week": "min/wk",
    "minutes_per_day": "min/d",
    "days_per_week": "d/wk",
}

# Kinds whose values are dimensionless: a missing unit is accepted (INR and GCS are often sent without one).
UNITLESS_KINDS = frozenset({"ratio", "score"})


class UnitError(ValueError):
    """A unit we cannot interpret or convert for this kind of quantity; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@quick_init  # one per reading converted
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
    # Spellings of the same unit (identical by definition, so they map to the canonical spelling: no conversion note).
    "mg/g": "mg/g",
    "mg/g{creat}": "mg/g",
    "mg/g{creatinine}": "mg/g",
    "ug/mg": "mg/g",
    "ug/mg{creat}": "mg/g",
    "mcg/mg": "mg/g",
    "mg/mmol": "mg/mmol",
    "mg/mmol{creat}": "mg/mmol",
    "mg/mmol{creatinine}": "mg/mmol",
    "g/mol": "mg/mmol",
    "g/mol{creat}": "mg/mmol",
    "g/g": "g/g",
    "g/g{creat}": "g/g",
    "ug/ml": "mg/L",
    "mcg/ml": "mg/L",
    "g/dl": "g/dL",
    "10*9/l": "10^9/L",
    "10^9/l": "10^9/L",
    "x10^9/l": "10^9/L",
    "x10*9/l": "10^9/L",
    "10e9/l": "10^9/L",
    "g/l{cells}": "10^9/L",
    "/nl": "10^9/L",
    "10*3/ul": "10^9/L",
    "10^3/ul": "10^9/L",
    "x10^3/ul": "10^9/L",
    "x10*3/ul": "10^9/L",
    "10*3/mm3": "10^9/L",
    "10^3/mm3": "10^9/L",
    "k/ul": "10^9/L",
    "k/mm3": "10^9/L",
    "thou/ul": "10^9/L",
    "/ul": "/uL",
    "1/ul": "/uL",
    "/mm3": "/uL",
    "u/l": "U/L",
    "iu/l": "U/L",
    "[iu]/l": "U/L",
    "units/l": "U/L",
    "ukat/l": "ukat/L",
    "1": "1",
    "{inr}": "1",
    "inr": "1",
    "{ratio}": "1",
    "ratio": "1",
    "{index}": "1",
    "{score}": "1",
    "score": "1",
    "{points}": "1",
    "points": "1",
    "/min": "/min",
    "1/min": "/min",
    "{beats}/min": "/min",
    "{beat}/min": "/min",
    "beats/min": "/min",
    "beat/min": "/min",
    "bpm": "/min",
    "{breaths}/min": "/min",
    "{breath}/min": "/min",
    "breaths/min": "/min",
    "br/min": "/min",
    "{counts}/min": "/min",
    "permin": "/min",
    "cel": "Cel",
    "degc": "Cel",
    "\u00b0c": "Cel",
    "c": "Cel",
    "[degf]": "degF",
    "degf": "degF",
    "\u00b0f": "degF",
    "f": "degF",
    "k": "K",
    "l/min": "L/min",
    "lpm": "L/min",
    "liters/min": "L/min",
    "litres/min": "L/min",
    "min/wk": "min/wk",
    "min/(7.d)": "min/wk",
    "min/week": "min/wk",
    "h/wk": "h/wk",
    "min/d": "min/d",
    "min/(24.h)": "min/d",
    "min/day": "min/d",
    "h/d": "h/d",
    "d/wk": "d/wk",
    "d/(7.d)": "d/wk",
    "/wk": "d/wk",
    "{days}/wk": "d/wk",
    "days/week": "d/wk",
}


def _key(unit: str) -> str:
    k = unit.strip().lower().replace(" ", "")
    # Both the micro sign (U+00B5) and Greek mu (U+03BC) appear in lab feeds.
    k = k.replace("\u00b5", "u").replace("\u03bc", "u").replace("\u00b2", "2")
    return k


# Unit strings already normalised -> canonical spelling (None: unknown); a record repeats a few dozen. Bounded.
_NORMALISED: dict[str, str | None] = {}
_NORMALISED_MAX = 10_000


def normalise_unit(unit: str | None) -> str | None:
    """Canonical spelling of a unit string, or None when we do not know it."""
    if type(unit) is str:
        try:
            return _NORMALISED[unit]
        except KeyError:
            pass
    if not isinstance(unit, str) or not unit.strip():
        return None
    found = _ALIASES.get(_key(unit))
    if type(unit) is str and len(_NORMALISED) < _NORMALISED_MAX:
        _NORMALISED[unit] = found
    return found


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
    "glucose": {
        "mg/dL": _linear(1.0),
        "mmol/L": _linear(GLUCOSE_MGDL_PER_MMOLL),
        "g/L": _linear(100.0),
    },
    "uacr": {
        "mg/g": _linear(1.0),
        "mg/mmol": _linear(UACR_MGG_PER_MGMMOL),
        "g/g": _linear(1000.0),
    },
    "cystatin_c": {
        "mg/L": _linear(1.0),
        "mg/dL": _linear(10.0),
    },
    "hemoglobin": {
        "g/dL": _linear(1.0),
        "g/L": _linear(0.1),
        "mmol/L": _linear(HEMOGLOBIN_GDL_PER_MMOLL),
    },
    "platelets": {
        "10^9/L": _linear(1.0),
        "/uL": _linear(0.001),
    },
    "enzyme": {
        "U/L": _linear(1.0),
        "ukat/L": _linear(UL_PER_UKATL),
    },
    "bilirubin": {
        "mg/dL": _linear(1.0),
        "umol/L": _linear(1.0 / BILIRUBIN_UMOLL_PER_MGDL),
        "mg/L": _linear(0.1),
    },
    "ratio": {"1": _linear(1.0)},
    "score": {"1": _linear(1.0)},
    "rate": {"/min": _linear(1.0)},
    "temperature": {
        "Cel": _linear(1.0),
        "degF": (lambda v: (v - 32.0) * 5.0 / 9.0, lambda v: v * 9.0 / 5.0 + 32.0),
        "K": (lambda v: v - 273.15, lambda v: v + 273.15),
    },
    "percent": {"%": _linear(1.0)},
    "fio2": {
        "%": _linear(1.0),
        "1": _linear(100.0),  # a fraction (0.21-1.0)
    },
    "o2_flow": {
        "L/min": _linear(1.0),
        "mL/min": _linear(0.001),
    },
    "minutes_per_week": {
        "min/wk": _linear(1.0),
        "h/wk": _linear(60.0),
    },
    "minutes_per_day": {
        "min/d": _linear(1.0),
        "h/d": _linear(60.0),
    },
    "days_per_week": {"d/wk": _linear(1.0)},
}

# Display spellings for source units in notes.
_DISPLAY = {"umol/L": "\u00b5mol/L", "ukat/L": "\u00b5kat/L", "degF": "\u00b0F", "1": "(fraction)", "/uL": "/\u00b5L"}


def _fmt(value: float) -> str:
    return f"{value:g}"


def _check_number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnitError("value is not a number")
    try:
        v = float(value)
    except OverflowError:  # a JSON integer too large for a float (e.g. 10**400)
        raise UnitError("value is too large to be a measurement") from None
    if not math.isfinite(v):
        raise UnitError("value is not a finite number")
    return v


def to_canonical(value: object, unit: str | None, kind: str) -> Converted:
    """Convert ``value`` in ``unit`` (any known spelling) to the canonical unit of ``kind``."""
    if kind not in _CONVERSIONS:
        raise UnitError(f"unknown quantity kind {kind!r}")
    v = _check_number(value)
    norm, to_fn = _conversion(unit, kind)
    return _converted(v, norm, to_fn, kind)


def _conversion(unit: object, kind: str) -> tuple[str, Callable[[float], float]]:
    """The canonical spelling of ``unit`` and its conversion to the canonical unit of ``kind`` (a known kind)."""
    if unit is None or not str(unit).strip():
        if kind not in UNITLESS_KINDS:
            raise UnitError(f"no unit given; expected {CANONICAL_UNIT[kind]}")
        unit = "1"
    norm = normalise_unit(str(unit))
    table = _CONVERSIONS[kind]
    if norm is None or norm not in table:
        raise UnitError(f"unit '{unit}' cannot be converted to {CANONICAL_UNIT[kind]}")
    return norm, table[norm][0]


def _converted(v: float, norm: str, to_fn: Callable[[float], float], kind: str) -> Converted:
    canonical = CANONICAL_UNIT[kind]
    result = to_fn(v)
    if not math.isfinite(result):
        raise UnitError("conversion gave a non-finite number")
    # Positional (value, unit, original_value, original_unit, note): one per reading.
    return Converted(result, canonical, v, norm, None if norm == canonical else _conversion_note(v, norm, kind))


def _conversion_note(v: float, norm: str, kind: str) -> str:
    """The note of a value ``v`` read in ``norm``, a unit other than the canonical one of ``kind``."""
    if kind == "egfr" and norm == "mL/min":
        return "unit recorded as mL/min; read as mL/min/1.73m2 (the eGFR code is normalised to 1.73 m2)"
    return f"converted from {_fmt(v)} {_DISPLAY.get(norm, norm)}"


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
    return _unit_of(quantity.get("code"), quantity.get("unit"), quantity.get("system"))


def _unit_of(code: object, text: object, system: object) -> str | None:
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
    if type(quantity) is not dict and not isinstance(quantity, Mapping):  # the exact type first: the ABC is slow
        raise UnitError("no quantity value")
    return convert_parts(quantity.get("value"), quantity.get("unit"), quantity.get("system"), quantity.get("code"),
                         quantity.get("comparator"), kind)


def convert_parts(value: object, unit: object, system: object, code: object, comparator: object,
                  kind: str) -> Converted:
    """:func:`convert_quantity` of a Quantity given by its elements (a parsed reading's, without a dict made)."""
    if comparator:
        # "<5" or ">60": a bound, not a measurement; using the bound would bias the calculation.
        raise UnitError(f"value is censored ('{comparator}'); a bound is not a measurement")
    if kind not in _CONVERSIONS:
        raise UnitError(f"unknown quantity kind {kind!r}")
    v = _check_number(value)
    norm, to_fn = _quantity_conversion(code, unit, system, kind)
    return _converted(v, norm, to_fn, kind)


# (code, unit, system, kind) of the Quantities met -> the unit to read, in its canonical spelling, and its conversion,
# or why it cannot be converted: what quantity_unit and to_canonical work out from these four alone. A record writes
# a few dozen units, on hundreds of readings. Bounded.
_CONVERSION_OF: dict[tuple, tuple[str, Callable[[float], float]] | str] = {}
_CONVERSION_OF_MAX = 10_000


def _quantity_conversion(code: object, unit: object, system: object,
                         kind: str) -> tuple[str, Callable[[float], float]]:
    plain = ((code is None or type(code) is str) and (unit is None or type(unit) is str)
             and (system is None or type(system) is str))
    key = (code, unit, system, kind)
    found = _CONVERSION_OF.get(key) if plain else None
    if found is None:
        try:
            found = _conversion(_unit_of(code, unit, system), kind)
        except UnitError as err:
            found = err.reason
        if plain and len(_CONVERSION_OF) < _CONVERSION_OF_MAX:
            _CONVERSION_OF[key] = found
    if type(found) is str:
        raise UnitError(found)
    return found  # type: ignore[return-value]


def converted_value(value: object, unit: object, system: object, code: object, comparator: object,
                    kind: str) -> tuple[float, str | None] | None:
    """``(converted.value, converted.note)`` of :func:`convert_parts` for a reading whose unit was met before, without
    the Converted made; None for anything else (a unit not yet met, and whatever convert_parts would refuse), which
    the caller reads with convert_parts. Runs once per reading a quantity feature judges; ``tests/adapter/
    test_units.py`` checks it against convert_parts."""
    if comparator:
        return None
    value_type = type(value)
    if value_type is float:
        v = value
    elif value_type is int:  # bool is not (type, not isinstance)
        try:
            v = float(value)  # type: ignore[arg-type]
        except OverflowError:
            return None
    else:
        return None
    if not math.isfinite(v):
        return None
    try:
        found = _CONVERSION_OF.get((code, unit, system, kind))
    except TypeError:  # an unhashable element: not what a parsed Quantity holds
        return None
    if found is None or type(found) is str:
        return None
    norm, to_fn = found  # type: ignore[misc]
    result = to_fn(v)
    if not math.isfinite(result):
        return None
    return result, (None if norm == CANONICAL_UNIT[kind] else _conversion_note(v, norm, kind))
