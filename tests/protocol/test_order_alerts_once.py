"""An order-time alert is shown once per patient, drafted order and rule: not again at order-sign after order-select,
across gunicorn workers (one database), until ORDER_ALERT_TTL_S has passed; without the database, every alert is
shown."""
from __future__ import annotations

import json
import re
import time
from types import SimpleNamespace

from cds_hooks.app import create_app
from cds_hooks.config import load_config
from cds_hooks.evaluate import evaluate_document
from cds_hooks.store import order_alert, store_of
from tests import order_requests as o
from tests.conftest import TEST_AS_OF, CheckedClient

SELECT, SIGN = "order-select-safety", "order-sign-safety"
DABIGATRAN = o.draft("d1", "1037045", "dabigatran etexilate 150 MG Oral Capsule", amount=150, per_day=2)
RECORD = [o.creatinine(2.4), o.weight(72), o.atrial_fibrillation()]  # CrCl 25 mL/min: 75 mg twice daily


def new_client(data_dir=None, **config) -> CheckedClient:
    where = {"DATA_DIR": str(data_dir)} if data_dir is not None else {}
    return CheckedClient(create_app({"AS_OF": TEST_AS_OF, "DEV_MODE": True, "WARM_MODELS": False, **where,
                                     **config}).test_client())


def summaries(client, service: str, body: dict) -> list[str]:
    resp = client.post(f"/cds-services/{service}", json=body)
    assert resp.status_code == 200, resp.get_json()
    return [c["summary"] for c in resp.get_json()["cards"]]


def select_then_sign(drafts=(DABIGATRAN,), record=RECORD) -> tuple[dict, dict]:
    return (o.order_request("order-select", list(drafts), record=record),
            o.order_request("order-sign", list(drafts), record=record))


def test_an_alert_shown_at_order_select_is_not_repeated_at_order_sign(client):
    select, sign = select_then_sign()
    assert summaries(client, SELECT, select) == ["Dabigatran and kidney function: 75 mg twice daily (CrCl 25 mL/min)"]
    assert summaries(client, SIGN, sign) == []


def test_another_draft_or_another_patient_is_alerted_again(client):
    select, sign = select_then_sign()
    assert summaries(client, SELECT, select)
    renamed = json.loads(json.dumps(sign).replace('"d1"', '"d7"').replace("MedicationRequest/d1", "MedicationRequest/d7"))
    assert len(summaries(client, SIGN, renamed)) == 1
    other = json.loads(json.dumps(sign).replace(o.PATIENT_ID, "another-patient"))
    assert len(summaries(client, SIGN, other)) == 1


def test_a_new_problem_on_the_same_draft_is_still_alerted(client):
    """The memory is per rule: the dabigatran dose alert does not hide an interaction found later for the same
    draft."""
    select, _ = select_then_sign()
    assert summaries(client, SELECT, select)
    sign = o.order_request("order-sign", [DABIGATRAN],
                           record=[*RECORD, o.medication("m1", "855332", "warfarin sodium 5 MG Oral Tablet", amount=5)])
    assert [s.split(":")[0] for s in summaries(client, SIGN, sign)] == ["Duplicate therapy"]


WARFARIN = o.draft("d1", "855332", "warfarin sodium 5 MG Oral Tablet", amount=5)
IBUPROFEN = o.draft("d2", "310965", "Ibuprofen 200 MG Oral Tablet", amount=400, per_day=3)
ROSUVASTATIN = o.draft("d1", "859751", "rosuvastatin calcium 20 MG Oral Tablet", amount=20)
ATORVASTATIN = o.draft("d2", "617311", "atorvastatin 40 MG Oral Tablet", amount=40)


def test_an_interaction_between_two_drafts_is_one_alert_whichever_draft_reports_it(client):
    """Selected alone, warfarin reports its interaction with the drafted ibuprofen; at order-sign the ibuprofen (the
    side with the alternative) reports it: the same two drafts and rule, so not alerted again."""
    drafts = [WARFARIN, IBUPROFEN]
    select = o.order_request("order-select", drafts, selections=["MedicationRequest/d1"])
    assert [s.split(":")[0] for s in summaries(client, SELECT, select)] == ["Warfarin with ibuprofen"]
    assert summaries(client, SIGN, o.order_request("order-sign", drafts)) == []


def test_a_duplicate_of_two_drafts_is_one_alert_whichever_draft_reports_it(client):
    first = o.order_request("order-select", [ROSUVASTATIN, ATORVASTATIN], selections=["MedicationRequest/d2"])
    assert [s.split(":")[0] for s in summaries(client, SELECT, first)] == ["Duplicate therapy"]
    again = o.order_request("order-select", [ROSUVASTATIN, ATORVASTATIN], selections=["MedicationRequest/d1"])
    assert summaries(client, SELECT, again) == []
    assert summaries(client, SIGN, o.order_request("order-sign", [ROSUVASTATIN, ATORVASTATIN])) == []


def test_two_workers_sharing_the_database_alert_once(database):  # on SQLite and on PostgreSQL
    first, second = new_client(**database.settings), new_client(**database.settings)  # two processes' apps, one database
    select, sign = select_then_sign()
    assert len(summaries(first, SELECT, select)) == 1
    assert summaries(second, SIGN, sign) == []


def test_an_alert_is_shown_again_once_its_time_has_passed(database):
    # A second of memory: the first call also opens (and migrates) the database, a tenth of a second on a busy machine.
    client = new_client(**database.settings, ORDER_ALERT_TTL_S=1.0)
    select, sign = select_then_sign()
    assert len(summaries(client, SELECT, select)) == 1
    assert summaries(client, SIGN, sign) == []
    time.sleep(1.05)
    assert len(summaries(client, SIGN, sign)) == 1


def test_without_the_database_every_alert_is_shown(tmp_path, monkeypatch):
    client = new_client(tmp_path / "db")
    store = store_of(client.raw().application)

    def broken(*args, **kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr(store, "first_alerts", broken)
    monkeypatch.setattr(store, "shown_alerts", broken)
    select, sign = select_then_sign()
    assert len(summaries(client, SELECT, select)) == 1
    assert len(summaries(client, SIGN, sign)) == 1


def test_an_alert_left_out_by_the_card_limit_is_shown_on_the_next_call(tmp_path):
    """Only the alerts on the cards sent are remembered: with room for one card, two drafts' alerts come one per
    call, and then none."""
    client = new_client(tmp_path / "db", MAX_CARDS=1)
    metformin = o.draft("d2", "861004", "metformin hydrochloride 1000 MG Oral Tablet", amount=1000, per_day=2)
    sign = o.order_request("order-sign", [DABIGATRAN, metformin], record=RECORD)
    first, second = summaries(client, SIGN, sign), summaries(client, SIGN, sign)
    assert len(first) == 1 and len(second) == 1 and first != second
    assert summaries(client, SIGN, sign) == []


def test_an_alert_of_a_failed_response_is_shown_on_the_next_call(tmp_path, monkeypatch):
    client = new_client(tmp_path / "db", VALIDATE_RESPONSES=True)
    select, sign = select_then_sign()
    monkeypatch.setattr("cds_hooks.processing.validate_response", lambda response: [SimpleNamespace(pointer="/cards")])
    assert client.raw().post(f"/cds-services/{SELECT}", json=select).status_code == 500
    monkeypatch.undo()
    assert len(summaries(client, SIGN, sign)) == 1


def test_the_offline_evaluation_has_no_memory():
    config = load_config({"AS_OF": TEST_AS_OF})
    _, sign = select_then_sign()
    for _ in range(2):
        assert len(evaluate_document(sign, service_id=SIGN, config=config)["cards"]) == 1


def test_the_memory_stores_hashes_only(tmp_path):
    client = new_client(tmp_path / "db")
    select, _ = select_then_sign()
    summaries(client, SELECT, select)
    with store_of(client.raw().application).engine.connect() as conn:
        keys = [row.key for row in conn.execute(order_alert.select())]
    assert len(keys) == 1 and re.fullmatch(r"[0-9a-f]{64}", keys[0])
