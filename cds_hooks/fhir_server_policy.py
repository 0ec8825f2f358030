"""Which ``fhirServer`` a hook request may send this service to (no SSRF, no token sent in clear).

A hook request names a FHIR server and hands us a bearer token for it; without a check any caller could make the
service issue requests to an internal host. Outside dev mode the ``fhirServer`` must be ``https`` and match one of
the base URLs configured for the calling issuer (``TRUSTED_ISSUERS[iss].fhir_servers``): same scheme, host and port,
and the same path or a path below it. No allowlist configured for the issuer → no FHIR server at all (prefetch only).

A refused ``fhirServer`` is never contacted: the request goes on as if the client had sent no ``fhirServer`` (and
therefore no ``fhirAuthorization``). When the prefetch is complete the call succeeds as usual; when data had to be
fetched, the answer is 412, the status CDS Hooks 2.0.1 gives to "unable to retrieve the necessary FHIR data", with a
diagnostic saying the fhirServer was refused. 400 would be wrong: the request is well formed, it is this service's
policy that prevents using that server.
"""
from __future__ import annotations

import logging
from typing import Iterable
from urllib.parse import unquote, urlsplit

from flask import current_app

from cds_hooks.auth import ClientIdentity, current_client, issuer_policy
from cds_hooks.errors import CdsError

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}


def refusal_reason(fhir_server: str, *, dev_mode: bool, allowed: Iterable[str]) -> str | None:
    """None when the service may call this fhirServer; otherwise why not (fit for the caller: no secrets in it)."""
    parts = _parts(fhir_server)
    if parts is None:
        return "fhirServer is not an absolute http(s) URL without credentials, query or fragment"
    scheme = parts[0]
    if dev_mode:
        return None
    if scheme != "https":
        return "fhirServer must use https"
    if not any(_within(parts, _parts(entry)) for entry in allowed):
        return "fhirServer is not on this client's allowlist"
    return None


def _parts(url: str) -> tuple[str, str, int, str] | None:
    try:
        split = urlsplit(str(url).strip())
        port = split.port
    except ValueError:
        return None
    scheme = split.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not split.hostname or split.username or split.password:
        return None
    if split.query or split.fragment or "\\" in split.path:
        return None
    segments = unquote(split.path).split("/")
    if any(s in (".", "..") for s in segments):
        return None  # '/fhir/../admin' would pass a prefix check and land elsewhere
    return scheme, split.hostname.lower(), port or _DEFAULT_PORTS[scheme], split.path.rstrip("/")


def _within(server: tuple[str, str, int, str], entry: tuple[str, str, int, str] | None) -> bool:
    if entry is None:
        return False
    if server[:3] != entry[:3]:
        return False
    return server[3] == entry[3] or server[3].startswith(entry[3] + "/")


def guard_fhir_server(body: dict) -> tuple[dict, str | None]:
    """The hook request to process (without fhirServer/fhirAuthorization when refused) and the refusal, if any."""
    fhir_server = body.get("fhirServer")
    if not isinstance(fhir_server, str):
        return body, None  # absent, or a schema error the validator reports
    identity: ClientIdentity | None = current_client()
    dev_mode = bool(current_app.config.get("DEV_MODE"))
    policy = issuer_policy(identity)
    reason = refusal_reason(fhir_server, dev_mode=dev_mode, allowed=policy.fhir_servers if policy else ())
    if reason is None:
        return body, None
    # An invalid request is answered 400 before any FHIR call: keep it as sent so the 400 names its real faults.
    from cds_hooks.validation import validate_hook_request

    if validate_hook_request(body):
        return body, None
    log.warning("fhirServer refused for issuer %s: %s", identity.issuer if identity else None, reason)
    stripped = {k: v for k, v in body.items() if k not in ("fhirServer", "fhirAuthorization")}
    return stripped, reason


def explain_refusal(err: CdsError, refusal: str | None) -> CdsError:
    """A 412 caused by a refused fhirServer says so instead of 'no fhirServer was given'."""
    if refusal is None or err.status != 412:
        return err
    return CdsError(412, f"Required data could not be obtained: {refusal}, so it was not contacted.",
                    expressions=err.expressions)
