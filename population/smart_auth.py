"""Access tokens for a FHIR Bulk Data export: a fixed bearer token, or SMART Backend Services (client_credentials
with a signed JWT client assertion, RS384 or ES384), refreshed shortly before it expires.

Tokens and keys are never logged; errors name the token endpoint and the OAuth error code only.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Callable

import jwt
import requests

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_S = 300  # the SMART Backend Services ceiling for an assertion's exp
REFRESH_MARGIN_S = 30  # ask for a new token this long before the current one expires
ALGORITHMS = ("RS384", "ES384")


class AuthError(RuntimeError):
    """No access token could be had (the message names the endpoint and the OAuth error, never a secret)."""


class StaticToken:
    """A bearer token obtained elsewhere."""

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self) -> str:
        return self._token

    def invalidate(self) -> bool:
        return False  # nothing to refresh: a rejected fixed token stays rejected


@dataclass(frozen=True)
class BackendServicesCredentials:
    client_id: str
    private_key_pem: str
    key_id: str
    token_url: str
    algorithm: str = "RS384"
    scope: str = "system/*.read"

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise AuthError(f"algorithm {self.algorithm!r} is not one SMART Backend Services allows {ALGORITHMS}")


def client_assertion(credentials: BackendServicesCredentials, now: float | None = None) -> str:
    """The signed JWT the token endpoint authenticates the client with (SMART Backend Services, section 4)."""
    issued = int(time.time() if now is None else now)
    claims = {"iss": credentials.client_id, "sub": credentials.client_id, "aud": credentials.token_url,
              "exp": issued + ASSERTION_LIFETIME_S, "iat": issued, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, credentials.private_key_pem, algorithm=credentials.algorithm,
                      headers={"kid": credentials.key_id, "typ": "JWT"})


class BackendServicesToken:
    """Access tokens from a SMART token endpoint, cached until REFRESH_MARGIN_S before they expire."""

    def __init__(self, credentials: BackendServicesCredentials, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.time, timeout_s: float = 30.0) -> None:
        self.credentials = credentials
        self.session = session or requests.Session()
        self.clock = clock
        self.timeout_s = timeout_s
        self._token: str | None = None
        self._expires_at = 0.0

    def token(self) -> str:
        if self._token is None or self.clock() >= self._expires_at - REFRESH_MARGIN_S:
            self._fetch()
        assert self._token is not None
        return self._token

    def invalidate(self) -> bool:
        """Forget the token (the server rejected it); the next ``token()`` asks for a new one."""
        self._token = None
        return True

    def _fetch(self) -> None:
        form = {"grant_type": "client_credentials", "scope": self.credentials.scope,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(self.credentials, self.clock())}
        try:
            response = self.session.post(self.credentials.token_url, data=form, timeout=self.timeout_s,
                                         headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise AuthError(f"token endpoint {self.credentials.token_url} unreachable ({type(exc).__name__})") from None
        body = _json_or_none(response)
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            error = body.get("error") if isinstance(body, dict) else None
            raise AuthError(f"token endpoint {self.credentials.token_url} refused the client "
                            f"(HTTP {response.status_code}{', ' + str(error) if error else ''})")
        self._token = str(body["access_token"])
        self._expires_at = self.clock() + float(body.get("expires_in") or ASSERTION_LIFETIME_S)


def discover_token_url(fhir_base: str, session: requests.Session | None = None, timeout_s: float = 30.0) -> str:
    """The token endpoint from ``[base]/.well-known/smart-configuration``."""
    url = fhir_base.rstrip("/") + "/.well-known/smart-configuration"
    try:
        response = (session or requests.Session()).get(url, timeout=timeout_s, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise AuthError(f"{url} unreachable ({type(exc).__name__}); pass --token-url") from None
    body = _json_or_none(response)
    if response.status_code != 200 or not isinstance(body, dict) or not body.get("token_endpoint"):
        raise AuthError(f"{url} gave no token_endpoint (HTTP {response.status_code}); pass --token-url")
    return str(body["token_endpoint"])


def _json_or_none(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return None
