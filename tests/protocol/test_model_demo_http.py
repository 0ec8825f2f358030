"""The trained-model demonstration through its hook: a missing input gives a range, not a number."""
from __future__ import annotations

import copy
import json
import re

from tests.conftest import load_fixture

CHOLESTEROL_LOINC = "2093-3"


def post(client, body):
    return client.post("/cds-services/heart-disease-model-demo", data=json.dumps(body), content_type="application/json")


def test_a_missing_cholesterol_gives_a_range_and_says_why(app, client):
    app.config["ENABLE_DEMO_MODEL"] = True
    body = load_fixture("hooks/patient-view-prevent-example.json")
    (complete,) = post(client, body).get_json()["cards"]
    assert re.search(r": \d+\.\d %", complete["summary"])  # a point estimate when every input is there

    without = copy.deepcopy(body)
    entries = without["prefetch"]["observations"]["entry"]
    without["prefetch"]["observations"]["entry"] = [
        e for e in entries if e["resource"]["code"]["coding"][0]["code"] != CHOLESTEROL_LOINC]
    resp = post(client, without)
    assert resp.status_code == 200
    (card,) = resp.get_json()["cards"]
    low, high = (int(x) for x in re.search(r": (\d+)-(\d+) %", card["summary"]).groups())
    assert low < high
    assert "no point estimate: Total cholesterol missing" in card["summary"]
    assert "Total cholesterol missing: no point estimate" in card["detail"]
    # the inputs the record has still carry their contributions; the missing one has none
    contributions = card["detail"].split("Contributions (percentage points): ")[1].split(".")[0]
    assert "Systolic blood pressure" in contributions and "Total cholesterol" not in contributions
