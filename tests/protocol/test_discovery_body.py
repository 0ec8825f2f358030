"""GET /cds-services answers a body encoded once per set of services shown, the very bytes jsonify made each time."""
from __future__ import annotations

from flask import jsonify

from cds_hooks import discovery
from cds_hooks.app import create_app
from cds_hooks.discovery import discovery_document


def _app(tmp_path, **config):
    return create_app({"AS_OF": "2026-06-01", "TESTING": True, "DEV_MODE": True, "DATA_DIR": str(tmp_path), **config})


def test_discovery_body_is_the_encoded_document_and_follows_a_setting_changed_later(tmp_path):
    app = _app(tmp_path)
    client = app.test_client()
    first = client.get("/cds-services")
    with app.app_context():
        expected = jsonify(discovery_document(app.config))
    assert first.status_code == 200 and first.get_data() == expected.get_data()
    assert first.headers["Content-Type"] == expected.headers["Content-Type"]
    assert first.headers["Content-Length"] == expected.headers["Content-Length"]
    assert client.get("/cds-services").get_data() == first.get_data()  # from the cache: the same bytes

    app.config["ENABLE_DEMO_MODEL"] = not app.config.get("ENABLE_DEMO_MODEL")  # after start-up: shows at once
    changed = client.get("/cds-services")
    with app.app_context():
        assert changed.get_data() == jsonify(discovery_document(app.config)).get_data()
    assert changed.get_data() != first.get_data()
    assert len(app.extensions[discovery.BODIES]) == 2


def test_discovery_bodies_are_bounded(tmp_path, monkeypatch):
    app = _app(tmp_path)
    monkeypatch.setattr(discovery, "MAX_BODIES", 1)
    client = app.test_client()
    for on in (True, False, True):
        app.config["ENABLE_DEMO_MODEL"] = on
        body = client.get("/cds-services").get_data()
        with app.app_context():
            assert body == jsonify(discovery_document(app.config)).get_data()
        assert len(app.extensions[discovery.BODIES]) == 1
