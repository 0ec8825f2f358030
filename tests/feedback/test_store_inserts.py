"""The store's "insert unless already there", on SQLite and on PostgreSQL (the ``database`` fixture): whether a row
was new drives JWT replay detection, order-time alerts shown once, and feedback idempotency."""
from __future__ import annotations

import time

from tests.feedback.conftest import feedback_app
from tests.feedback.test_order_time_http import ON_WARFARIN, SIGN
from tests import order_requests as orders
from tests.protocol.test_order_checks_http import IBUPROFEN


def test_a_jwt_id_is_new_once(database):
    store = database.store()
    expires = time.time() + 300
    assert store.remember_jti("https://ehr.example.org", "jti-1", expires) is True
    assert store.remember_jti("https://ehr.example.org", "jti-1", expires) is False
    assert store.remember_jti("https://ehr.example.org", "jti-2", expires) is True


def test_an_order_alert_is_new_once_until_its_time_runs_out(database):
    store = database.store()
    assert store.first_alerts(["a", "b"], 3600) == {"a", "b"}
    assert store.first_alerts(["a", "c"], 3600) == {"c"}
    assert store.first_alerts(["gone"], -1) == {"gone"}
    assert store.first_alerts(["gone"], 3600) == {"gone"}  # the first one had run out


def test_the_first_order_sign_call_shows_its_warning(database, clock):
    client = feedback_app(database, clock).test_client()
    body = orders.order_request("order-sign", [orders.draft("d1", *IBUPROFEN, amount=400, per_day=3)],
                                record=ON_WARFARIN)
    first = client.post(SIGN, json=body).get_json()["cards"]
    assert any("warfarin" in c["summary"].lower() for c in first)
    assert client.post(SIGN, json=body).get_json()["cards"] == []  # shown once per draft (ORDER_ALERT_TTL_S)
