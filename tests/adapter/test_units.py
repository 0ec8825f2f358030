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


# -- glucose: 1 mmol/L = 18.016 mg/dL (molar mass 180.16 g/mol; ADA 126 mg/dL = 7.0 mmol/L) ---------
@pytest.mark.parametrize("mmol, mgdl", [(7.0, 126.112), (11.1, 199.98), (5.6, 100.89)])
def test_glucose_mmol_to_mgdl(mmol, mgdl):
    c = to_canonical(mmol, "mmol/L", "glucose")
    assert c.value == pytest.approx(mgdl, abs=0.01) and c.unit == "mg/dL"
    assert c.note == f"converted from {mmol:g} mmol/L"


def test_glucose_mgdl_to_mmol_matches_ada_table():
    # ADA Standards of Care: FPG 126 mg/dL = 7.0 mmol/L, 2-h OGTT 200 mg/dL = 11.1 mmol/L
    assert from_canonical(126, "mmol/L", "glucose") == pytest.approx(7.0, abs=0.01)
    assert from_canonical(200, "mmol/L", "glucose") == pytest.approx(11.1, abs=0.01)
    assert to_canonical(1.26, "g/L", "glucose").value == pytest.approx(126.0)


# -- UACR: 1 mg/mmol = 8.842 mg/g (creatinine 113.1 g/mol; KDIGO 3 mg/mmol ~ 30 mg/g) ---------------
@pytest.mark.parametrize("unit", ["mg/mmol", "mg/mmol{creat}", "g/mol{creat}"])
def test_uacr_mg_per_mmol_to_mg_per_g(unit):
    c = to_canonical(3.0, unit, "uacr")
    assert c.value == pytest.approx(26.53, abs=0.01)  # KDIGO rounds A2's lower bound to "3 mg/mmol ~ 30 mg/g"
    assert c.unit == "mg/g"


def test_uacr_both_ways_and_equivalent_spellings():
    assert from_canonical(300.0, "mg/mmol", "uacr") == pytest.approx(33.93, abs=0.01)
    assert to_canonical(33.93, "mg/mmol", "uacr").value == pytest.approx(300.0, abs=0.1)
    for unit in ("mg/g", "mg/g{creat}", "ug/mg", "ug/mg{creat}"):
        c = to_canonical(41, unit, "uacr")
        assert c.value == 41 and c.note is None
    assert to_canonical(0.03, "g/g", "uacr").value == pytest.approx(30.0)


# -- haemoglobin: 1 mmol/L (monomer) = 1.6114 g/dL; g/L / 10 --------------------------------------
def test_hemoglobin_conversions_both_ways():
    assert to_canonical(118, "g/L", "hemoglobin").value == pytest.approx(11.8)
    assert from_canonical(11.8, "g/L", "hemoglobin") == pytest.approx(118)
    # conventional factor g/dL x 0.6206 = mmol/L: 12 g/dL = 7.45 mmol/L
    assert from_canonical(12.0, "mmol/L", "hemoglobin") == pytest.approx(7.447, abs=0.005)
    assert to_canonical(7.45, "mmol/L", "hemoglobin").value == pytest.approx(12.0, abs=0.01)


# -- bilirubin: 1 mg/dL = 17.1 umol/L ----------------------------------------------------------------
@pytest.mark.parametrize("unit", ["umol/L", "\u00b5mol/L", "micromol/L"])
def test_bilirubin_umol_to_mgdl(unit):
    c = to_canonical(34.2, unit, "bilirubin")
    assert c.value == pytest.approx(2.0) and c.note == "converted from 34.2 \u00b5mol/L"


def test_bilirubin_mgdl_to_umol_and_mg_per_l():
    assert from_canonical(1.2, "umol/L", "bilirubin") == pytest.approx(20.52)
    assert to_canonical(12, "mg/L", "bilirubin").value == pytest.approx(1.2)


# -- cystatin C, enzymes, platelets -------------------------------------------------------------------
def test_cystatin_c_both_ways():
    assert to_canonical(0.14, "mg/dL", "cystatin_c").value == pytest.approx(1.4)
    assert from_canonical(1.4, "mg/dL", "cystatin_c") == pytest.approx(0.14)
    assert to_canonical(1.4, "ug/mL", "cystatin_c").value == 1.4


@pytest.mark.parametrize("unit", ["U/L", "IU/L", "[IU]/L", "u/l"])
def test_enzyme_units_are_the_same_unit(unit):
    c = to_canonical(40, unit, "enzyme")
    assert c.value == 40 and c.unit == "U/L" and c.note is None


def test_enzyme_microkatal_both_ways():
    # 1 U = 1 umol/min and 1 kat = 1 mol/s, so 1 ukat/L = 60 U/L
    assert to_canonical(0.5, "ukat/L", "enzyme").value == pytest.approx(30.0)
    assert from_canonical(30.0, "ukat/L", "enzyme") == pytest.approx(0.5)


@pytest.mark.parametrize("unit", ["10*9/L", "10^9/L", "10*3/uL", "10^3/\u00b5L", "K/uL", "/nL"])
def test_platelet_units_equal_to_10e9_per_litre(unit):
    c = to_canonical(250, unit, "platelets")
    assert c.value == 250 and c.unit == "10^9/L" and c.note is None


def test_platelets_per_microlitre_both_ways():
    assert to_canonical(250000, "/uL", "platelets").value == pytest.approx(250.0)
    assert from_canonical(250.0, "/mm3", "platelets") == pytest.approx(250000.0)


# -- vital signs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("unit", ["/min", "{beats}/min", "beats/min", "{breaths}/min", "bpm", "1/min"])
def test_rate_spellings(unit):
    assert to_canonical(88, unit, "rate").value == 88 and to_canonical(88, unit, "rate").note is None


@pytest.mark.parametrize("value, unit, celsius", [(98.6, "[degF]", 37.0), (101.3, "\u00b0F", 38.5),
                                                   (32, "degF", 0.0), (310.15, "K", 37.0), (37.2, "Cel", 37.2),
                                                   (37.2, "\u00b0C", 37.2)])
def test_temperature_both_ways(value, unit, celsius):
    assert to_canonical(value, unit, "temperature").value == pytest.approx(celsius)
    assert from_canonical(celsius, unit, "temperature") == pytest.approx(value)


def test_fio2_fraction_and_percent():
    assert to_canonical(0.4, "1", "fio2").value == pytest.approx(40.0)
    assert from_canonical(40.0, "1", "fio2") == pytest.approx(0.4)
    assert to_canonical(28, "%", "fio2").value == 28


def test_oxygen_flow_both_ways():
    assert to_canonical(2, "L/min", "o2_flow").value == 2
    assert to_canonical(500, "mL/min", "o2_flow").value == pytest.approx(0.5)
    assert from_canonical(0.5, "mL/min", "o2_flow") == pytest.approx(500)


@pytest.mark.parametrize("kind", ["ratio", "score"])
@pytest.mark.parametrize("unit", [None, "", "1", "{INR}", "{ratio}", "{score}"])
def test_unitless_kinds_accept_missing_unit(kind, unit):
    assert to_canonical(2.5, unit, kind).value == 2.5


def test_unitless_kind_rejects_a_real_unit():
    with pytest.raises(UnitError):
        to_canonical(2.5, "mg/dL", "ratio")


def test_activity_minutes_both_ways():
    assert to_canonical(2.5, "h/wk", "minutes_per_week").value == pytest.approx(150)
    assert from_canonical(150, "h/wk", "minutes_per_week") == pytest.approx(2.5)
    assert to_canonical(0.5, "h/d", "minutes_per_day").value == pytest.approx(30)
    assert to_canonical(5, "d/wk", "days_per_week").value == 5


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
    (7.0, "mmol/mol", "glucose", "cannot be converted to mg/dL"),
    (12, "g/L", "platelets", "cannot be converted"),
    (37, "mmHg", "temperature", "cannot be converted to Cel"),
    (90, None, "percent", "no unit"),
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


def _outcome(convert):
    try:
        return convert()
    except UnitError as err:
        return err.reason


_SPELLINGS = sorted({u for _, u in _UNITS} | {"mg/dl", "MMOL/L", "kg", "furlongs", "", " ", "/min", "%"})
_KINDS = sorted(units._CONVERSIONS) + ["not a kind"]


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(_KINDS), code=st.sampled_from([None, *_SPELLINGS]),
       text=st.sampled_from([None, *_SPELLINGS]), system=st.sampled_from([None, units.UCUM, "http://local"]),
       value=st.sampled_from([1, 2.5, -3.0, True, "7", None, float("inf")]))
def test_a_quantity_converts_as_its_unit_and_to_canonical_say_every_time(kind, code, text, system, value):
    """convert_quantity remembers what a code, unit and system come to for a kind: the same answer (or the same
    refusal) as quantity_unit and to_canonical work out, on the first reading and on the next ones."""
    quantity = {"value": value, "unit": text, "system": system, "code": code}
    expected = _outcome(lambda: to_canonical(value, units.quantity_unit(quantity), kind))
    assert _outcome(lambda: convert_quantity(quantity, kind)) == expected
    assert _outcome(lambda: convert_quantity(dict(quantity), kind)) == expected


# -- converted_value: convert_parts without the Converted, for units already met ----------------------------------
_KINDS = sorted(units._CONVERSIONS) + ["no such kind"]
_UNIT_TEXT = st.none() | st.sampled_from(["mg/dL", "mmol/L", "mg/dl", " ", "", "kg", "[lb_av]", "mL/min",
                                          "mL/min/{1.73_m2}", "%", "1", "cm", "[in_i]", "umol/L", "furlong"])


@settings(max_examples=400, deadline=None)
@given(value=st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
       unit=_UNIT_TEXT, code=_UNIT_TEXT, system=st.none() | st.sampled_from([UCUM, "http://example.org/units"]),
       comparator=st.none() | st.sampled_from(["", "<", ">="]), kind=st.sampled_from(_KINDS))
def test_converted_value_is_convert_parts_value_and_note(value, unit, code, system, comparator, kind):
    try:
        converted = units.convert_parts(value, unit, system, code, comparator, kind)
    except UnitError:
        converted = None
    fast = units.converted_value(value, unit, system, code, comparator, kind)  # the unit has now been met
    if converted is None:
        assert fast is None
    else:
        assert fast == (converted.value, converted.note)
        assert type(fast[0]) is type(converted.value)


def test_converted_value_leaves_a_unit_not_yet_met_to_convert_parts():
    units._CONVERSION_OF.pop(("mmol/L", "mmol/L", UCUM, "cholesterol"), None)
    assert units.converted_value(5.0, "mmol/L", UCUM, "mmol/L", None, "cholesterol") is None
    units.convert_parts(5.0, "mmol/L", UCUM, "mmol/L", None, "cholesterol")
    assert units.converted_value(5.0, "mmol/L", UCUM, "mmol/L", None, "cholesterol") == (
        pytest.approx(193.35), "converted from 5 mmol/L")
    assert units.converted_value(5.0, ["mmol/L"], UCUM, "mmol/L", None, "cholesterol") is None  # unhashable
