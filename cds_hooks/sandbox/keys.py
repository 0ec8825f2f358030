"""Development keys: ``sandbox keygen`` writes an EC P-384 key, its public JWK Set, and a trusted-issuers file the
service reads through ``CDS_TRUSTED_ISSUERS_FILE`` (docs/security.md). The same key signs the JWTs of CDS Hooks
calls (ES384, ``aud`` = the URL invoked) and, as a SMART Backend Services client, the token-request assertion."""
from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cds_hooks.sandbox.errors import SandboxError

KEY_FILE = "sandbox-key.json"
JWKS_FILE = "jwks.json"
TRUSTED_ISSUERS_FILE = "trusted-issuers.json"
DEFAULT_ISSUER = "https://precision-cds-sandbox.invalid"
DEFAULT_CLIENT_ID = "precision-cds-sandbox"
# Short-lived on purpose: one call per token; the service refuses more than JWT_MAX_LIFETIME_S (300 s) anyway.
SERVICE_JWT_LIFETIME_S = 60


def default_key_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "precision-cds" / "sandbox"


@dataclass(frozen=True)
class SigningKey:
    """A private key with what a JWT needs alongside it: the algorithm, the key id, issuer and client id."""

    private_key: Any
    alg: str
    kid: str
    issuer: str
    client_id: str

    def service_jwt(self, audience: str, *, tenant: str | None = None) -> str:
        """The CDS Hooks client JWT for one call: ``aud`` is the exact URL invoked, a fresh ``jti``, 60 s life."""
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": self.client_id, "aud": audience, "iat": now,
                  "exp": now + SERVICE_JWT_LIFETIME_S, "jti": str(uuid.uuid4())}
        if tenant:
            claims["tenant"] = tenant
        return jwt.encode(claims, self.private_key, algorithm=self.alg, headers={"kid": self.kid, "typ": "JWT"})

    def client_assertion(self, token_url: str, client_id: str | None = None) -> str:
        """SMART Backend Services ``private_key_jwt`` assertion: iss = sub = client id, aud = the token URL."""
        client = client_id or self.client_id
        now = int(time.time())
        claims = {"iss": client, "sub": client, "aud": token_url, "exp": now + 240, "jti": str(uuid.uuid4())}
        return jwt.encode(claims, self.private_key, algorithm=self.alg, headers={"kid": self.kid, "typ": "JWT"})


def generate_key_files(directory: Path, *, issuer: str = DEFAULT_ISSUER, client_id: str = DEFAULT_CLIENT_ID,
                       fhir_servers: tuple[str, ...] = (), force: bool = False) -> dict[str, Path]:
    """Write the private key (mode 0600), the public JWK Set and the trusted-issuers entry. Refuses to overwrite
    an existing key unless ``force``: a key other services already trust should not vanish by accident."""
    directory = Path(directory).expanduser()
    key_path, jwks_path, issuers_path = directory / KEY_FILE, directory / JWKS_FILE, directory / TRUSTED_ISSUERS_FILE
    if key_path.exists() and not force:
        raise SandboxError(f"{key_path} already exists; pass --force to replace it (services trusting it will "
                           "then refuse the sandbox until they load the new JWK Set)")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_key = ec.generate_private_key(ec.SECP384R1())
    kid = f"sandbox-{uuid.uuid4().hex[:12]}"
    private_jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(private_key, as_dict=True), "kid": kid, "alg": "ES384",
                   "use": "sig"}
    public_jwk = {k: v for k, v in private_jwk.items() if k != "d"}
    _write_private(key_path, {"issuer": issuer, "client_id": client_id, "jwk": private_jwk})
    jwks_path.write_text(json.dumps({"keys": [public_jwk]}, indent=2) + "\n", encoding="utf-8")
    entry: dict[str, Any] = {"jwks_file": str(jwks_path.resolve()), "subjects": [client_id]}
    if fhir_servers:
        entry["fhir_servers"] = list(fhir_servers)
    issuers_path.write_text(json.dumps({issuer: entry}, indent=2) + "\n", encoding="utf-8")
    return {"key": key_path, "jwks": jwks_path, "trusted_issuers": issuers_path}


def _write_private(path: Path, document: dict) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(document, indent=2) + "\n")
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed


def load_signing_key(path: Path, *, issuer: str | None = None, client_id: str | None = None) -> SigningKey:
    """A key written by ``keygen``, a bare private JWK (EC P-384 or RSA), or a PEM private key.

    ``issuer`` / ``client_id`` override what the file says (a PEM or bare JWK says nothing: the defaults apply)."""
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SandboxError(f"cannot read the key file {path}: {exc.strerror or type(exc).__name__}") from None
    stored_issuer, stored_client = DEFAULT_ISSUER, DEFAULT_CLIENT_ID
    if raw.lstrip().startswith(b"-----BEGIN"):
        try:
            private_key = serialization.load_pem_private_key(raw, password=None)
        except (ValueError, TypeError):
            raise SandboxError(f"{path} is not an unencrypted PEM private key") from None
        kid = None
    else:
        try:
            document = json.loads(raw)
        except ValueError:
            raise SandboxError(f"{path} is neither a JWK (JSON) nor a PEM private key") from None
        if isinstance(document, dict) and isinstance(document.get("jwk"), dict):
            stored_issuer = document.get("issuer") or stored_issuer
            stored_client = document.get("client_id") or stored_client
            document = document["jwk"]
        if not isinstance(document, dict) or "d" not in document:
            raise SandboxError(f"{path} holds no private JWK (a private key has a 'd' member)")
        private_key = _private_key_from_jwk(document, path)
        kid = document.get("kid")
    alg = _algorithm_for(private_key, path)
    if not kid:
        kid = _thumbprint_kid(private_key)
    return SigningKey(private_key=private_key, alg=alg, kid=kid, issuer=issuer or stored_issuer,
                      client_id=client_id or stored_client)


def _private_key_from_jwk(jwk_dict: dict, path: Path) -> Any:
    try:
        if jwk_dict.get("kty") == "EC":
            return jwt.algorithms.ECAlgorithm.from_jwk(jwk_dict)
        if jwk_dict.get("kty") == "RSA":
            return jwt.algorithms.RSAAlgorithm.from_jwk(jwk_dict)
    except (jwt.InvalidKeyError, ValueError, KeyError):
        raise SandboxError(f"{path}: the JWK is malformed") from None
    raise SandboxError(f"{path}: only EC (P-384) and RSA keys can sign CDS Hooks and SMART JWTs")


def _algorithm_for(private_key: Any, path: Path) -> str:
    """CDS Hooks and SMART Backend Services both name exactly ES384 and RS384."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(private_key.curve, ec.SECP384R1):
        return "ES384"
    if isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size >= 2048:
        return "RS384"
    raise SandboxError(f"{path}: the key must be EC P-384 (ES384) or RSA of at least 2048 bits (RS384)")


def _thumbprint_kid(private_key: Any) -> str:
    """RFC 7638 thumbprint of the public key: a stable kid for keys that come without one."""
    import base64
    import hashlib

    algorithm = jwt.algorithms.ECAlgorithm if isinstance(private_key, ec.EllipticCurvePrivateKey) else \
        jwt.algorithms.RSAAlgorithm
    public = algorithm.to_jwk(private_key.public_key(), as_dict=True)
    members = ("crv", "kty", "x", "y") if public["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({m: public[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
