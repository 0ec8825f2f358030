"""A genomic result that was sent but cannot be read is reported as such, through the HTTP hook: at order time the
card says the result on file could not be read (never "no result on file"), and on patient-view the summary card
names it instead of staying silent."""
from __future__ import annotations

import copy
import json

import pytest

from tests.conftest import FIXTURES

ORDER_FIXTURE = json.loads((FIXTURES / "hooks" / "order-select-pgx-clopidogrel.json").read_text())


def with_genotype_text(text: str) -> dict:
    body = copy.deepcopy(ORDER_FIXTURE)
    observation = body["prefetch"]["genomic_observations"]["entry"][0]["resource"]
    observation["valueCodeableConcept"] = {"text": text}
    return body


@pytest.mark.parametrize("text", ["CYP2C19 garbage/??", "CYP2C19 *2/*2/*3"])
def test_an_unreadable_result_is_not_called_no_result(client, text):
    resp = client.post("/cds-services/pharmacogenomics-order-select", json=with_genotype_text(text))
    assert resp.status_code == 200
    [card] = resp.get_json()["cards"]
    assert "not readable" in card["summary"] and "No CYP2C19 result" not in card["summary"]
    assert "could not be read" in card["detail"]
    assert card["indicator"] == "warning"


def test_the_readable_result_still_gives_the_cpic_card(client):
    resp = client.post("/cds-services/pharmacogenomics-order-select", json=ORDER_FIXTURE)
    cards = resp.get_json()["cards"]
    assert any("prasugrel or ticagrelor" in c["summary"] for c in cards)


def test_patient_view_names_a_result_it_could_not_read(client):
    body = with_genotype_text("CYP2C19 garbage/??")
    body["hook"] = "patient-view"
    body["context"] = {k: v for k, v in body["context"].items() if k in ("userId", "patientId", "encounterId")}
    resp = client.post("/cds-services/pharmacogenomics", json=body)
    assert resp.status_code == 200, resp.get_json()
    cards = resp.get_json()["cards"]
    assert len(cards) == 1 and "not read" in cards[0]["summary"] + cards[0]["detail"]
