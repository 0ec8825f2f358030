"""Unit conversions: every conversion both ways, against published reference values."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_adapter import units
from fhir_adapter.units import UnitError, convert_quantity, from_canonical, normalise_unit, to_canonical

UCUM = "http://unitsofmeasure.org"


# -- cholesterol: 1 mmol/L = 38.67 mg/dL (NCEP ATP III 2002; molar mass 386.65 g/mol) ---------------
def test_cholesterol_mmol_to_mgdl():
    c = to_canonical(5.0, "mmol/L", "cholesterol")
    assert c.value == pytest.approx(193.35)
    assert c.unit == "mg/dL"
    assert c.note == "converted from 5 mmol/L"


def test_cholesterol_mgdl_to_mmol():
    # ATP III: 200 mg/dL total cholesterol = 5.17 mmol/L
    assert from_canonical(200.0, "mmol/L", "cholesterol") == pytest.approx(5.172, abs=0.001)


def test_cholesterol_g_per_litre_both_ways():
    assert to_canonical(2.0, "g/L", "cholesterol").value == pytest.approx(200.0)
    assert from_canonical(200.0, "g/L", "cholesterol") == pytest.approx(2.0)


def test_cholesterol_mgdl_is_identity_without_note():
    c = to_canonical(213, "mg/dL", "cholesterol")
    assert c.value == 213.0 and c.note is None and not c.converted


# -- creatinine: 1 mg/dL = 88.42 umol/L ----------------------------------------------------------
@pytest.mark.parametrize("unit", ["umol/L", "\u00b5mol/L", "\u03bcmol/L", "micromol/L", "umol/l"])
def test_creatinine_umol_to_mgdl_all_spellings(unit):
    c = to_canonical(88.42, unit, "creatinine")
    assert c.value == pytest.approx(1.0)
    assert c.note == "converted from 88.42 \u00b5mol/L"


def test_creatinine_mgdl_to_umol():
    assert from_canonical(1.2, "umol/L", "creatinine") == pytest.approx(106.104)


def test_creatinine_mmol_and_mg_per_litre_both_ways():
    assert to_canonical(0.08842, "mmol/L", "creatinine").value == pytest.approx(1.0)
    assert from_canonical(1.0, "mmol/L", "creatinine") == pytest.approx(0.08842)
    assert to_canonical(9.0, "mg/L", "creatinine").value == pytest.approx(0.9)
    assert from_canonical(0.9, "mg/L", "creatinine") == pytest.approx(9.0)


# -- HbA1c: NGSP % = 0.09148 x IFCC mmol/mol + 2.152 (Hoelzel 2004; NGSP conversion table) -------
@pytest.mark.parametrize("mmol_mol, pct", [(42, 6.0), (48, 6.5), (53, 7.0), (64, 8.0), (75, 9.0)])
def test_hba1c_ifcc_to_ngsp_matches_published_table(mmol_mol, pct):
    # NGSP/IFCC table values are rounded to 0.1 %; the master equation reproduces them within 0.05.
    assert to_canonical(mmol_mol, "mmol/mol", "hba1c").value == pytest.approx(pct, abs=0.05)


def test_hba1c_exact_master_equation_both_ways():
    assert to_canonical(48, "mmol/mol", "hba1c").value == pytest.approx(0.09148 * 48 + 2.152)
    assert from_canonical(6.5, "mmol/mol", "hba1c") == pytest.approx((6.5 - 2.152) / 0.09148)
    assert from_canonical(6.5, "mmol/mol", "hba1c") == pytest.approx(47.5, abs=0.1)


def test_hba1c_percent_identity():
    assert to_canonical(6.1, "%", "hba1c").value == 6.1


# -- blood pressure ----------------------------------------------------------------------------
@pytest.mark.parametrize("unit", ["mm[Hg]", "mmHg", "mm Hg", "MMHG"])
def test_pressure_spellings(unit):
    c = to_canonical(120, unit, "pressure")
    assert c.value == 120 and c.unit == "mmHg" and c.note is None


def test_pressure_kpa_both_ways():
    # 1 mmHg = 133.322387415 Pa (BIPM SI Brochure 2019) -> 16 kPa = 120.01 mmHg
    assert to_canonical(16.0, "kPa", "pressure").value == pytest.approx(120.0102, abs=1e-3)
    assert from_canonical(120.0, "kPa", "pressure") == pytest.approx(15.9987, abs=1e-3)


# -- BMI, eGFR ------------------------------------------------------------------------------------
@pytest.mark.parametrize("unit", ["kg/m2", "kg/m^2", "kg/m\u00b2"])
def test_bmi_spellings_both_ways(unit):
    assert to_canonical(27.3, unit, "bmi").value == 27.3
    assert from_canonical(27.3, unit, "bmi") == 27.3


@pytest.mark.parametrize("unit", ["mL/min/{1.73_m2}", "mL/min/1.73m2", "mL/min/1.73 m2", "ml/min/1.73m^2"])
def test_egfr_spellings_both_ways(unit):
    c = to_canonical(64, unit, "egfr")
    assert c.value == 64 and c.unit == "mL/min/1.73m2" and c.note is None
    assert from_canonical(64, unit, "egfr") == 64


def test_egfr_plain_ml_min_is_accepted_with_note():
    c = to_canonical(71, "mL/min", "egfr")
    assert c.value == 71
    assert "read as mL/min/1.73m2" in c.note


# -- length and mass (exact definitions, 1959 international yard and pound) --------------------------
@pytest.mark.parametrize("value, unit, cm", [(1.75, "m", 175.0), (70, "[in_i]", 177.8), (70, "in", 177.8),
                                             (1750, "mm", 175.0), (175, "cm", 175.0)])
def test_length_both_ways(value, unit, cm):
    assert to_canonical(value, unit, "length").value == pytest.approx(cm)
    assert from_canonical(cm, unit, "length") == pytest.approx(value)


@pytest.mark.parametrize("value, unit, kg", [(154.32358352941, "[lb_av]", 70.0), (1, "lb", 0.45359237),
                                             (70000, "g", 70.0), (70, "kg", 70.0)])
def test_mass_both_ways(value, unit, kg):
    assert to_canonical(value, unit, "mass").value == pytest.approx(kg)
    assert from_canonical(kg, unit, "mass") == pytest.approx(value)


# -- errors ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, unit, kind, fragment", [
    (5.5, "mg", "cholesterol", "cannot be converted to mg/dL"),
    (120, "mg/dL", "pressure", "cannot be converted to mmHg"),
    (5.5, "%", "cholesterol", "cannot be converted"),
    (6.5, "mmol/L", "hba1c", "cannot be converted to %"),
    (5.5, None, "cholesterol", "no unit"),
    (5.5, "  ", "cholesterol", "no unit"),
    ("5.5", "mmol/L", "cholesterol", "not a number"),
    (True, "mg/dL", "cholesterol", "not a number"),
    (float("nan"), "mg/dL", "cholesterol", "finite"),
    (float("inf"), "mg/dL", "cholesterol", "finite"),
    (5.5, "mmol/L", "potassium", "unknown quantity kind"),
])
def test_unconvertible_raises_with_reason(value, unit, kind, fragment):
    with pytest.raises(UnitError) as err:
        to_canonical(value, unit, kind)
    assert fragment in err.value.reason


def test_from_canonical_rejects_foreign_unit():
    with pytest.raises(UnitError):
        from_canonical(120, "mg/dL", "pressure")


def test_normalise_unit_unknown_is_none():
    assert normalise_unit("furlongs") is None
    assert normalise_unit(None) is None
    assert normalise_unit("") is None


# -- FHIR Quantity -----------------------------------------------------------------------------------
def test_quantity_prefers_ucum_code_over_text():
    q = {"value": 5.5, "unit": "millimoles per litre", "system": UCUM, "code": "mmol/L"}
    assert convert_quantity(q, "cholesterol").value == pytest.approx(212.685)


def test_quantity_falls_back_to_text_when_code_unknown():
    q = {"value": 5.5, "unit": "mmol/L", "system": "http://local.example/units", "code": "MMOLL"}
    assert convert_quantity(q, "cholesterol").value == pytest.approx(212.685)


def test_quantity_text_only():
    assert convert_quantity({"value": 140, "unit": "mmHg"}, "pressure").value == 140


def test_quantity_censored_value_is_rejected():
    with pytest.raises(UnitError) as err:
        convert_quantity({"value": 60, "comparator": ">", "unit": "mL/min/{1.73_m2}"}, "egfr")
    assert "censored" in err.value.reason


def test_quantity_not_a_mapping():
    with pytest.raises(UnitError):
        convert_quantity(None, "pressure")


# -- round trips -------------------------------------------------------------------------------------
_UNITS = [(kind, unit) for kind, table in units._CONVERSIONS.items() for unit in table]


@settings(max_examples=200, deadline=None)
@given(pair=st.sampled_from(_UNITS), value=st.floats(min_value=0.01, max_value=10_000, allow_nan=False))
def test_round_trip_every_unit(pair, value):
    kind, unit = pair
    there = to_canonical(value, unit, kind).value
    back = from_canonical(there, unit, kind)
    assert math.isclose(back, value, rel_tol=1e-9, abs_tol=1e-9)
