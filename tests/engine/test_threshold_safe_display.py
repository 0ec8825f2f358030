"""Threshold-safe display: a value shown at its display precision never lands on the other side of a threshold the
engine compared it with (engine.feature_catalog.display_value / threshold_safe_text), and the catalogue's cut points
are the engines' own thresholds (a threshold added to an engine table without the catalogue fails here)."""
from __future__ import annotations

import pytest

from engine.calculators import ada_risk, ckd_epi, kdigo_ckd, kfre, pce
from engine.calculators.common import band_cut_points, percent_text
from engine.detectors import anemia, diabetes, familial_hypercholesterolemia, hypertension, obesity
from engine.feature_catalog import FEATURES, display_value, feature_for_unit, feature_spec, threshold_safe_text


@pytest.mark.parametrize("name, value, shown", [
    ("bmi_kgm2", 29.996, "29.9"),  # not obese (WHO class 1 from 30.0, compared unrounded): never "30.0"
    ("egfr_mlmin173m2", 59.96, "59"),  # G3a: never "60" (G2 from 60)
    ("hba1c_pct", 6.449, "6.4"),  # below the ADA diabetes threshold 6.5 %
    ("hba1c_pct", 6.46, "6.4"),  # 47 mmol/mol: still below 6.5 % (48 mmol/mol)
    ("ldl_mgdl", 189.6, "189"),  # no severe hypercholesterolaemia (>= 190 mg/dL): never "190"
    ("sbp_mmhg", 180.4, "181"),  # a crisis (> 180, strictly): never "180"
    ("sbp_mmhg", 179.6, "180"),  # not a crisis, and 180 is not one either
    ("uacr_mgg", 29.6, "29"),  # A1: never "30" (A2)
    # Ordinary rounding wherever no threshold is crossed:
    ("bmi_kgm2", 30.04, "30.0"), ("bmi_kgm2", 29.94, "29.9"), ("egfr_mlmin173m2", 153.194, "153"),
    ("egfr_mlmin173m2", 60.4, "60"), ("hba1c_pct", 7.06, "7.1"), ("ldl_mgdl", 190.4, "190"),
    ("creatinine_mgdl", 1.514, "1.51"),
])
def test_a_shown_value_stays_on_the_engines_side_of_every_threshold(name, value, shown):
    assert display_value(name, value) == shown
    spec = feature_spec(name)
    for cut in spec.cut_points:
        assert (float(shown) >= cut) == (value >= cut), cut
    for cut in spec.strict_cut_points:
        assert (float(shown) > cut) == (value > cut), cut


def test_a_cut_point_off_the_display_grid_gets_the_decimals_it_needs():
    # Two cut points within one display step: "11" and "10" both cross one; 10.97 is shown as it is.
    assert threshold_safe_text(10.97, 0, (10.95, 11.0)) == "10.97"
    assert threshold_safe_text(11.46, 0, (11.5,)) == "11" and threshold_safe_text(11.5, 0, (11.5,)) == "12"


def test_a_risk_is_not_rounded_into_another_band():
    bands = pce.coefficients()["categories"]["bands"]
    assert band_cut_points(bands) == (5.0, 7.5, 20.0)
    assert percent_text(7.46, bands) == "7.4" and pce.risk_category(7.46) == "borderline"
    assert percent_text(4.97, bands) == "4.9" and percent_text(19.96, bands) == "19.9"
    assert percent_text(7.44, bands) == "7.4" and percent_text(12.36, bands) == "12.4"


def test_a_unit_names_its_feature_only_when_one_feature_has_it():
    assert feature_for_unit("mL/min/1.73m2").name == "egfr_mlmin173m2"
    assert feature_for_unit("kg/m2").name == "bmi_kgm2"
    assert feature_for_unit("mg/dL") is None and feature_for_unit("%") is None and feature_for_unit(None) is None


def _engine_thresholds() -> dict[str, tuple[set[float], set[float]]]:
    """Every threshold the engines compare a feature with, from their own tables: (>= cuts, > cuts) per feature."""
    out: dict[str, tuple[set[float], set[float]]] = {}

    def add(name, *cuts, strict=()):
        entry = out.setdefault(name, (set(), set()))
        entry[0].update(float(c) for c in cuts)
        entry[1].update(float(c) for c in strict)

    add("bmi_kgm2", *(low for _, low in obesity.CLASSES))
    add("bmi_kgm2", *(b["from_kgm2"] for b in ada_risk.coefficients()["points"]["bmi"] if b["from_kgm2"] > 0))
    add("egfr_mlmin173m2", *(b["min"] for b in ckd_epi.coefficients()["categories"]["bands"] if b["min"] is not None))
    add("egfr_mlmin173m2", kfre.coefficients()["applicability"]["egfr_below"])
    add("uacr_mgg", *(b["min_mgg"] for b in kdigo_ckd.coefficients()["albuminuria"]["bands"] if b["min_mgg"]))
    for name, limit in diabetes.DIABETES_THRESHOLDS.items():
        add(name, limit, *diabetes.PREDIABETES_RANGES[name])
    add("glucose_random_mgdl", diabetes.RANDOM_GLUCOSE_THRESHOLD)
    add("sbp_mmhg", hypertension.STAGE_1[0], hypertension.STAGE_2[0], hypertension.ELEVATED_SBP,
        strict=(hypertension.CRISIS[0],))
    add("dbp_mmhg", hypertension.STAGE_1[1], hypertension.STAGE_2[1], strict=(hypertension.CRISIS[1],))
    add("ldl_mgdl", familial_hypercholesterolemia.LDL_SEVERE_MGDL,
        *(low for low, _ in familial_hypercholesterolemia.DLCN_LDL_POINTS),
        pce.coefficients()["statin_benefit_groups"]["ldl_mgdl_from"])
    for group in (anemia.PREGNANT, anemia.WOMEN, anemia.MEN, anemia.CHILDREN_12_14, anemia.CHILDREN_5_11,
                  anemia.CHILDREN_6_59_MONTHS):
        add("hemoglobin_gdl", group.anaemia_below, group.mild_from, group.moderate_from)
    return out


@pytest.mark.parametrize("name", sorted(_engine_thresholds()))
def test_the_catalogue_lists_every_threshold_the_engines_compare_a_feature_with(name):
    cuts, strict = _engine_thresholds()[name]
    spec = feature_spec(name)
    assert cuts <= set(spec.cut_points), sorted(cuts - set(spec.cut_points))
    assert strict <= set(spec.strict_cut_points), sorted(strict - set(spec.strict_cut_points))


def test_cut_points_are_declared_on_quantities_with_a_display_precision():
    for spec in FEATURES:
        if spec.cut_points or spec.strict_cut_points:
            assert spec.display_decimals is not None, spec.name
            assert list(spec.cut_points) == sorted(set(spec.cut_points)), spec.name
