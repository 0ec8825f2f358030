"""The FHIR server under test, reached as an EHR would: anonymously, with a bearer token, or as a SMART Backend
Services client (client_credentials grant, ``private_key_jwt`` assertion signed with ES384/RS384).

Reads go through :class:`fhir_adapter.client.FhirClient` (timeouts, retries, same-origin ``next`` links, no token
in the logs); this module only obtains the token and turns the client's errors into one-line messages."""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from cds_hooks.sandbox.errors import SandboxError
from cds_hooks.sandbox.keys import SigningKey
from fhir_adapter.client import (
    ClientSettings,
    FhirClient,
    FhirConnectionError,
    FhirDeadlineExceeded,
    FhirError,
    FhirHTTPError,
    FhirInvalidResponse,
    FhirTimeout,
)

# An EHR's bulk of reads for one patient can be large (years of Synthea observations): more pages and more time
# than the service allows itself within a hook call.
SANDBOX_CLIENT_SETTINGS = ClientSettings(deadline_s=60.0, page_cap=100, max_entries=20000, read_timeout_s=30.0)
TOKEN_TIMEOUT_S = (3.05, 15.0)


@dataclass(frozen=True)
class FhirCredentials:
    """The access token the sandbox reads with and passes on in ``fhirAuthorization`` (None: an open server)."""

    access_token: str | None
    scope: str
    expires_in: int
    subject: str

    def __repr__(self) -> str:  # never show the token, even in a debugger or an assertion message
        return f"FhirCredentials(scope={self.scope!r}, expires_in={self.expires_in}, token={'set' if self.access_token else 'none'})"

    def fhir_authorization(self, patient_id: str | None) -> dict | None:
        if not self.access_token:
            return None
        authorization = {"access_token": self.access_token, "token_type": "Bearer", "expires_in": self.expires_in,
                         "scope": self.scope, "subject": self.subject}
        if patient_id:
            authorization["patient"] = patient_id
        return authorization


# What an HTTP Authorization header can carry as a bearer token (visible ASCII, as fhir_adapter.client checks).
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")
BEARER_SOURCE = "the --bearer token (or PRECISION_CDS_FHIR_TOKEN)"


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot be sent as ``Authorization: Bearer <token>``, in words that never quote it."""
    if not token:
        return "is empty"
    if token[:7].lower() == "bearer " or token.lower() == "bearer":
        return "starts with 'Bearer': give the token alone, without the 'Bearer ' prefix"
    if any(c.isspace() for c in token):
        return "contains a space or a line break: a bearer token is one word"
    if not token.isascii():
        return "contains non-ASCII characters: a bearer token is plain ASCII"
    if not _TOKEN_CHARS.fullmatch(token):
        return "contains control characters"
    return None


def open_client(fhir_base: str, credentials: FhirCredentials,
                settings: ClientSettings = SANDBOX_CLIENT_SETTINGS) -> FhirClient:
    if credentials.access_token is not None:
        problem = token_problem(credentials.access_token)
        if problem:
            raise SandboxError(f"the access token for the FHIR server {problem}")
    try:
        return FhirClient(fhir_base, access_token=credentials.access_token, settings=settings)
    except FhirError:
        raise SandboxError(f"{fhir_base!r} is not a usable FHIR base URL (expected http:// or https://host/path)") from None


def bearer_credentials(token: str, scope: str, subject: str) -> FhirCredentials:
    token = token.strip()
    problem = token_problem(token)
    if problem:
        raise SandboxError(f"{BEARER_SOURCE} {problem}")
    # The sandbox cannot know the lifetime of a token it was handed; 300 s is what it claims to the service.
    return FhirCredentials(access_token=token, scope=scope, expires_in=300, subject=subject)


def is_loopback(url: str) -> bool:
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return host in ("localhost", "::1") or host.startswith("127.") or host.endswith(".localhost")


def sent_in_clear(url: str) -> bool:
    """True for a plain-http URL off this machine: whatever credential is sent there can be read on the way."""
    return url.strip().lower().startswith("http://") and not is_loopback(url)


def anonymous_credentials(subject: str) -> FhirCredentials:
    return FhirCredentials(access_token=None, scope="", expires_in=0, subject=subject)


def smart_backend_credentials(fhir_base: str, key: SigningKey, *, client_id: str, scope: str,
                              token_url: str | None = None) -> FhirCredentials:
    """SMART Backend Services (SMART App Launch 2.x): discover the token endpoint when not given, then POST a
    client_credentials grant with a signed assertion. Errors are one line and never include the token."""
    url = token_url or discover_token_url(fhir_base)
    assertion = key.client_assertion(url, client_id)
    form = {"grant_type": "client_credentials", "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}
    try:
        response = requests.post(url, data=form, headers={"Accept": "application/json"}, timeout=TOKEN_TIMEOUT_S,
                                 allow_redirects=False)
    except requests.RequestException as exc:
        raise SandboxError(f"cannot reach the token endpoint {url} ({type(exc).__name__})") from None
    if response.status_code != 200:
        detail = _oauth_error(response)
        raise SandboxError(f"the token endpoint {url} refused the client credentials (HTTP {response.status_code}"
                           f"{': ' + detail if detail else ''})")
    try:
        answer = response.json()
        token = answer["access_token"]
    except (ValueError, KeyError, TypeError):
        raise SandboxError(f"the token endpoint {url} did not answer an OAuth token response") from None
    if not isinstance(token, str) or not token:
        raise SandboxError(f"the token endpoint {url} answered an empty access_token")
    problem = token_problem(token)
    if problem:
        raise SandboxError(f"the access_token the token endpoint {url} answered {problem}")
    expires_in = answer.get("expires_in")
    return FhirCredentials(access_token=token, scope=str(answer.get("scope") or scope),
                           expires_in=int(expires_in) if isinstance(expires_in, (int, float)) else 300,
                           subject=client_id)


def discover_token_url(fhir_base: str) -> str:
    url = f"{fhir_base.rstrip('/')}/.well-known/smart-configuration"
    try:
        response = requests.get(url, headers={"Accept": "application/json"}, timeout=TOKEN_TIMEOUT_S,
                                allow_redirects=False)
    except requests.RequestException as exc:
        raise SandboxError(f"cannot reach the FHIR server at {fhir_base} ({type(exc).__name__})") from None
    try:
        token_url = response.json()["token_endpoint"] if response.status_code == 200 else None
    except (ValueError, KeyError, TypeError):
        token_url = None
    if not isinstance(token_url, str) or not token_url.startswith(("https://", "http://")):
        raise SandboxError(f"{url} names no token_endpoint (HTTP {response.status_code}); give --token-url")
    return token_url


def _oauth_error(response: requests.Response) -> str:
    """RFC 6749 error code and description: the server's words, which never echo the assertion."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body[k])[:200] for k in ("error", "error_description") if isinstance(body.get(k), str)]
    return " — ".join(parts)


def describe_fhir_error(exc: FhirError, fhir_base: str, what: str, *, token_sent: bool = False) -> str:
    """One line for the user: what was being read, on which server, and the kind of failure. ``token_sent``: the
    request carried an access token (a 401 then means that token was refused, not that one is missing)."""
    if isinstance(exc, FhirHTTPError):
        if exc.status == 401 and token_sent:
            return f"the FHIR server at {fhir_base} refused the given access token for {what} (HTTP 401): " \
                   "it is wrong, expired or for another server"
        if exc.status == 401:
            return f"the FHIR server at {fhir_base} refused the request for {what} (HTTP 401): " \
                   "give --bearer, or SMART credentials (--client-id, --private-key)"
        if exc.status == 403:
            return f"the FHIR server at {fhir_base} forbids reading {what} (HTTP 403): check the token's scopes"
        if exc.status in (404, 410):
            return f"{what} was not found on the FHIR server at {fhir_base} (HTTP {exc.status})"
        return f"the FHIR server at {fhir_base} answered HTTP {exc.status} for {what}"
    if isinstance(exc, (FhirTimeout, FhirDeadlineExceeded)):
        return f"the FHIR server at {fhir_base} did not answer in time while reading {what}"
    if isinstance(exc, FhirConnectionError):
        return f"cannot reach the FHIR server at {fhir_base} (connection failed)"
    if isinstance(exc, FhirInvalidResponse):
        return f"the answer from {fhir_base} for {what} is not FHIR ({exc})"
    return f"the FHIR server at {fhir_base} could not be used ({type(exc).__name__})"


def is_fatal(exc: FhirError) -> bool:
    """Failures that concern every patient of a list — the server unreachable, credentials refused (401/403), a
    base URL that does not answer FHIR — stop the run. A timeout or a 5xx concerns one read: it is an error of that
    patient (or that prefetch key) and the run goes on."""
    if isinstance(exc, FhirHTTPError):
        return exc.status in (401, 403)
    if isinstance(exc, (FhirTimeout, FhirDeadlineExceeded)):
        return False
    return isinstance(exc, (FhirConnectionError, FhirInvalidResponse)) or type(exc) is FhirError
