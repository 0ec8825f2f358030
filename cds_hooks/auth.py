"""Client authentication (CDS Hooks 2.0.1, "Trusting CDS Clients"): a signed JWT on every call.

Every request to /cds-services… (discovery, hook calls, feedback) must carry ``Authorization: Bearer <JWT>``:

* header: ``alg`` one of the configured algorithms (ES384 and/or RS384 only: never ``none``, never HMAC),
  ``typ`` JWT, ``kid`` present, no ``crit``; ``jku``, when present, on the issuer's allowlist;
* signature: verified with the issuer's key of that ``kid`` (a JWK Set from the allowlisted ``jku``, or configured
  out of band: inline, a file, or a URL), keys cached and refreshed on an unknown ``kid`` at most once per
  ``JWKS_REFRESH_MIN_INTERVAL_S``;
* claims: ``iss`` a configured trusted issuer; ``aud`` the exact URL invoked (``PUBLIC_BASE_URL`` + path);
  ``exp`` in the future and at most ``JWT_MAX_LIFETIME_S`` ahead; ``iat`` not in the future (``JWT_LEEWAY_S``);
  ``jti`` never seen before (replay store in the database, shared by every worker); ``sub`` and ``tenant`` on the
  issuer's allowlists when those are configured.

Any failure answers a bare 401; the reason goes to the log, never the token or its claims (only ``iss``/``kid``).
``DEV_MODE`` turns all of this off and says so loudly at start-up.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import jwt
import requests
from flask import Flask, abort, current_app, g, request
from sqlalchemy.exc import SQLAlchemyError

from cds_hooks.errors import CdsError

log = logging.getLogger(__name__)

SUPPORTED_ALGORITHMS = ("ES384", "RS384")  # CDS Hooks 2.0.1: "ES384 or RS384"; nothing else is ever accepted
_KEY_TYPE = {"ES384": ("EC", "P-384"), "RS384": ("RSA", None)}
MIN_RSA_BITS = 2048
MAX_TOKEN_CHARS = 16 * 1024
MAX_JWKS_BYTES = 256 * 1024
MAX_ID_CHARS = 256  # kid, jti, tenant, sub
MAX_PARSED_KEYS = 256  # verification keys kept parsed (VerificationKeys); a JWK Set rarely holds more than a few


class AuthFailure(Exception):
    """Why a token was refused; goes to the log only. Never put the token or a claim other than iss/kid in it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ClientIdentity:
    """Who made the current request, as far as the JWT proved it. ``issuer`` is None in dev mode only."""

    issuer: str | None
    subject: str | None = None
    tenant: str | None = None
    dev_mode: bool = False


@dataclass(frozen=True)
class IssuerPolicy:
    """What one trusted CDS client (identified by ``iss``) may do; built from ``TRUSTED_ISSUERS``."""

    issuer: str
    jwks: Mapping[str, Any] | None = None  # out of band, inline (or read from jwks_file at start-up)
    jwks_file: str | None = None  # out of band, re-read on an unknown kid (key rotation without restart)
    jwks_url: str | None = None  # out of band URL, used when the token has no jku
    jku: tuple[str, ...] = ()  # allowlist of jku header values
    fhir_servers: tuple[str, ...] = ()  # fhirServer base URLs this client may send us to (see fhir_server_policy)
    tenants: tuple[str, ...] | None = None  # when set, the tenant claim is required and must be one of these
    subjects: tuple[str, ...] | None = None  # when set, the sub claim (client_id) must be one of these


# ---------------------------------------------------------------------------------------------------
# Configuration


def load_issuer_policies(config: Mapping[str, Any]) -> dict[str, IssuerPolicy]:
    """TRUSTED_ISSUERS (a mapping, or a JSON string) merged over TRUSTED_ISSUERS_FILE. Raises ValueError when wrong:
    a misconfigured trust store must stop the start-up, not answer 401s nobody understands."""
    raw: dict[str, Any] = {}
    file = config.get("TRUSTED_ISSUERS_FILE")
    if file:
        raw.update(_json_object(Path(file).read_text(encoding="utf-8"), "TRUSTED_ISSUERS_FILE"))
    inline = config.get("TRUSTED_ISSUERS") or {}
    raw.update(_json_object(inline, "TRUSTED_ISSUERS") if isinstance(inline, str) else dict(inline))
    return {issuer: _issuer_policy(issuer, entry) for issuer, entry in raw.items()}


def _json_object(text: str, what: str) -> dict:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object keyed by issuer")
    return value


def _issuer_policy(issuer: str, entry: Any) -> IssuerPolicy:
    if not isinstance(issuer, str) or not issuer:
        raise ValueError("TRUSTED_ISSUERS: every issuer must be a non-empty string")
    if not isinstance(entry, Mapping):
        raise ValueError(f"TRUSTED_ISSUERS[{issuer!r}] must be an object")
    known = {"jwks", "jwks_file", "jwks_url", "jku", "fhir_servers", "tenants", "subjects"}
    unknown = set(entry) - known
    if unknown:
        raise ValueError(f"TRUSTED_ISSUERS[{issuer!r}]: unknown settings {sorted(unknown)}; expected {sorted(known)}")

    def strings(name: str) -> tuple[str, ...] | None:
        value = entry.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"TRUSTED_ISSUERS[{issuer!r}].{name} must be a list of strings")
        return tuple(value)

    jwks = entry.get("jwks")
    if jwks is not None:
        _check_jwks(jwks, f"TRUSTED_ISSUERS[{issuer!r}].jwks")
    jwks_file = entry.get("jwks_file")
    if jwks_file is not None:
        jwks = _read_jwks_file(jwks_file)  # read now: a missing file is a start-up error
    jwks_url = entry.get("jwks_url")
    for url in ([jwks_url] if jwks_url else []) + list(strings("jku") or ()):
        if not isinstance(url, str) or not url.lower().startswith("https://"):
            raise ValueError(f"TRUSTED_ISSUERS[{issuer!r}]: JWK Set URLs must be https")
    policy = IssuerPolicy(issuer=issuer, jwks=jwks, jwks_file=jwks_file, jwks_url=jwks_url,
                          jku=strings("jku") or (), fhir_servers=strings("fhir_servers") or (),
                          tenants=strings("tenants"), subjects=strings("subjects"))
    if policy.jwks is None and policy.jwks_url is None and not policy.jku:
        raise ValueError(f"TRUSTED_ISSUERS[{issuer!r}] has no keys: give jwks, jwks_file, jwks_url or jku")
    return policy


def _check_jwks(jwks: Any, where: str) -> None:
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise ValueError(f"{where} must be a JWK Set: an object with a 'keys' array")


def _read_jwks_file(path: str) -> dict:
    jwks = json.loads(Path(path).read_text(encoding="utf-8"))
    _check_jwks(jwks, f"JWK Set file {path}")
    return jwks


# ---------------------------------------------------------------------------------------------------
# Keys


@dataclass
class _CachedSet:
    keys: list[dict] = field(default_factory=list)
    fetched_at: float = float("-inf")  # last successful load
    attempted_at: float = float("-inf")  # last load, successful or not (the rate limit)


class KeyCache:
    """JWK Sets by source (a URL, or a file), cached for ``ttl_s``; reloaded on an unknown kid at most once per
    ``min_refresh_s`` per source, failures included, so a flood of forged kids cannot make us hammer the issuer."""

    def __init__(self, *, ttl_s: float = 3600.0, min_refresh_s: float = 60.0, fetch_timeout_s: float = 3.0,
                 session: requests.Session | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.min_refresh_s = min_refresh_s
        self.fetch_timeout_s = fetch_timeout_s
        self._session = session or requests.Session()
        self._clock = clock
        self._sets: dict[str, _CachedSet] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def keys_for(self, source: str, kid: str) -> list[dict]:
        """The keys of this kid in the source's JWK Set (an empty list when there is none)."""
        with self._guard:
            lock = self._locks.setdefault(source, threading.Lock())
            cached = self._sets.setdefault(source, _CachedSet())
        with lock:  # one load per source at a time; others wait for its result
            now = self._clock()
            stale = now - cached.fetched_at > self.ttl_s
            found = _with_kid(cached.keys, kid)
            may_reload = now - cached.attempted_at >= self.min_refresh_s
            if (stale or not found) and may_reload:
                cached.attempted_at = now
                try:
                    cached.keys = self._load(source)
                    cached.fetched_at = now
                except (requests.RequestException, ValueError, OSError, RecursionError) as exc:
                    # Keep the keys we had: a flaky JWKS endpoint must not lock every client out.
                    log.warning("JWK Set %s could not be loaded (%s)", source, type(exc).__name__)
                found = _with_kid(cached.keys, kid)
            return found

    def _load(self, source: str) -> list[dict]:
        if source.startswith("file:"):
            return list(_read_jwks_file(source[len("file:"):])["keys"])
        response = self._session.get(source, timeout=(self.fetch_timeout_s, self.fetch_timeout_s),
                                     allow_redirects=False, stream=True,
                                     headers={"Accept": "application/jwk-set+json, application/json"})
        try:
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            body = response.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
        finally:
            response.close()
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("JWK Set too large")
        jwks = json.loads(body)
        _check_jwks(jwks, "fetched JWK Set")
        return [k for k in jwks["keys"] if isinstance(k, dict)]


def _with_kid(keys: list[dict], kid: str) -> list[dict]:
    return [k for k in keys if k.get("kid") == kid]


class VerificationKeys:
    """The parsed verification key of each JWK, by issuer, algorithm and the JWK's whole content (its kid and key
    material included): parsing a JWK into a key object cost more CPU per request than the rest of the checks around
    the signature. A key that changes in the JWK Set (rotation, a reload) has other content, so it is parsed afresh;
    the least recently used entries go past ``max_entries``. Only keys that passed ``_public_key``'s checks are kept:
    a refused JWK is checked again each time."""

    def __init__(self, max_entries: int = MAX_PARSED_KEYS) -> None:
        self.max_entries = max(1, int(max_entries))
        self._keys: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, issuer: str, jwk: Mapping[str, Any], alg: str) -> Any:
        try:
            content = json.dumps(jwk, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):  # not plain JSON (inline configuration): never cached
            return _public_key(jwk, alg)
        entry = (issuer, alg, content)
        with self._lock:
            key = self._keys.get(entry)
            if key is not None:
                self._keys.move_to_end(entry)
                return key
        key = _public_key(jwk, alg)  # outside the lock: two threads may both parse the same new key, harmlessly
        with self._lock:
            self._keys[entry] = key
            self._keys.move_to_end(entry)
            while len(self._keys) > self.max_entries:
                self._keys.popitem(last=False)
        return key

    def __len__(self) -> int:
        return len(self._keys)


def _public_key(jwk: Mapping[str, Any], alg: str) -> Any:
    """The verification key of a JWK, only when it fits the algorithm the token claims."""
    kty, crv = _KEY_TYPE[alg]
    if jwk.get("kty") != kty or (crv and jwk.get("crv") != crv):
        raise AuthFailure(f"key type does not fit alg {alg}")
    if jwk.get("use") not in (None, "sig") or jwk.get("alg") not in (None, alg):
        raise AuthFailure(f"key is not for {alg} signatures")
    if "d" in jwk:
        raise AuthFailure("configured key is a private key")  # a configuration mistake worth refusing loudly
    try:
        key = jwt.PyJWK(dict(jwk), algorithm=alg).key
    except (jwt.PyJWKError, ValueError, TypeError, KeyError) as exc:
        raise AuthFailure(f"unusable JWK ({type(exc).__name__})") from None
    if kty == "RSA" and key.key_size < MIN_RSA_BITS:
        raise AuthFailure("RSA key shorter than 2048 bits")
    return key


# ---------------------------------------------------------------------------------------------------
# Verification


ReplayCheck = Callable[[str, str, float], bool]  # (issuer, jti, keep_until_epoch) -> True when new


class JwtVerifier:
    def __init__(self, issuers: Mapping[str, IssuerPolicy], *, remember_jti: ReplayCheck,
                 algorithms: tuple[str, ...] = SUPPORTED_ALGORITHMS, max_lifetime_s: float = 300.0,
                 leeway_s: float = 30.0, key_cache: KeyCache | None = None,
                 clock: Callable[[], float] = time.time, parsed_keys: VerificationKeys | None = None) -> None:
        bad = [a for a in algorithms if a not in SUPPORTED_ALGORITHMS]
        if bad or not algorithms:
            raise ValueError(f"JWT_ALGORITHMS may only name {SUPPORTED_ALGORITHMS}, got {list(algorithms)}")
        self.issuers = dict(issuers)
        self.algorithms = tuple(algorithms)
        self.max_lifetime_s = float(max_lifetime_s)
        self.leeway_s = float(leeway_s)
        self.key_cache = key_cache or KeyCache()
        self.parsed_keys = parsed_keys or VerificationKeys()
        self.remember_jti = remember_jti
        self.clock = clock

    def verify(self, token: str, audience: str) -> ClientIdentity:
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise AuthFailure("token empty or too long")
        try:
            # One parse for the header and the claims (the same checks as get_unverified_header plus decode).
            unverified_token = jwt.decode_complete(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthFailure(f"not a JWS compact token ({type(exc).__name__})") from None
        header, unverified = unverified_token["header"], unverified_token["payload"]
        alg = header.get("alg")
        if alg not in self.algorithms:  # 'none', HS*, and anything not configured
            raise AuthFailure(f"alg {_shown(alg)} not allowed")
        if not isinstance(header.get("typ"), str) or header["typ"].upper() != "JWT":
            raise AuthFailure("typ is not JWT")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > MAX_ID_CHARS:
            raise AuthFailure("kid missing")
        if "crit" in header:
            raise AuthFailure("crit header extensions are not supported")
        issuer = unverified.get("iss")
        policy = self.issuers.get(issuer) if isinstance(issuer, str) else None
        if policy is None:
            raise AuthFailure(f"iss {_shown(issuer)} not trusted")

        key = self._key(policy, header, kid, alg)
        try:
            claims = jwt.decode(
                token, key=key, algorithms=[alg], audience=audience, issuer=policy.issuer,
                leeway=self.leeway_s,
                options={"require": ["iss", "aud", "exp", "iat", "jti"], "verify_signature": True,
                         "verify_exp": True, "verify_iat": True, "verify_nbf": True, "verify_aud": True,
                         "verify_iss": True, "strict_aud": False},
            )
        except jwt.InvalidSignatureError:
            raise AuthFailure(f"bad signature (iss {_shown(issuer)}, kid {_shown(kid)})") from None
        except jwt.ExpiredSignatureError:
            raise AuthFailure(f"expired (iss {_shown(issuer)})") from None
        except jwt.ImmatureSignatureError:
            raise AuthFailure(f"iat or nbf in the future (iss {_shown(issuer)})") from None
        except jwt.InvalidAudienceError:
            raise AuthFailure(f"aud is not {audience} (iss {_shown(issuer)})") from None
        except jwt.PyJWTError as exc:
            raise AuthFailure(f"invalid token ({type(exc).__name__}, iss {_shown(issuer)})") from None

        now = self.clock()
        exp = claims["exp"]
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise AuthFailure("exp is not a number")
        if exp > now + self.max_lifetime_s + self.leeway_s:
            raise AuthFailure(f"exp further ahead than {self.max_lifetime_s:.0f} s (iss {_shown(issuer)})")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > MAX_ID_CHARS:
            raise AuthFailure("jti is not a non-empty string")
        subject = claims.get("sub")
        if policy.subjects is not None and subject not in policy.subjects:
            raise AuthFailure(f"sub not allowed for iss {_shown(issuer)}")
        tenant = claims.get("tenant")
        if tenant is not None and (not isinstance(tenant, str) or len(tenant) > MAX_ID_CHARS):
            raise AuthFailure("tenant is not a string")
        if policy.tenants is not None and tenant not in policy.tenants:
            raise AuthFailure(f"tenant not allowed for iss {_shown(issuer)}")
        # Last, so that a token refused for another reason does not use up its jti.
        if not self.remember_jti(policy.issuer, jti, float(exp) + self.leeway_s):
            raise AuthFailure(f"jti replayed (iss {_shown(issuer)})")
        return ClientIdentity(issuer=policy.issuer, subject=subject if isinstance(subject, str) else None,
                              tenant=tenant)

    def _key(self, policy: IssuerPolicy, header: Mapping[str, Any], kid: str, alg: str) -> Any:
        jku = header.get("jku")
        if jku is not None:
            if jku not in policy.jku:
                raise AuthFailure(f"jku not on the allowlist of iss {_shown(policy.issuer)}")
            candidates = self.key_cache.keys_for(jku, kid)
        elif policy.jwks_file:
            candidates = self.key_cache.keys_for("file:" + policy.jwks_file, kid)
        elif policy.jwks is not None:
            candidates = _with_kid([k for k in policy.jwks["keys"] if isinstance(k, dict)], kid)
        elif policy.jwks_url:
            candidates = self.key_cache.keys_for(policy.jwks_url, kid)
        else:
            raise AuthFailure(f"token has no jku and iss {_shown(policy.issuer)} has no out-of-band keys")
        if not candidates:
            raise AuthFailure(f"unknown kid {_shown(kid)} for iss {_shown(policy.issuer)}")
        if len(candidates) > 1:
            raise AuthFailure(f"kid {_shown(kid)} names several keys")
        return self.parsed_keys.key(policy.issuer, candidates[0], alg)


def _shown(value: Any) -> str:
    """An untrusted header/claim value fit for a log line: quoted, control characters escaped, short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------------------------------------------
# Flask wiring


def expected_audience(config: Mapping[str, Any]) -> str:
    """The exact URL invoked, as the client sees it: PUBLIC_BASE_URL + path. Never built from the request's Host
    header: the caller controls that, and a token minted for another service would pass with that service's Host."""
    return str(config["PUBLIC_BASE_URL"]).rstrip("/") + request.path


MISSING_PUBLIC_BASE_URL = (
    "CDS_PUBLIC_BASE_URL is required when authentication is on (CDS_DEV_MODE is not true): set it to the base URL "
    "the EHR calls, e.g. CDS_PUBLIC_BASE_URL=https://cds.example.org (without /cds-services). Each JWT's aud must "
    "equal it plus the request path; it is never taken from the request's Host header, which the caller controls.")


def check_public_base_url(base: Any, *, required: bool = False) -> None:
    """Raise ValueError when PUBLIC_BASE_URL is malformed, or missing while ``required`` (authentication on)."""
    if base is None or base == "":
        if required:
            raise ValueError(MISSING_PUBLIC_BASE_URL)
        return
    if not isinstance(base, str) or not base.lower().startswith(("https://", "http://")):
        raise ValueError("PUBLIC_BASE_URL must be an absolute http(s) URL such as https://cds.example.org")
    if base.rstrip("/").endswith("/cds-services"):
        raise ValueError("PUBLIC_BASE_URL is the base URL without /cds-services (the aud is base + request path)")


# Pages opened from a card link in a clinician's browser, which holds no client JWT: each request is authorised by the
# signed, expiring token in its URL instead (cds_hooks.explainer).
TOKEN_AUTHORISED_BLUEPRINTS = frozenset({"explainer"})


def current_client() -> ClientIdentity | None:
    return g.get("cds_client")


def init_app(app: Flask) -> None:
    config = app.config
    if config.get("DEV_MODE"):
        log.warning("*" * 100)
        log.warning("DEV MODE: client authentication is OFF and http fhirServer URLs are allowed. "
                    "Anyone who can reach this port can call the service. Never use CDS_DEV_MODE in production.")
        log.warning("*" * 100)

        @app.before_request
        def _dev_identity():
            g.cds_client = ClientIdentity(issuer=None, dev_mode=True)

        return

    from cds_hooks.store import store_of

    check_public_base_url(config.get("PUBLIC_BASE_URL"), required=True)
    policies = load_issuer_policies(config)
    if not policies:
        log.warning("authentication is on and no trusted issuers are configured (CDS_TRUSTED_ISSUERS): "
                    "every request will be refused with 401; set CDS_DEV_MODE=true for local development")
    algorithms = config.get("JWT_ALGORITHMS") or SUPPORTED_ALGORITHMS
    if isinstance(algorithms, str):  # CDS_JWT_ALGORITHMS=ES384 or ES384,RS384
        algorithms = [a.strip() for a in algorithms.split(",") if a.strip()]
    store = store_of(app)
    verifier = JwtVerifier(
        policies,
        remember_jti=store.remember_jti,
        algorithms=tuple(algorithms),
        max_lifetime_s=float(config["JWT_MAX_LIFETIME_S"]),
        leeway_s=float(config["JWT_LEEWAY_S"]),
        key_cache=KeyCache(ttl_s=float(config["JWKS_CACHE_S"]),
                           min_refresh_s=float(config["JWKS_REFRESH_MIN_INTERVAL_S"]),
                           fetch_timeout_s=float(config["JWKS_FETCH_TIMEOUT_S"])),
    )
    app.extensions["cds_jwt_verifier"] = verifier
    app.extensions["cds_issuer_policies"] = policies

    @app.before_request
    def _authenticate():
        if request.method == "OPTIONS":
            return None  # CORS preflight: browsers never send credentials on it
        if request.blueprint in TOKEN_AUTHORISED_BLUEPRINTS:
            return None  # a clinician's browser following a card link: the signed link token is the authorisation
        g.cds_client = authenticate(verifier, request.headers.get("Authorization", ""),
                                    expected_audience(current_app.config))
        return None


def authenticate(verifier: JwtVerifier, authorization: str, audience: str) -> ClientIdentity:
    """The verified client, or abort(401). A broken replay store is a 503: the client's token may be fine."""
    where = f"{request.method} {_shown(request.path)}"
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        log.warning("401 for %s: no bearer token", where)
        abort(401)
    try:
        return verifier.verify(token.strip(), audience)
    except AuthFailure as failure:
        log.warning("401 for %s: %s", where, failure.reason)
    except SQLAlchemyError as exc:
        log.error("JWT replay store unavailable (%s)", type(exc).__name__)
        raise CdsError(503, "The service cannot verify requests right now; retry later.") from None
    except Exception as exc:  # noqa: BLE001 - a token we failed to parse is still just a refused token
        log.warning("401 for %s: token could not be checked (%s)", where, type(exc).__name__)
    abort(401)


def issuer_policy(identity: ClientIdentity | None) -> IssuerPolicy | None:
    if identity is None or identity.issuer is None:
        return None
    return current_app.extensions.get("cds_issuer_policies", {}).get(identity.issuer)
