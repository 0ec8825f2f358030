"""Review fixes of the cards (issue 9), through the HTTP hook as an EHR calls it, on the Synthea charts in
../shared/data/synthea (skipped when absent), each opened the day after its newest result as
tests/protocol/test_card_budget.py does."""
from __future__ import annotations

import json
import re

import pytest

from tests.conftest import SHARED_DATA
from tests.protocol.test_card_budget import app_client, chart_cards, chart_date

SYNTHEA = SHARED_DATA / "synthea"


def chart(tmp_path, name: str) -> list[tuple[str, dict]]:
    paths = sorted(SYNTHEA.glob(f"{name}_*.json")) if SYNTHEA.is_dir() else []
    if not paths:
        pytest.skip(f"Synthea chart {name} is absent")
    resources = [e["resource"] for e in json.loads(paths[0].read_text())["entry"]]
    return chart_cards(app_client(tmp_path, chart_date(resources)), resources)


def only(cards, prefix: str) -> dict:
    [found] = [c for _, c in cards if c["summary"].startswith(prefix)]
    return found


# -- 1. a discordant lab-reported eGFR gives way to CKD-EPI 2021 -------------------------------------------------------
@pytest.mark.parametrize("name, shown, lab, category", [("Angelic_Mueller", 18, 65, "G4"),
                                                         ("Dirk_Kuhlman", 56, 79, "G3a")])
def test_a_discordant_lab_egfr_gives_way_to_ckd_epi_2021_on_every_card(tmp_path, name, shown, lab, category):
    cards = chart(tmp_path, name)
    egfr = only(cards, "eGFR (CKD-EPI 2021 creatinine, race-free)")
    assert egfr["summary"].endswith(f": {shown} mL/min/1.73m2 ({category})")
    line = [x for x in egfr["detail"].splitlines() if x.strip()][1]
    assert line.startswith(f"Lab-reported eGFR {lab} vs CKD-EPI 2021 {shown} ({category})")
    assert line.endswith("or a data error.") and "…" not in line
    for _, card in cards:
        assert f"eGFR {lab} " not in card["detail"].replace(f"Lab-reported eGFR {lab} ", "")


# -- 5. a single-reading BP recheck is not a diagnosis -----------------------------------------------------------------
def test_a_single_reading_recheck_orders_with_elevated_bp_as_the_reason(tmp_path):
    cards = chart(tmp_path, "Abdul_Koepp")  # one office reading of 130/86 mmHg
    recheck = only(cards, "Blood pressure to recheck")
    [action] = [a for s in recheck["suggestions"] for a in s["actions"]
                if a["resource"]["resourceType"] == "ServiceRequest"]
    request = action["resource"]
    codings = [c for rc in request["reasonCode"] for c in rc.get("coding", [])]
    assert [(c["system"], c["code"]) for c in codings] == [("http://snomed.info/sct", "371622005")]
    text = json.dumps(request) + action["description"]
    assert "38341003" not in text and "confirms the diagnosis" not in text
    assert "Elevated blood pressure" in text


# -- 3. an implausible HbA1c is not used; a PREVENT variant shows the input it adds -----------------------------------
def test_an_hba1c_below_the_physiological_floor_is_not_used(tmp_path):
    cards = chart(tmp_path, "Dirk_Kuhlman")  # HbA1c 3.01 % with diabetes: a unit or lab error
    variants = [c for _, c in cards if c["summary"].startswith("PREVENT 10-year with")]
    assert variants and all("HbA1c" not in c["summary"] for c in variants)
    assert not any("HbA1c 3.0" in c["detail"] for _, c in cards)


def test_a_prevent_variant_card_shows_the_inputs_it_adds(tmp_path):
    variant = only(chart(tmp_path, "Silvana_Cremin"), "PREVENT 10-year with UACR and HbA1c")
    based_on = next(x for x in variant["detail"].splitlines() if x.startswith("**Based on:**"))
    assert "ACR 7 mg/g" in based_on and "HbA1c 5.9 %" in based_on


# -- 2. PCE vs PREVENT: like with like, on both cards -----------------------------------------------------------------
def test_pce_and_prevent_cards_compare_ascvd_with_ascvd_when_categories_differ(tmp_path):
    cards = chart(tmp_path, "Zula_Beer")  # PCE 6.8 % (borderline), PREVENT 10-year ASCVD 4.0 % (low)
    line = ("PREVENT 10-year ASCVD 4.0 % (low) vs PCE 6.8 % (borderline): PREVENT is recalibrated to contemporary "
            "cohorts and omits race (Khan 2024).")
    assert line in only(cards, "10-year ASCVD risk (Pooled Cohort Equations)")["detail"].splitlines()
    assert line in only(cards, "10-year cardiovascular risk (AHA PREVENT)")["detail"].splitlines()


@pytest.mark.parametrize("name", ["Dirk_Kuhlman", "Silvana_Cremin"])
def test_a_prevent_headline_in_another_category_than_the_pce_is_explained(tmp_path, name):
    cards = chart(tmp_path, name)
    # Both have diabetes: the statin it calls for is on one card with both estimates, PREVENT beside the PCE with the
    # line that explains why its headline is in another band (docs/treatment.md).
    pce = only(cards, "10-year ASCVD risk (Pooled Cohort Equations)")
    assert not [c for _, c in cards if c["summary"].startswith("10-year cardiovascular risk (AHA PREVENT)")]
    [prevent] = [line for line in pce["detail"].splitlines() if line.startswith("**Also:** 10-year cardiovascular")]
    band = lambda text: re.search(r"\d %\s\((\w+)\)", text).group(1)  # noqa: E731 - "5.4 % (borderline)"
    assert band(pce["summary"]) != band(prevent)
    assert "are both" in prevent and "total CVD also counts heart failure" in prevent


# -- 8 / 10. fewer cards: no KDIGO card without a CKD criterion; the KFRE joins the KDIGO card (one condition) --------
def test_kdigo_g1_a1_without_ckd_criteria_is_not_a_card(tmp_path):
    cards = chart(tmp_path, "Silvana_Cremin")  # eGFR 93 (G1), UACR 7 mg/g (A1)
    assert not [c for _, c in cards if c["summary"].startswith("CKD stage and risk")]


def test_the_kfre_and_the_kdigo_stage_share_one_card(tmp_path):
    cards = chart(tmp_path, "Dirk_Kuhlman")  # eGFR 56 (G3a), UACR 9 mg/g (A1)
    kdigo = only(cards, "CKD stage and risk (KDIGO 2012 GFR and albuminuria categories): G3a A1")
    assert "**Also:** Kidney failure risk (KFRE, 4-variable): 0.4 % (low)" in kdigo["detail"]
    assert not [c for _, c in cards if c["summary"].startswith("Kidney failure risk")]
    assert len(cards) <= 7
