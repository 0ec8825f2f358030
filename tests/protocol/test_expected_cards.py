"""The cards each fixture hook request must produce, kept in fixtures/expected/ and compared field by field.

The expected files were reviewed by hand against the published examples (e.g. PCE 5.4 % for the Goff 2013 white
man, PREVENT 14.7 / 9.2 / 8.1 % for the Khan 2024 woman). After a deliberate change to card wording, regenerate them
with ``python -m tests.protocol.test_expected_cards`` and review the diff before committing.
"""
from __future__ import annotations

import json

import pytest

from cds_hooks.app import create_app
from tests.conftest import FIXTURES, TEST_AS_OF

CASES = {
    "patient-view-prefetch": "cardiovascular-risk",
    "patient-view-prevent-example": "cardiovascular-risk",
    "patient-view-null-prefetch": "cardiovascular-risk",
    "patient-view-missing-lipids": "cardiovascular-risk",
    "patient-view-risk-scores": "risk-scores",
    "patient-view-diagnosis-gaps": "diagnosis-gaps",
    "encounter-start-acute-scores": "acute-deterioration-scores",
    "patient-view-pharmacogenomics": "pharmacogenomics",
    "order-select-pgx-clopidogrel": "pharmacogenomics-order-select",
}
EXPECTED = FIXTURES / "expected"


def card_essentials(card: dict) -> dict:
    """What a clinician sees at a glance and what the EHR acts on; detail markdown is checked by other tests."""
    out = {"summary": card["summary"], "indicator": card["indicator"], "source": card["source"]["label"]}
    if "suggestions" in card:
        out["suggestions"] = [s["label"] for s in card["suggestions"]]
        out["resources"] = [a["resource"]["resourceType"] if "resource" in a else a["resourceId"]
                            for s in card["suggestions"] for a in s["actions"]]
        out["selectionBehavior"] = card["selectionBehavior"]
    if "overrideReasons" in card:
        out["overrideReasons"] = [r["code"] for r in card["overrideReasons"]]
    return out


def cards_for(client, fixture: str, service_id: str) -> list[dict]:
    body = (FIXTURES / "hooks" / f"{fixture}.json").read_text()
    resp = client.post(f"/cds-services/{service_id}", data=body, content_type="application/json")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return [card_essentials(c) for c in resp.get_json()["cards"]]


@pytest.mark.parametrize("fixture, service_id", sorted(CASES.items()))
def test_fixture_produces_the_expected_cards(client, fixture, service_id):
    expected = json.loads((EXPECTED / f"{fixture}.cards.json").read_text())
    assert cards_for(client, fixture, service_id) == expected


def regenerate() -> None:
    client = create_app({"AS_OF": TEST_AS_OF, "DEV_MODE": True, "WARM_MODELS": False}).test_client()
    EXPECTED.mkdir(exist_ok=True)
    for fixture, service_id in sorted(CASES.items()):
        cards = cards_for(client, fixture, service_id)
        (EXPECTED / f"{fixture}.cards.json").write_text(json.dumps(cards, indent=2, ensure_ascii=False) + "\n")
        print(f"{fixture}: {len(cards)} cards")


if __name__ == "__main__":
    regenerate()
