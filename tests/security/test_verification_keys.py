"""The parsed verification keys (cds_hooks.auth.VerificationKeys): each JWK parsed once, a changed key parsed afresh,
a refused key never kept, the cache bounded."""
from __future__ import annotations

import json

import pytest

import cds_hooks.auth as auth
from cds_hooks.auth import AuthFailure, JwtVerifier, KeyCache, VerificationKeys, load_issuer_policies
from tests.security.jwt_helpers import ISSUER, PUBLIC_BASE, Signer, issuer_config

AUD = PUBLIC_BASE + "/cds-services"


@pytest.fixture
def parses(monkeypatch):
    """Counts the JWKs parsed into key objects."""
    seen: list[str] = []
    parse = auth._public_key

    def counting(jwk, alg):
        seen.append(jwk.get("kid"))
        return parse(jwk, alg)

    monkeypatch.setattr(auth, "_public_key", counting)
    return seen


def verifier(issuers: dict, **kwargs) -> JwtVerifier:
    return JwtVerifier(load_issuer_policies({"TRUSTED_ISSUERS": issuers}), remember_jti=lambda *_: True, **kwargs)


def test_a_key_is_parsed_once_for_every_token_it_signs(parses):
    es, rs = Signer("ES384", kid="es"), Signer("RS384", kid="rs")
    checks = verifier({ISSUER: issuer_config(es, rs)})
    for _ in range(3):
        assert checks.verify(es.token(AUD), AUD).issuer == ISSUER
        assert checks.verify(rs.token(AUD), AUD).issuer == ISSUER
    assert parses == ["es", "rs"]


def test_a_key_rotated_under_the_same_kid_is_parsed_afresh_and_the_old_one_no_longer_verifies(tmp_path, parses):
    old, new = Signer("ES384", kid="k"), Signer("ES384", kid="k")
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps({"keys": [old.public_jwk]}))
    checks = verifier({ISSUER: {"jwks_file": str(keys)}}, key_cache=KeyCache(ttl_s=0, min_refresh_s=0))
    assert checks.verify(old.token(AUD), AUD).issuer == ISSUER
    keys.write_text(json.dumps({"keys": [new.public_jwk]}))
    assert checks.verify(new.token(AUD), AUD).issuer == ISSUER
    with pytest.raises(AuthFailure, match="bad signature"):
        checks.verify(old.token(AUD), AUD)
    assert parses == ["k", "k"]


def test_the_same_key_of_two_issuers_is_kept_for_each(parses):
    signer = Signer("ES384", kid="shared")
    keys = VerificationKeys()
    first = keys.key("https://a.example.org", signer.public_jwk, "ES384")
    second = keys.key("https://b.example.org", signer.public_jwk, "ES384")
    assert first.public_numbers() == second.public_numbers()
    assert len(keys) == 2 and parses == ["shared", "shared"]


def test_a_refused_key_is_checked_again_every_time_and_never_kept(parses):
    rsa = Signer("RS384", kid="rsa").public_jwk
    keys = VerificationKeys()
    for _ in range(2):
        with pytest.raises(AuthFailure, match="key type"):
            keys.key(ISSUER, rsa, "ES384")  # an RSA key named by an ES384 token
    assert len(keys) == 0 and parses == ["rsa", "rsa"]


def test_past_its_bound_the_least_recently_used_key_goes(parses):
    a, b, c = (Signer("ES384", kid=kid).public_jwk for kid in "abc")
    keys = VerificationKeys(max_entries=2)
    keys.key(ISSUER, a, "ES384")
    keys.key(ISSUER, b, "ES384")
    keys.key(ISSUER, a, "ES384")  # a is now the most recently used
    keys.key(ISSUER, c, "ES384")  # b goes
    assert len(keys) == 2
    keys.key(ISSUER, a, "ES384")
    keys.key(ISSUER, b, "ES384")
    assert parses == ["a", "b", "c", "b"]


def test_a_cached_key_is_the_key_a_fresh_parse_gives():
    jwk = Signer("ES384", kid="k").public_jwk
    keys = VerificationKeys()
    keys.key(ISSUER, jwk, "ES384")
    assert keys.key(ISSUER, jwk, "ES384").public_numbers() == auth._public_key(jwk, "ES384").public_numbers()


def test_a_key_used_with_one_algorithm_is_refused_to_a_token_of_another(parses):
    """The cache keeps a key per algorithm: an RSA JWK parsed for RS384 tokens is not handed, already parsed, to an
    ES384 token naming its kid; the key-type check refuses it as it would an RSA key never seen before."""
    rs, es = Signer("RS384", kid="k"), Signer("ES384", kid="k")
    jwk = {name: value for name, value in rs.public_jwk.items() if name != "alg"}  # pins no algorithm of its own
    checks = verifier({ISSUER: {"jwks": {"keys": [jwk]}}})
    assert checks.verify(rs.token(AUD), AUD).issuer == ISSUER
    with pytest.raises(AuthFailure, match="key type does not fit alg ES384"):
        checks.verify(es.token(AUD), AUD)
    assert checks.verify(rs.token(AUD), AUD).issuer == ISSUER  # still kept for RS384
    assert parses == ["k", "k"] and len(checks.parsed_keys) == 1
