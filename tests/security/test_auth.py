"""Client authentication: the CDS Hooks 2.0.1 JWT, checked on discovery, hook calls and feedback.

Every refused token gets a bare 401 (no body, a plain 'Bearer' challenge) and a log line with the reason,
and a refused token does not use up its jti.
"""
from __future__ import annotations

import json
import logging
import time

import pytest
import requests
import responses
from sqlalchemy.exc import OperationalError

from cds_hooks.app import create_app
from cds_hooks.store import store_of
from tests.conftest import CheckedClient, load_fixture
from tests.security.jwt_helpers import (ISSUER, PUBLIC_BASE, Signer, auth_config, b64json, bearer, hmac_token,
                                        issuer_config, unsigned_token)

DISCOVERY = "/cds-services"
SERVICE = "/cds-services/cardiovascular-risk"
FEEDBACK = SERVICE + "/feedback"
JKU = "https://ehr.example.org/.well-known/jwks.json"


@pytest.fixture(scope="module")
def es_signer():
    return Signer("ES384", kid="es-1")


@pytest.fixture(scope="module")
def rs_signer():
    return Signer("RS384", kid="rs-1")


@pytest.fixture
def app(tmp_path, es_signer, rs_signer):
    return create_app(auth_config(tmp_path, {ISSUER: issuer_config(es_signer, rs_signer)}))


@pytest.fixture
def client(app):
    return CheckedClient(app.test_client())


def aud(path: str) -> str:
    return PUBLIC_BASE + path


def post_json(client, url, body, token=None):
    headers = bearer(token) if token else {}
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


def assert_bare_401(resp):
    assert resp.status_code == 401
    assert resp.data == b""
    assert resp.headers["WWW-Authenticate"] == "Bearer"


# -- happy paths --------------------------------------------------------------------------------------------------
def test_es384_token_opens_discovery(client, es_signer):
    resp = client.get(DISCOVERY, headers=bearer(es_signer.token(aud(DISCOVERY))))
    assert resp.status_code == 200
    assert resp.get_json()["services"]


def test_rs384_token_opens_a_hook_call(client, rs_signer):
    resp = post_json(client, SERVICE, load_fixture("hooks/patient-view-prefetch.json"), rs_signer.token(aud(SERVICE)))
    assert resp.status_code == 200
    assert resp.get_json()["cards"]


def test_aud_may_be_an_array_containing_the_endpoint(client, es_signer):
    token = es_signer.token(aud(DISCOVERY), claims=es_signer.claims([aud(DISCOVERY), "https://other.example"]))
    assert client.get(DISCOVERY, headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("missing", [None, ""])
def test_authentication_on_without_public_base_url_refuses_to_start(tmp_path, es_signer, missing):
    with pytest.raises(ValueError, match="CDS_PUBLIC_BASE_URL is required") as refused:
        create_app(auth_config(tmp_path, {ISSUER: issuer_config(es_signer)}, PUBLIC_BASE_URL=missing))
    assert "CDS_DEV_MODE" in str(refused.value) and "Host header" in str(refused.value)


def test_serve_without_public_base_url_stops_before_gunicorn_with_one_clear_line(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from gunicorn.app.base import BaseApplication

    from cds_hooks.cli import main

    started = []
    monkeypatch.setattr(BaseApplication, "run", lambda self: started.append(self))  # never serve from a test
    monkeypatch.delenv("CDS_PUBLIC_BASE_URL", raising=False)
    monkeypatch.delenv("CDS_DEV_MODE", raising=False)
    result = CliRunner().invoke(main, ["serve"], env={"CDS_DATA_DIR": str(tmp_path)})
    assert not started
    assert result.exit_code == 1
    assert "CDS_PUBLIC_BASE_URL is required" in result.output
    assert "Traceback" not in result.output


def test_the_host_header_never_sets_the_expected_aud(client, es_signer):
    # A token minted for another service, replayed here with that service's Host: refused, whatever the Host says.
    other = "https://other-cds.example.net"
    token = es_signer.token(other + DISCOVERY)
    assert client.get(DISCOVERY, headers={**bearer(token), "Host": "other-cds.example.net"},
                      base_url=other).status_code == 401
    assert client.get(DISCOVERY, headers=bearer(es_signer.token(aud(DISCOVERY))),
                      base_url="http://internal-name:8080").status_code == 200


# -- every endpoint requires a token ------------------------------------------------------------------------------
@pytest.mark.parametrize("method, url", [("get", DISCOVERY), ("post", SERVICE), ("post", FEEDBACK),
                                         ("post", "/cds-services/does-not-exist"), ("get", "/anything-else")])
def test_no_token_is_401_everywhere(client, method, url):
    resp = getattr(client, method)(url, data="{}", content_type="application/json")
    assert_bare_401(resp)


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "bearer", "Token abc", "Bearer a.b"])
def test_malformed_authorization_header_is_401(client, header):
    assert_bare_401(client.get(DISCOVERY, headers={"Authorization": header}))


def test_feedback_requires_a_token_for_its_own_url(client, es_signer):
    hook = post_json(client, SERVICE, load_fixture("hooks/patient-view-prefetch.json"), es_signer.token(aud(SERVICE)))
    body = {"feedback": [{"card": hook.get_json()["cards"][0]["uuid"], "outcome": "overridden",
                          "outcomeTimestamp": "2026-06-01T10:00:00Z"}]}
    assert_bare_401(post_json(client, FEEDBACK, body, es_signer.token(aud(SERVICE))))  # aud of another endpoint
    assert post_json(client, FEEDBACK, body, es_signer.token(aud(FEEDBACK))).status_code == 200


def test_feedback_names_only_cards_issued_to_the_same_client(tmp_path, es_signer, rs_signer):
    """Another trusted EHR (issuer), or another tenant of the same one, cannot give feedback on - and so cannot hide
    - cards it was never shown."""
    other = "https://other-ehr.example.org"
    app = create_app(auth_config(tmp_path, {ISSUER: issuer_config(es_signer, tenants=["a", "b"]),
                                            other: issuer_config(rs_signer)}))
    client = CheckedClient(app.test_client())
    hook = post_json(client, SERVICE, load_fixture("hooks/patient-view-prefetch.json"),
                     es_signer.token(aud(SERVICE), tenant="a"))
    body = {"feedback": [{"card": hook.get_json()["cards"][0]["uuid"], "outcome": "overridden",
                          "outcomeTimestamp": "2026-06-01T10:00:00Z"}]}
    assert post_json(client, FEEDBACK, body, rs_signer.token(aud(FEEDBACK), iss=other)).status_code == 404
    assert post_json(client, FEEDBACK, body, es_signer.token(aud(FEEDBACK), tenant="b")).status_code == 404
    assert list(store_of(app).feedback_rows()) == []
    assert post_json(client, FEEDBACK, body, es_signer.token(aud(FEEDBACK), tenant="a")).status_code == 200


# -- the attack set -----------------------------------------------------------------------------------------------
def _attacks(signer: Signer, attacker: Signer) -> dict[str, str]:
    now = time.time()
    url = aud(DISCOVERY)
    good = signer.claims(url)
    valid = signer.token(url)
    head, payload, signature = valid.split(".")
    tampered_claims = dict(json.loads(_b64decode(payload)), sub="someone-else")
    return {
        "alg none": unsigned_token(good, kid=signer.kid),
        "HS256 signed with the public key": hmac_token(good, signer.public_pem, kid=signer.kid),
        "HS384 signed with the public JWK": hmac_token(good, json.dumps(signer.public_jwk).encode(), kid=signer.kid,
                                                       alg="HS384"),
        "expired": signer.token(url, now=now - 600, lifetime=120),
        "iat in the future": signer.token(url, now=now + 120, lifetime=60),
        "exp too far ahead": signer.token(url, lifetime=3600),
        "wrong aud": signer.token(aud("/cds-services/other")),
        "aud of another host": signer.token("https://evil.example.org/cds-services"),
        "unknown kid": signer.token(url, headers={"kid": "not-a-known-kid"}),
        "no kid": signer.token(url, headers={"kid": None}),
        "typ not JWT": signer.token(url, headers={"typ": "at+jwt"}),
        "crit header": signer.token(url, headers={"crit": ["exp"]}),
        "jku not allowlisted": signer.token(url, headers={"jku": "https://evil.example.org/jwks.json"}),
        "iss not allowlisted": attacker.token(url, iss="https://evil.example.org", headers={"kid": signer.kid}),
        "signed by another key with a known kid": attacker.token(url, headers={"kid": signer.kid}),
        "tampered payload": f"{head}.{b64json(tampered_claims)}.{signature}",
        "missing jti": signer.token(url, claims={k: v for k, v in good.items() if k != "jti"}),
        "missing exp": signer.token(url, claims={k: v for k, v in good.items() if k != "exp"}),
        "missing iat": signer.token(url, claims={k: v for k, v in good.items() if k != "iat"}),
        "missing iss": signer.token(url, claims={k: v for k, v in good.items() if k != "iss"}),
        "garbage": "not-a-jwt-at-all",
        "huge": "a" * 20000,
    }


def _b64decode(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# The logged reason of each refusal: each attack must be stopped by the check meant for it.
EXPECTED_REASON = {
    "alg none": "alg 'none' not allowed",
    "HS256 signed with the public key": "alg 'HS256' not allowed",
    "HS384 signed with the public JWK": "alg 'HS384' not allowed",
    "expired": "expired",
    "iat in the future": "in the future",
    "exp too far ahead": "exp further ahead",
    "wrong aud": "aud is not https://cds.example.org/cds-services",
    "aud of another host": "aud is not",
    "unknown kid": "unknown kid",
    "no kid": "kid missing",
    "typ not JWT": "typ is not JWT",
    "crit header": "not a JWS compact token",
    "jku not allowlisted": "jku not on the allowlist",
    "iss not allowlisted": "iss 'https://evil.example.org' not trusted",
    "signed by another key with a known kid": "bad signature",
    "tampered payload": "bad signature",
    "missing jti": "MissingRequiredClaimError",
    "missing exp": "MissingRequiredClaimError",
    "missing iat": "MissingRequiredClaimError",
    "missing iss": "iss None not trusted",
    "garbage": "not a JWS compact token",
    "huge": "too long",
}
ATTACKS = list(_attacks(Signer("ES384", kid="probe"), Signer("ES384", kid="probe-attacker")))
assert set(ATTACKS) == set(EXPECTED_REASON)


@responses.activate
@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_attack_set_is_refused_with_a_bare_401(tmp_path, attack, alg, caplog):
    signer, attacker = KEY_PAIRS[alg]
    app = create_app(auth_config(tmp_path, {ISSUER: issuer_config(signer)}))
    client = CheckedClient(app.test_client())
    token = _attacks(signer, attacker)[attack]
    with caplog.at_level(logging.DEBUG):
        resp = client.get(DISCOVERY, headers=bearer(token))
    assert_bare_401(resp)
    assert "401 for GET" in caplog.text and EXPECTED_REASON[attack] in caplog.text  # the reason is logged ...
    assert token not in caplog.text  # ... without the token
    assert len(responses.calls) == 0  # never fetched a key from a URL the token named
    # The genuine token still works: a refused token uses up nothing.
    assert client.get(DISCOVERY, headers=bearer(signer.token(aud(DISCOVERY)))).status_code == 200


KEY_PAIRS = {alg: (Signer(alg, kid=f"{alg}-key"), Signer(alg, kid=f"{alg}-attacker")) for alg in ("ES384", "RS384")}


# The replay store is the database: these run on SQLite and on PostgreSQL (the ``database`` fixture).
def test_replayed_jti_is_401(database, es_signer):
    client = CheckedClient(create_app(auth_config(database.data_dir, {ISSUER: issuer_config(es_signer)},
                                                  **database.settings)).test_client())
    token = es_signer.token(aud(DISCOVERY))
    assert client.get(DISCOVERY, headers=bearer(token)).status_code == 200
    assert_bare_401(client.get(DISCOVERY, headers=bearer(token)))
    another = es_signer.token(aud(DISCOVERY))  # a new jti still opens
    assert client.get(DISCOVERY, headers=bearer(another)).status_code == 200


def test_jti_replay_is_seen_across_workers_sharing_the_database(database, es_signer):
    config = auth_config(database.data_dir, {ISSUER: issuer_config(es_signer)}, **database.settings)
    worker_a, worker_b = create_app(config).test_client(), create_app(config).test_client()
    token = es_signer.token(aud(DISCOVERY))
    assert worker_a.get(DISCOVERY, headers=bearer(token)).status_code == 200
    assert worker_b.get(DISCOVERY, headers=bearer(token)).status_code == 401


def test_jti_replay_survives_a_restart(database, es_signer):
    config = auth_config(database.data_dir, {ISSUER: issuer_config(es_signer)}, **database.settings)
    token = es_signer.token(aud(DISCOVERY))
    first = create_app(config)
    assert first.test_client().get(DISCOVERY, headers=bearer(token)).status_code == 200
    store_of(first).dispose()
    assert create_app(config).test_client().get(DISCOVERY, headers=bearer(token)).status_code == 401


def test_clock_skew_within_leeway_is_accepted(client, es_signer):
    token = es_signer.token(aud(DISCOVERY), now=time.time() + 20, lifetime=60)  # iat 20 s ahead, leeway 30 s
    assert client.get(DISCOVERY, headers=bearer(token)).status_code == 200


# -- tenant and subject allowlists --------------------------------------------------------------------------------
def test_tenant_allowlist(tmp_path, es_signer):
    app = create_app(auth_config(tmp_path, {ISSUER: issuer_config(es_signer, tenants=["hospital-a"])}))
    client = app.test_client()

    def status(**claims):
        return client.get(DISCOVERY, headers=bearer(es_signer.token(aud(DISCOVERY), **claims))).status_code

    assert status(tenant="hospital-a") == 200
    assert status(tenant="hospital-b") == 401
    assert status() == 401  # the tenant is required once an allowlist is configured


def test_subject_allowlist(tmp_path, es_signer):
    app = create_app(auth_config(tmp_path, {ISSUER: issuer_config(es_signer, subjects=["ehr-client-id"])}))
    client = app.test_client()
    assert client.get(DISCOVERY, headers=bearer(es_signer.token(aud(DISCOVERY)))).status_code == 200
    assert client.get(DISCOVERY, headers=bearer(es_signer.token(aud(DISCOVERY), sub="other"))).status_code == 401


# -- keys from an allowlisted jku -----------------------------------------------------------------------------------
@responses.activate
def test_jku_keys_are_fetched_cached_and_refreshed_on_unknown_kid_at_most_once_per_interval(tmp_path):
    old, new, forged = Signer("ES384", kid="old"), Signer("ES384", kid="new"), Signer("ES384", kid="forged")
    jwks = responses.get(JKU, json={"keys": [old.public_jwk]})
    app = create_app(auth_config(tmp_path, {ISSUER: issuer_config(jku=[JKU])}, JWKS_REFRESH_MIN_INTERVAL_S=60))
    now = [1000.0]
    app.extensions["cds_jwt_verifier"].key_cache._clock = lambda: now[0]
    client = app.test_client()

    def call(signer):
        return client.get(DISCOVERY, headers=bearer(signer.token(aud(DISCOVERY), headers={"jku": JKU}))).status_code

    assert call(old) == 200 and call(old) == 200
    assert jwks.call_count == 1  # cached
    # The issuer rotates; within a minute of the last fetch the new kid is refused without a refetch ...
    jwks = responses.replace(responses.GET, JKU, json={"keys": [old.public_jwk, new.public_jwk]})
    now[0] += 30
    assert call(new) == 401
    assert jwks.call_count == 0
    # ... after it, the first token with the new kid triggers one refresh.
    now[0] += 31
    assert call(new) == 200 and call(new) == 200
    assert jwks.call_count == 1
    # A flood of unknown kids right after does not refetch (rate limit) and is refused.
    assert [call(forged) for _ in range(5)] == [401] * 5
    assert jwks.call_count == 1
    # Past the cache lifetime the set is fetched again even for a known kid.
    now[0] += 3601
    assert call(old) == 200
    assert jwks.call_count == 2


@responses.activate
def test_jwks_fetch_timeout_is_401_not_a_hang(tmp_path):
    signer = Signer("ES384", kid="k")
    responses.get(JKU, body=requests.exceptions.ConnectTimeout("slow"))
    app = create_app(auth_config(tmp_path, {ISSUER: issuer_config(jku=[JKU])}))
    started = time.monotonic()
    resp = app.test_client().get(DISCOVERY, headers=bearer(signer.token(aud(DISCOVERY), headers={"jku": JKU})))
    assert resp.status_code == 401
    assert time.monotonic() - started < 2


@responses.activate
def test_jwks_fetch_does_not_follow_redirects_or_accept_junk(tmp_path):
    signer = Signer("ES384", kid="k")
    responses.get(JKU, status=302, headers={"Location": "https://evil.example.org/jwks.json"})
    app = create_app(auth_config(tmp_path, {ISSUER: issuer_config(jku=[JKU])}))
    resp = app.test_client().get(DISCOVERY, headers=bearer(signer.token(aud(DISCOVERY), headers={"jku": JKU})))
    assert resp.status_code == 401
    assert [c.request.url for c in responses.calls] == [JKU]


def test_jwks_file_is_reread_on_unknown_kid(tmp_path):
    first, second = Signer("ES384", kid="first"), Signer("RS384", kid="second")
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps({"keys": [first.public_jwk]}))
    app = create_app(auth_config(tmp_path, {ISSUER: {"jwks_file": str(keys)}}, JWKS_REFRESH_MIN_INTERVAL_S=0))
    client = app.test_client()
    assert client.get(DISCOVERY, headers=bearer(first.token(aud(DISCOVERY)))).status_code == 200
    assert client.get(DISCOVERY, headers=bearer(second.token(aud(DISCOVERY)))).status_code == 401
    keys.write_text(json.dumps({"keys": [first.public_jwk, second.public_jwk]}))
    assert client.get(DISCOVERY, headers=bearer(second.token(aud(DISCOVERY)))).status_code == 200


def test_key_of_the_wrong_type_for_the_alg_is_refused(tmp_path):
    es = Signer("ES384", kid="shared")
    rs = Signer("RS384", kid="shared")
    app = create_app(auth_config(tmp_path, {ISSUER: issuer_config(rs)}))
    # An ES384 token whose kid names an RSA key.
    assert app.test_client().get(DISCOVERY, headers=bearer(es.token(aud(DISCOVERY)))).status_code == 401


# -- configuration mistakes stop the start-up --------------------------------------------------------------------
@pytest.mark.parametrize("overrides", [
    {"JWT_ALGORITHMS": ["HS256"]},
    {"JWT_ALGORITHMS": ["ES384", "none"]},
    {"TRUSTED_ISSUERS": {ISSUER: {"fhir_servers": []}}},  # no keys at all
    {"TRUSTED_ISSUERS": {ISSUER: {"jku": ["http://ehr.example.org/jwks.json"]}}},  # jku over http
    {"TRUSTED_ISSUERS": {ISSUER: {"jwks": {"not": "a jwks"}}}},
    {"TRUSTED_ISSUERS": {ISSUER: {"jwks": {"keys": []}, "typo": 1}}},
    {"CORS_ORIGINS": ["*"]},
    {"PUBLIC_BASE_URL": "cds.example.org"},
    {"PUBLIC_BASE_URL": "https://cds.example.org/cds-services"},
])
def test_bad_security_configuration_fails_at_start(tmp_path, overrides):
    with pytest.raises(ValueError):
        create_app(auth_config(tmp_path, {ISSUER: {"jwks": {"keys": []}}}, **overrides))


def test_trusted_issuers_from_environment_json(tmp_path, es_signer, monkeypatch):
    monkeypatch.setenv("CDS_TRUSTED_ISSUERS", json.dumps({ISSUER: issuer_config(es_signer)}))
    monkeypatch.setenv("CDS_PUBLIC_BASE_URL", PUBLIC_BASE)
    monkeypatch.setenv("CDS_DATA_DIR", str(tmp_path))
    client = create_app({"TESTING": True}).test_client()
    assert client.get(DISCOVERY, headers=bearer(es_signer.token(aud(DISCOVERY)))).status_code == 200


def test_algorithms_from_a_comma_separated_environment_value(tmp_path, monkeypatch):
    rs = Signer("RS384", kid="only-rs")
    es = Signer("ES384", kid="only-es")
    monkeypatch.setenv("CDS_JWT_ALGORITHMS", "RS384")
    app = create_app(auth_config(tmp_path, {ISSUER: issuer_config(rs, es)}))
    client = app.test_client()
    assert client.get(DISCOVERY, headers=bearer(rs.token(aud(DISCOVERY)))).status_code == 200
    assert client.get(DISCOVERY, headers=bearer(es.token(aud(DISCOVERY)))).status_code == 401


def test_production_is_the_default(tmp_path):
    client = create_app({"DATA_DIR": str(tmp_path), "PUBLIC_BASE_URL": PUBLIC_BASE}).test_client()
    assert client.get(DISCOVERY).status_code == 401


def test_dev_mode_warns_loudly_and_lets_calls_in(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        app = create_app({"DEV_MODE": True, "DATA_DIR": str(tmp_path)})
    assert "DEV MODE" in caplog.text and "authentication is OFF" in caplog.text
    assert app.test_client().get(DISCOVERY).status_code == 200


def test_broken_replay_store_is_503_not_401(client, app, es_signer, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(app.extensions["cds_jwt_verifier"], "remember_jti", broken)
    resp = client.get(DISCOVERY, headers=bearer(es_signer.token(aud(DISCOVERY))))
    assert resp.status_code == 503
    assert resp.get_json()["resourceType"] == "OperationOutcome"
