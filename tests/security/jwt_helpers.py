"""Test-only CDS client credentials: key pairs generated per run, JWTs signed like an EHR would, apps with auth on.

Also used by benchmarks/load_gunicorn.py (through ``issuer_config`` and ``Signer``).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER = "https://ehr.example.org"
PUBLIC_BASE = "https://cds.example.org"
FHIR_BASE = "https://ehr.example.org/fhir"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


class Signer:
    """One EHR signing key (ES384 on P-384, or RS384 on RSA-2048) and the tokens it signs."""

    def __init__(self, alg: str = "ES384", kid: str | None = None) -> None:
        self.alg = alg
        self.kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
        if alg == "ES384":
            self.private_key = ec.generate_private_key(ec.SECP384R1())
            jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        elif alg == "RS384":
            self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        else:
            raise ValueError(alg)
        self.public_jwk = {**jwk, "kid": self.kid, "use": "sig", "alg": alg}

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)

    def claims(self, aud: str, *, iss: str = ISSUER, now: float | None = None, lifetime: float = 60,
               **extra: Any) -> dict:
        now = time.time() if now is None else now
        claims = {"iss": iss, "sub": "ehr-client-id", "aud": aud, "iat": int(now), "exp": int(now + lifetime),
                  "jti": str(uuid.uuid4())}
        claims.update(extra)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, aud: str, *, headers: dict | None = None, claims: dict | None = None, **claim_args: Any) -> str:
        payload = claims if claims is not None else self.claims(aud, **claim_args)
        header = {"kid": self.kid, "typ": "JWT"}
        header.update(headers or {})
        header = {k: v for k, v in header.items() if v is not None}
        return jwt.encode(payload, self.private_key, algorithm=self.alg, headers=header)


def unsigned_token(claims: dict, *, kid: str = "any") -> str:
    """alg 'none': header.payload. with an empty signature."""
    return f"{b64json({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{b64json(claims)}."


def hmac_token(claims: dict, secret: bytes, *, kid: str, alg: str = "HS256") -> str:
    """The classic algorithm-confusion forgery: HMAC keyed with the issuer's *public* key."""
    signing_input = f"{b64json({'alg': alg, 'typ': 'JWT', 'kid': kid})}.{b64json(claims)}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384}[alg]
    signature = hmac.new(secret, signing_input.encode("ascii"), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def issuer_config(*signers: Signer, jku: list[str] | None = None, fhir_servers: list[str] | None = None,
                  **extra: Any) -> dict:
    entry: dict[str, Any] = {"fhir_servers": fhir_servers if fhir_servers is not None else [FHIR_BASE]}
    if jku is not None:
        entry["jku"] = jku
    if signers:
        entry["jwks"] = {"keys": [s.public_jwk for s in signers]}
    entry.update(extra)
    return entry


def auth_config(data_dir, issuers: dict, **overrides: Any) -> dict:
    config = {"AS_OF": "2026-06-01", "TESTING": True, "DEV_MODE": False, "PUBLIC_BASE_URL": PUBLIC_BASE,
              "TRUSTED_ISSUERS": issuers, "DATA_DIR": str(data_dir), "FHIR_RETRIES": 0, "FHIR_BACKOFF_S": 0.0,
              "FHIR_DEADLINE_S": 2.0, "FHIR_READ_TIMEOUT_S": 1.0, "JWKS_REFRESH_MIN_INTERVAL_S": 60}
    config.update(overrides)
    return config


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
