"""The JWT is parsed once: ``verified_claims`` checks the signature and claims of the token ``decode_complete``
already parsed, where ``jwt.decode`` would parse it again. Both ways must give the same answer for every token."""
from __future__ import annotations

import time

import pytest

from cds_hooks import auth
from cds_hooks.auth import AuthFailure, JwtVerifier, load_issuer_policies
from tests.security.jwt_helpers import ISSUER, PUBLIC_BASE, Signer, b64json, issuer_config
from tests.security.test_auth import _attacks

AUD = PUBLIC_BASE + "/cds-services"
SIGNERS = {alg: (Signer(alg, kid=f"{alg}-key"), Signer(alg, kid=f"{alg}-attacker")) for alg in ("ES384", "RS384")}


def _claim_variants(signer: Signer) -> dict[str, str]:
    now = time.time()
    good = signer.claims(AUD)
    return {
        "valid": signer.token(AUD),
        "aud array": signer.token(AUD, claims={**good, "aud": ["https://other.example.org", AUD]}),
        "aud empty": signer.token(AUD, claims={**good, "aud": ""}),
        "aud a number": signer.token(AUD, claims={**good, "aud": 7}),
        "nbf in the future": signer.token(AUD, nbf=int(now + 600)),
        "nbf not a number": signer.token(AUD, nbf="soon"),
        "iat not a number": signer.token(AUD, iat="now"),
        "exp not a number": signer.token(AUD, exp="later"),
        "exp a float": signer.token(AUD, exp=now + 30.5),
        "exp just passed beyond leeway": signer.token(AUD, now=now - 100, lifetime=60),
        "iss of another trusted issuer": signer.token(AUD, iss="https://other-ehr.example.org"),
        "sub not a string": signer.token(AUD, sub=12),
        "jti not a string": signer.token(AUD, jti=12),
        "jti empty": signer.token(AUD, jti=""),
        "tenant not a string": signer.token(AUD, tenant=["a"]),
        "payload not an object": signer.token(AUD).split(".")[0] + "." + b64json([1]) + ".x",
        "signature cut short": signer.token(AUD)[:-10],
        "signature not base64": signer.token(AUD) + "!",
        "two segments": ".".join(signer.token(AUD).split(".")[:2]),
    }


def _outcome(verifier: JwtVerifier, token: str):
    try:
        identity = verifier.verify(token, AUD)
    except AuthFailure as failure:
        return "refused", failure.reason
    return "accepted", identity


def _verifier(signer: Signer) -> JwtVerifier:
    other = Signer(signer.alg, kid="other-issuer-key")
    policies = load_issuer_policies({"TRUSTED_ISSUERS": {ISSUER: issuer_config(signer),
                                                         "https://other-ehr.example.org": issuer_config(other)}})
    return JwtVerifier(policies, remember_jti=lambda issuer, jti, until: True)


@pytest.mark.parametrize("alg", sorted(SIGNERS))
def test_single_parse_answers_as_jwt_decode_for_every_token(alg, monkeypatch):
    signer, attacker = SIGNERS[alg]
    tokens = {**_attacks(signer, attacker), **_claim_variants(signer)}
    verifier = _verifier(signer)
    assert auth._VALIDATE_CLAIMS is not None  # the PyJWT installed has its claim checks where we call them
    fast = {name: _outcome(verifier, token) for name, token in tokens.items()}
    monkeypatch.setattr(auth, "_VALIDATE_CLAIMS", None)  # every token through jwt.decode
    slow = {name: _outcome(verifier, token) for name, token in tokens.items()}
    assert fast == slow
    assert fast["valid"][0] == "accepted" and fast["aud array"][0] == "accepted"
    assert fast["tampered payload"] == ("refused", "bad signature (iss 'https://ehr.example.org', kid "
                                                   f"'{signer.kid}')")
    assert "iat or nbf in the future" in fast["nbf in the future"][1]


def test_verified_claims_refuses_a_signature_of_other_bytes():
    signer = SIGNERS["ES384"][0]
    token = signer.token(AUD)
    import jwt

    parsed = jwt.decode_complete(token, options={"verify_signature": False})
    key = jwt.PyJWK(signer.public_jwk, algorithm="ES384").key
    assert auth.verified_claims(token, parsed, key, "ES384", audience=AUD, issuer=ISSUER, leeway=30)["aud"] == AUD
    other = jwt.decode_complete(signer.token(AUD), options={"verify_signature": False})
    with pytest.raises(jwt.InvalidSignatureError):  # another token's signature over this token's bytes
        auth.verified_claims(token, {**parsed, "signature": other["signature"]}, key, "ES384", audience=AUD,
                             issuer=ISSUER, leeway=30)
