"""A hook call's CORS headers are set in the view (cds_hooks.cors.add_hook_call_headers), from flask-cors's own
computation kept per Origin: they must be exactly those flask-cors's after-request step adds, header for header and
in the same order, whatever the origins configured and whatever the request says."""
from __future__ import annotations

import contextlib
import importlib
import json
import sys
import types

import flask_cors.core
import pytest

from cds_hooks import cors
from cds_hooks.app import create_app
from tests.conftest import load_fixture

SERVICE = "/cds-services/cardiovascular-risk"
CONFIGURED = {
    "dev mode, every origin": None,
    "one origin": ["https://ehr-ui.example.org"],
    "two origins": ["https://ehr-ui.example.org", "https://other.example.org/"],
    "a regex-like origin": [r"https://.*\.example\.org"],  # flask-cors adds Vary: Origin for it
}
APP_CORS_CONFIG = {  # flask-cors's own CORS_* settings, which it combines with ours
    "CORS_EXPOSE_HEADERS": ["X-Request-Id", "ETag"],
    "CORS_ALLOW_PRIVATE_NETWORK": True,
    "CORS_SUPPORTS_CREDENTIALS": False,
}
ASKED = {
    "no Origin": {},
    "a configured origin": {"Origin": "https://ehr-ui.example.org"},
    "the same, other case": {"Origin": "HTTPS://EHR-UI.example.org"},
    "the second origin": {"Origin": "https://other.example.org"},
    "another origin": {"Origin": "https://evil.example.org"},
    "an empty Origin": {"Origin": ""},
    "private network asked": {"Origin": "https://ehr-ui.example.org", "Access-Control-Request-Private-Network": "true"},
    "private network, no": {"Origin": "https://ehr-ui.example.org", "Access-Control-Request-Private-Network": "no"},
    "private network without Origin": {"Access-Control-Request-Private-Network": "true"},
}


def _app(tmp_path, origins, **more_config):
    config = {"DEV_MODE": True, "DATA_DIR": str(tmp_path), "WARM_MODELS": False, "AS_OF": "2026-06-01", **more_config}
    if origins is not None:
        config["CORS_ORIGINS"] = origins
    return create_app(config)


def _hook_headers(app, asked) -> list[tuple[str, str]]:
    body = json.dumps(load_fixture("hooks/patient-view-prefetch.json"))
    resp = app.test_client().post(SERVICE, data=body, content_type="application/json", headers=asked)
    assert resp.status_code == 200
    return list(resp.headers.items())


@pytest.mark.parametrize("configured", CONFIGURED.values(), ids=CONFIGURED.keys())
def test_a_hook_call_gets_exactly_the_headers_flask_cors_gives(tmp_path, configured):
    fast = _app(tmp_path / "fast", configured)
    slow = _app(tmp_path / "slow", configured)
    slow.extensions[cors.EXTENSION] = None  # flask-cors alone, as before
    assert fast.extensions[cors.EXTENSION] is not None
    for name, asked in ASKED.items():
        for _ in range(2):  # computed, then from the cache
            assert _hook_headers(fast, asked) == _hook_headers(slow, asked), name


@pytest.mark.parametrize("configured", CONFIGURED.values(), ids=CONFIGURED.keys())
def test_the_apps_own_cors_settings_are_applied_alike(tmp_path, configured):
    fast = _app(tmp_path / "fast", configured, **APP_CORS_CONFIG)
    slow = _app(tmp_path / "slow", configured, **APP_CORS_CONFIG)
    slow.extensions[cors.EXTENSION] = None
    exposed = _hook_headers(fast, ASKED["a configured origin"])
    assert ("Access-Control-Expose-Headers", "ETag, X-Request-Id") in exposed  # the setting does reach the answer
    for name, asked in ASKED.items():
        assert _hook_headers(fast, asked) == _hook_headers(slow, asked), name


@contextlib.contextmanager
def _reloaded_without_flask_cors_internals():
    """cds_hooks.cors imported as if flask-cors lacked the internals the shortcut uses (as flask-cors 4.0 does)."""
    bare = types.ModuleType("flask_cors.core")
    bare.__dict__.update({k: v for k, v in vars(flask_cors.core).items() if k != "try_match_pattern"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "flask_cors.core", bare)
        try:
            yield importlib.reload(cors)
        finally:
            patch.undo()
            importlib.reload(cors)


@pytest.mark.parametrize("configured", CONFIGURED.values(), ids=CONFIGURED.keys())
def test_without_flask_cors_internals_flask_cors_alone_gives_the_same_headers(tmp_path, configured):
    shortcut = _app(tmp_path / "shortcut", configured)
    expected = {name: _hook_headers(shortcut, asked) for name, asked in ASKED.items()}
    assert shortcut.extensions[cors.EXTENSION] is not None
    with _reloaded_without_flask_cors_internals() as bare:
        assert not bare.HAS_FLASK_CORS_INTERNALS
        plain = _app(tmp_path / "plain", configured)
        assert plain.extensions[bare.EXTENSION] is None
        for name, asked in ASKED.items():
            assert _hook_headers(plain, asked) == expected[name], name


def test_the_hook_call_route_is_the_one_the_shortcut_matches(tmp_path):
    app = _app(tmp_path, ["https://ehr-ui.example.org"])
    rules = [rule.rule for rule in app.url_map.iter_rules() if rule.endpoint == "hooks.call_service"]
    assert rules == [cors.HOOK_CALL_RULE]
    assert flask_cors.core.try_match_pattern(cors.HOOK_CALL_PATH, cors.RESOURCE)


def test_without_origins_nothing_is_added():
    from flask import Flask, Response

    app = Flask(__name__)
    app.config.update(CORS_ORIGINS=[], DEV_MODE=False)  # production without origins: no CORS at all
    cors.init_app(app)
    assert app.extensions[cors.EXTENSION] is None
    with app.test_request_context(SERVICE, method="POST", headers={"Origin": "https://ehr-ui.example.org"}):
        assert list(cors.add_hook_call_headers(Response("{}")).headers.keys()) == ["Content-Type", "Content-Length"]


def test_the_headers_are_kept_per_origin_in_a_bounded_cache(tmp_path):
    headers = _app(tmp_path, ["https://ehr-ui.example.org"]).extensions[cors.EXTENSION]
    for n in range(300):
        headers.headers(f"https://x{n}.example.org", None)
    assert headers.headers.cache_info().maxsize == 256
    assert headers.headers.cache_info().currsize == 256
    assert dict(headers.headers("https://ehr-ui.example.org", None))["Access-Control-Allow-Origin"] \
        == "https://ehr-ui.example.org"
