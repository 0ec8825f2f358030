"""Signed, expiring explainer tokens: the only thing an explainer URL carries.

A token names one stored hook call (a random key, not derived from anything about the patient), one card slot of
that call and the time the call was answered. It is signed with HMAC-SHA256 under ``EXPLAINER_SECRET`` (itsdangerous,
with a salt of its own so that no other signed value of the service can be replayed as a token) and expires
``EXPLAINER_TTL_S`` after the call: every token of one call expires at the same moment, including the ones minted
later for links between the pages of that call.

The payload is signed, not encrypted: it holds nothing but the random key, the slot number and the time.

Signing is on the hook path (one link per card), so ``sign`` keeps one signer and writes the payload uncompressed:
``URLSafeTimedSerializer.dumps`` builds a new signer and runs zlib on every call (half of its ~26 us is zlib's set-up),
only to drop the compressed form unless it saves two bytes - which a random key and two numbers never do outside
contrived keys. The token is then byte for byte the one ``dumps`` gives (tests), and ``verify`` reads both forms.
The signer's own ``sign`` derives the key from the secret again and builds a Python ``hmac`` object each time; ``sign``
here derives it once and signs with the one-shot ``hmac.digest`` - the same HMAC-SHA256, about twice as fast.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Callable

from itsdangerous import BadData, Serializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, int_to_bytes, want_bytes

TOKEN_SALT = "precision-cds.explainer-link.v1"
MAX_TOKEN_LENGTH = 512  # ours are ~130 characters; anything much longer is refused before it is decoded
MIN_SECRET_LENGTH = 32


class InvalidToken(Exception):
    """Forged, truncated, signed with another secret, or not one of ours: answered as unknown (404)."""


class ExpiredToken(Exception):
    """Genuine, but past its lifetime: answered as gone (410)."""


@dataclass(frozen=True)
class ExplainerClaims:
    call_key: str  # the explainer_call row
    slot: int  # which card of the call (its findings), by position in the stored call
    issued_at: int  # when the call was answered (epoch seconds): the lifetime counts from here


class ExplainerTokens:
    def __init__(self, secret: str, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"EXPLAINER_SECRET must be a string of at least {MIN_SECRET_LENGTH} characters")
        if not ttl_s or float(ttl_s) <= 0:
            raise ValueError("EXPLAINER_TTL_S must be a positive number of seconds")
        self.ttl_s = float(ttl_s)
        self._clock = clock
        self._serializer = URLSafeTimedSerializer(secret, salt=TOKEN_SALT,
                                                  signer_kwargs={"digest_method": hashlib.sha256})
        self._signer = self._serializer.make_signer()  # stateless between calls: the timestamp is taken per sign
        self._signing_key = self._signer.derive_key()  # what the signer derives from the secret at each signature
        self._separator = want_bytes(self._signer.sep)
        self._digest_method = self._signer.digest_method  # the signer's HMAC digest, declared once above

    def sign(self, claims: ExplainerClaims) -> str:
        # Serializer.dump_payload: the compact JSON itsdangerous writes, before its URL-safe step tries compression.
        payload = Serializer.dump_payload(self._serializer, {"c": claims.call_key, "s": claims.slot,
                                                             "t": claims.issued_at})
        # TimestampSigner.sign, with the key derived once: value.timestamp.signature, each part URL-safe base64.
        timestamp = base64_encode(int_to_bytes(self._signer.get_timestamp()))
        value = base64_encode(payload) + self._separator + timestamp
        signature = hmac.digest(self._signing_key, value, self._digest_method)
        return (value + self._separator + base64_encode(signature)).decode("utf-8")

    def verify(self, token: object) -> ExplainerClaims:
        """The claims of a genuine, unexpired token; InvalidToken or ExpiredToken otherwise.

        The signature is checked before anything else, so a forged token never reads as expired."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken()
        try:
            data = self._serializer.loads(token)  # no max_age here: the lifetime counts from the call, below
        except BadData:
            raise InvalidToken() from None
        if not (isinstance(data, dict) and isinstance(data.get("c"), str) and data["c"]
                and _is_int(data.get("s")) and data["s"] >= 0 and _is_int(data.get("t"))):
            raise InvalidToken()
        claims = ExplainerClaims(call_key=data["c"], slot=data["s"], issued_at=data["t"])
        if self.expired(claims.issued_at):
            raise ExpiredToken()
        return claims

    def expired(self, issued_at: float) -> bool:
        return self._clock() - float(issued_at) > self.ttl_s

    def now(self) -> float:
        return self._clock()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
