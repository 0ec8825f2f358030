"""A database that cannot be opened for a reason outside SQLAlchemy (its data folder cannot be created: a file in its
place, a file as its parent, no permission) is a store failure like any other: 503 with an OperationOutcome where the
store is needed (authentication, feedback), never a 401 that blames the client's token, never a 500; a hook call still
answers with its cards (the audit record and the explainer evidence are best effort, docs/security.md)."""
from __future__ import annotations

import json
import logging
import pathlib

import pytest

from cds_hooks import audit
from cds_hooks.app import create_app
from cds_hooks.store import StoreUnavailable, store_of
from tests.conftest import TEST_AS_OF, CheckedClient, load_fixture
from tests.security.jwt_helpers import ISSUER, PUBLIC_BASE, Signer, auth_config, bearer, issuer_config

DISCOVERY = "/cds-services"
SERVICE = "/cds-services/cardiovascular-risk"
FEEDBACK = SERVICE + "/feedback"
FEEDBACK_BODY = {"feedback": [{"card": "9b3b6b1e-1b8a-4c3e-9f0e-6b2a1c4d5e6f", "outcome": "overridden",
                               "outcomeTimestamp": "2026-06-01T10:00:00Z"}]}


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer("ES384", kid="es-store")


@pytest.fixture(params=["file-in-its-place", "file-as-its-parent", "no-permission"])
def unusable_data_dir(request, tmp_path, monkeypatch) -> str:
    """A DATA_DIR the store cannot create. Tests may run as root, who may write anywhere: 'no permission' is the
    PermissionError the operating system raises for anyone else, raised by mkdir."""
    if request.param == "file-in-its-place":
        taken = tmp_path / "var"
        taken.write_text("not a folder")
        return str(taken)
    if request.param == "file-as-its-parent":
        (tmp_path / "parent").write_text("not a folder")
        return str(tmp_path / "parent" / "var")

    def refused(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "mkdir", refused)
    return str(tmp_path / "var")


def assert_503_outcome(resp) -> None:
    assert resp.status_code == 503, (resp.status_code, resp.data[:300])
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "transient"


def post_json(client, url, body, headers=None):
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers or {})


@pytest.mark.parametrize("method, url", [("get", DISCOVERY), ("post", SERVICE), ("post", FEEDBACK)])
def test_authenticated_calls_are_503_not_401(unusable_data_dir, signer, method, url):
    app = create_app(auth_config(unusable_data_dir, {ISSUER: issuer_config(signer)}))
    client = CheckedClient(app.test_client())
    headers = bearer(signer.token(PUBLIC_BASE + url))
    if method == "get":
        resp = client.get(url, headers=headers)
    else:
        body = FEEDBACK_BODY if url == FEEDBACK else load_fixture("hooks/patient-view-prefetch.json")
        resp = post_json(client, url, body, headers)
    assert_503_outcome(resp)


def test_dev_mode_feedback_is_503(unusable_data_dir):
    app = create_app({"DEV_MODE": True, "WARM_MODELS": False, "AS_OF": TEST_AS_OF, "DATA_DIR": unusable_data_dir})
    assert_503_outcome(post_json(CheckedClient(app.test_client()), FEEDBACK, FEEDBACK_BODY))


def test_dev_mode_hook_still_answers_with_cards_and_logs_the_store_failure(unusable_data_dir, caplog):
    app = create_app({"DEV_MODE": True, "WARM_MODELS": False, "AS_OF": TEST_AS_OF, "DATA_DIR": unusable_data_dir})
    with caplog.at_level(logging.ERROR):
        resp = post_json(CheckedClient(app.test_client()), SERVICE, load_fixture("hooks/patient-view-prefetch.json"))
    assert resp.status_code == 200 and resp.get_json()["cards"]
    cards = resp.get_json()["cards"]
    assert not any("/explain/" in link["url"] for card in cards for link in card.get("links", []))
    messages = [r.getMessage() for r in caplog.records]
    assert not audit.flush(app)  # the batched writer keeps the record queued and says so
    messages = [r.getMessage() for r in caplog.records]
    assert any("audit records not written yet (StoreUnavailable)" in m for m in messages), messages
    assert any("explainer evidence not stored (StoreUnavailable)" in m for m in messages), messages


def test_the_store_says_unavailable_and_recovers_once_the_folder_can_be_made(tmp_path):
    taken = tmp_path / "var"
    taken.write_text("not a folder")
    app = create_app({"DEV_MODE": True, "WARM_MODELS": False, "DATA_DIR": str(taken)})
    with pytest.raises(StoreUnavailable, match="FileExistsError"):
        store_of(app).audit_events()
    taken.unlink()
    assert store_of(app).audit_events() == []


def test_a_store_failure_no_endpoint_handles_is_503_not_500(tmp_path):
    app = create_app({"DEV_MODE": True, "WARM_MODELS": False, "DATA_DIR": str(tmp_path)})

    def unhandled():
        raise StoreUnavailable("the database cannot be opened (OSError)")

    app.add_url_rule("/store-probe", view_func=unhandled)
    assert_503_outcome(app.test_client().get("/store-probe"))


def test_the_feedback_report_says_the_database_cannot_be_read(tmp_path):
    from click.testing import CliRunner

    from cds_hooks.cli import main

    taken = tmp_path / "var"
    taken.write_text("not a folder")
    result = CliRunner().invoke(main, ["feedback-report"], env={"CDS_DATA_DIR": str(taken), "CDS_DATABASE_URL": ""})
    assert result.exit_code == 1
    assert "the feedback database cannot be read (StoreUnavailable" in result.output
    assert "Traceback" not in result.output
