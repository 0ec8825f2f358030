"""The FHIR client: the only network I/O in the project.

A deliberately small surface — ``read`` one resource or page, ``search_all`` pages of a search — with
every failure surfacing as a subclass of :class:`FhirError`, every call bounded by one overall deadline,
and nothing sensitive in the logs: no token, no body, and URLs with their query values removed.

Retries of idempotent GETs (connection failures, read failures, 502/503/504, a ``Retry-After`` on
413/429/503) are left to urllib3's ``Retry``; the subclass below only makes its sleeps deadline-aware.
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import time
from dataclasses import dataclass
from contextlib import contextmanager
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.exceptions import InvalidHeader, ReadTimeoutError
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
# A request started with less than this left cannot usefully finish; refusing it early is more honest
# than a request whose timeout is a few milliseconds.
MIN_REQUEST_BUDGET_S = 0.05
RETRY_STATUSES = (502, 503, 504)


# ---------------------------------------------------------------------------------------------------
# Errors: one root, so callers can catch everything the FHIR side can do with one ``except``.
# Messages never carry the token, a body, or a query value.


class FhirError(Exception):
    """Root of every failure the FHIR client reports. Raised bare only when the client cannot be built
    (unusable base URL or access token)."""


class FhirTimeout(FhirError):
    """The server did not connect or answer within the connect/read timeout."""


class FhirConnectionError(FhirError):
    """The server could not be reached (DNS, refused, reset, TLS, retries exhausted on connection errors)."""


class FhirHTTPError(FhirError):
    """The server answered with a non-2xx status (after retries, for 502/503/504)."""

    def __init__(self, status: int, message: str | None = None) -> None:
        self.status = status
        super().__init__(message or f"FHIR server answered HTTP {status}")


class FhirInvalidResponse(FhirError):
    """The answer was not JSON, not a FHIR resource, of an unexpected resourceType, or pointed elsewhere."""


class FhirDeadlineExceeded(FhirError):
    """The call's overall time budget ran out (before a request could start, or while waiting to retry)."""


# ---------------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class ClientSettings:
    """How patient the client is. All times in seconds.

    connect_timeout_s: TCP/TLS connect timeout per attempt (slightly above a multiple of 3 s, the TCP
        retransmission window, as the requests documentation recommends).
    read_timeout_s: longest wait for the server to send bytes per attempt; capped by the time left.
    retries: extra attempts after a connection error, a read error or a 502/503/504 (GET only).
    backoff_factor: urllib3 exponential backoff between retries (0, 2·f, 4·f, …); never past the deadline.
    deadline_s: overall budget of one ``read``/``search_all`` call, retries, waits and pages included.
    page_cap: most Bundle pages ``search_all`` reads before it stops and reports truncation.
    max_entries: most resources ``search_all`` returns before it stops and reports truncation.
    max_body_bytes: largest response body read; a bigger one is refused as invalid (memory bound).
    """

    connect_timeout_s: float = 3.05
    read_timeout_s: float = 10.0
    retries: int = 2
    backoff_factor: float = 0.2
    deadline_s: float = 8.0
    page_cap: int = 10
    max_entries: int = 5000
    max_body_bytes: int = 32 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("connect_timeout_s", "read_timeout_s", "deadline_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ClientSettings.{name} must be > 0")
        if self.retries < 0 or self.backoff_factor < 0:
            raise ValueError("ClientSettings.retries and backoff_factor must be >= 0")
        if self.page_cap < 1 or self.max_entries < 1 or self.max_body_bytes < 1:
            raise ValueError("ClientSettings.page_cap, max_entries and max_body_bytes must be >= 1")


# ---------------------------------------------------------------------------------------------------
# Redaction


_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]*")
REDACTED = "<redacted>"


def _redact_query(query: str) -> str:
    parts = []
    for part in query.split("&"):
        if not part:
            continue
        name, has_value, _ = part.partition("=")
        # Keep a parameter name only if it looks like one; anything else might itself be data.
        name = name if _PARAM_NAME.fullmatch(name) else REDACTED
        parts.append(f"{name}={REDACTED}" if has_value else name)
    return "&".join(parts)


def redact_url(url: str) -> str:
    """The URL fit for a log line: query values, resource ids, user info and fragment removed; names kept.

    ``https://ehr/fhir/Observation?patient=123&code=4548-4`` → ``https://ehr/fhir/Observation?patient=<redacted>&code=<redacted>``
    ``https://ehr/fhir/Patient/123`` → ``https://ehr/fhir/Patient/<redacted>`` (a logical id can identify a patient)
    """
    try:
        parts = urlsplit(str(url))
        netloc = parts.netloc.rpartition("@")[2]  # drop user:password@
        return urlunsplit((parts.scheme, netloc, _redact_path(parts.path), _redact_query(parts.query), ""))
    except ValueError:
        return REDACTED


# ResourceType/id in a path: the id goes, the type stays (it tells what was read, not whose).
_RESOURCE_ID_IN_PATH = re.compile(r"(/[A-Z][A-Za-z]+/)[^/?\s\"')]+(?=$|[?\s\"')]|/_history|/\$)")


def _redact_path(path: str) -> str:
    return _RESOURCE_ID_IN_PATH.sub(lambda m: m.group(1) + REDACTED, path)


_QUERY_IN_TEXT = re.compile(r"\?[^\s\"')]*")


class _RedactQueryFilter(logging.Filter):
    """urllib3 logs request lines with their full query (``GET /Observation?patient=123``); strip the values."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken log call is not ours to fix; let logging report it
            return True
        redacted = _QUERY_IN_TEXT.sub(lambda m: "?" + _redact_query(m.group(0)[1:]), message)
        redacted = _RESOURCE_ID_IN_PATH.sub(lambda m: m.group(1) + REDACTED, redacted)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def _install_urllib3_redaction() -> None:
    for name in ("urllib3.connectionpool", "urllib3.util.retry"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactQueryFilter) for f in logger.filters):
            logger.addFilter(_RedactQueryFilter())


# ---------------------------------------------------------------------------------------------------
# Deadline-aware retries


# The deadline of the call in progress on this thread/context. urllib3 builds Retry objects itself, so the
# per-call deadline cannot be passed to them as an argument; a context variable keeps calls on different
# threads apart.
_CALL_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("fhir_call_deadline", default=None)


class _RetryWouldMissDeadline(Exception):
    """Raised from inside urllib3 when the next wait would end past the deadline; becomes FhirDeadlineExceeded.

    Deliberately not a urllib3/requests exception, so that neither library wraps or swallows it.
    """


class _DeadlineRetry(Retry):
    """urllib3 Retry whose waits (backoff or Retry-After) never run past the current call's deadline.

    If the server asks for a longer wait than the budget allows, we give up now instead of sleeping
    through the deadline and failing anyway.
    """

    def sleep(self, response: Any = None) -> None:
        wait: float | None = None
        if self.respect_retry_after_header and response is not None:
            try:
                wait = self.get_retry_after(response)
            except InvalidHeader:  # an unparseable Retry-After falls back to our own backoff
                wait = None
        if not wait:
            wait = self.get_backoff_time()
        deadline = _CALL_DEADLINE.get()
        if deadline is not None and time.monotonic() + wait > deadline - MIN_REQUEST_BUDGET_S:
            raise _RetryWouldMissDeadline()
        if wait > 0:
            time.sleep(wait)


@contextmanager
def _deadline_scope(deadline: float) -> Iterator[None]:
    token = _CALL_DEADLINE.set(deadline)
    try:
        yield
    finally:
        _CALL_DEADLINE.reset(token)


def _retry_policy(settings: ClientSettings) -> Retry:
    return _DeadlineRetry(
        total=settings.retries,
        connect=settings.retries,
        read=settings.retries,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        backoff_factor=settings.backoff_factor,
        respect_retry_after_header=True,
        raise_on_status=False,  # hand the last 5xx back, so we can report its status
    )


class _BearerAuth(AuthBase):
    """Bearer token as a requests auth object: it keeps ~/.netrc from overriding it and never shows in repr."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(<token>)"


# ---------------------------------------------------------------------------------------------------
# The client


# Visible ASCII, no spaces: a superset of RFC 6750's b64token that still fits in one header line.
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")


def _origin(parts: Any) -> tuple[str, str, int | None]:
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default_port


class FhirClient:
    """GETs against one FHIR server. One requests.Session (and connection pool) per client; not thread-safe."""

    def __init__(self, base_url: str, access_token: str | None = None, settings: ClientSettings = ClientSettings(),
                 session: requests.Session | None = None) -> None:
        try:
            parts = urlsplit(str(base_url).strip())
        except ValueError:
            parts = None
        if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname or parts.username:
            raise FhirError("The FHIR base URL must be an absolute http(s) URL without credentials.")
        # Strip the trailing slash so that 'base/' and 'base' join the same way; query/fragment make no sense here.
        self._base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        self._origin = _origin(parts)
        self._settings = settings
        if access_token and not _TOKEN_CHARS.fullmatch(access_token):
            # Would otherwise fail deep inside http.client (non-latin-1) or split the header (CR/LF).
            raise FhirError("The access token is not a usable bearer token.")
        self._auth = _BearerAuth(access_token) if access_token else None
        if session is None:
            # A session given by the caller is used as it is (its adapters, its retries).
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=_retry_policy(settings))
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self._session = session
        _install_urllib3_redaction()

    def __repr__(self) -> str:
        return f"FhirClient({redact_url(self._base)!r})"

    @property
    def settings(self) -> ClientSettings:
        return self._settings

    # -- public API ----------------------------------------------------------------------------------

    def read(self, relative: str, *, deadline: float | None = None) -> dict:
        """GET ``base/relative`` (``Patient/123``, ``Observation?patient=1&code=…``, or an absolute URL on
        this same server) and return the FHIR resource.

        A read of ``Type/id`` must return a ``Type``; a search must return a Bundle. ``deadline`` is an
        absolute ``time.monotonic()`` value shared by several calls; the earlier of it and
        ``settings.deadline_s`` from now applies.
        """
        url = self._resolve(relative)
        resource = self._get_resource(url, self._deadline(deadline))
        on_base = url.startswith(self._base) and url[len(self._base):][:1] in ("", "/", "?")
        expected = _expected_type(url[len(self._base):]) if on_base else None
        if expected and resource["resourceType"] != expected:
            raise FhirInvalidResponse(f"Expected a {expected}, the server returned a {resource['resourceType']}.")
        return resource

    def search_all(self, relative: str, *, deadline: float | None = None) -> tuple[list[dict], bool]:
        """Run a search and follow ``Bundle.link[relation=next]``; return ``(resources, truncated)``.

        Stops (truncated=True) at ``page_cap`` pages, at ``max_entries`` resources, or when a next link
        repeats one already read. Entries with ``search.mode = outcome`` are dropped (warnings) unless an
        issue is an error, which fails the call. A next link to another server fails the call.
        """
        settings = self._settings
        call_deadline = self._deadline(deadline)
        url: str | None = self._resolve(relative)
        seen: set[str] = set()
        resources: list[dict] = []
        pages = 0
        while url is not None:
            if url in seen:
                log.warning("FHIR search: next link repeats an earlier page (%s); stopping", redact_url(url))
                return resources, True
            if pages >= settings.page_cap:
                log.info("FHIR search: stopped at the page cap (%d pages)", settings.page_cap)
                return resources, True
            seen.add(url)
            bundle = self._get_resource(url, call_deadline)
            if bundle["resourceType"] != "Bundle":
                raise FhirInvalidResponse(f"Expected a Bundle, the server returned a {bundle['resourceType']}.")
            pages += 1
            resources.extend(bundle_resources(bundle))
            next_link = next_link_of(bundle)
            if len(resources) > settings.max_entries or (len(resources) == settings.max_entries and next_link):
                log.info("FHIR search: stopped at the entry cap (%d resources)", settings.max_entries)
                return resources[: settings.max_entries], True
            url = self._resolve(next_link) if next_link else None
        return resources, False

    # -- internals -----------------------------------------------------------------------------------

    def _deadline(self, shared: float | None) -> float:
        own = time.monotonic() + self._settings.deadline_s
        return own if shared is None else min(own, shared)

    def _resolve(self, relative: str) -> str:
        """Absolute URL for ``relative``; an absolute URL must be on this server (no SSRF through next links)."""
        if not isinstance(relative, str) or not relative.strip():
            raise FhirInvalidResponse("Empty FHIR URL.")
        relative = relative.strip()
        try:
            parts = urlsplit(relative)
        except ValueError:
            raise FhirInvalidResponse("Unparseable FHIR URL.") from None
        if parts.scheme or parts.netloc:
            # Same scheme too: an https → http link would send the token in clear text.
            if _origin(parts) != self._origin or parts.username or parts.password:
                raise FhirInvalidResponse("Refusing a link to a different server than the FHIR base URL.")
            return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
        return f"{self._base}/{relative.lstrip('/')}"

    def _read_body(self, response: requests.Response, deadline: float, url: str) -> bytes:
        body = _read_body_chunks(response, deadline, self._settings.max_body_bytes)
        log.debug("GET %s body %d bytes", redact_url(url), len(body))
        return body

    def _get_resource(self, url: str, deadline: float) -> dict:
        remaining = deadline - time.monotonic()
        if remaining < MIN_REQUEST_BUDGET_S:
            raise FhirDeadlineExceeded("The FHIR call deadline was reached before the request could start.")
        settings = self._settings
        timeout = (min(settings.connect_timeout_s, remaining), min(settings.read_timeout_s, remaining))
        started = time.monotonic()
        try:
            with _deadline_scope(deadline):
                response = self._session.get(url, headers={"Accept": FHIR_JSON}, auth=self._auth,
                                             timeout=timeout, allow_redirects=False, stream=True)
        except _RetryWouldMissDeadline:
            log.debug("GET %s gave up: the next retry would end past the deadline", redact_url(url))
            raise FhirDeadlineExceeded("A retry would have had to wait past the call deadline.") from None
        except requests.RequestException as exc:
            error = _translate(exc, deadline)
            log.debug("GET %s failed after %d ms: %s", redact_url(url), _ms_since(started), type(error).__name__)
            raise error from None
        log.debug("GET %s -> %d in %d ms", redact_url(url), response.status_code, _ms_since(started))

        # Redirects are not followed: a FHIR API has no business sending us (and our token) elsewhere.
        with response:
            if not 200 <= response.status_code < 300:
                raise FhirHTTPError(response.status_code)
            body = self._read_body(response, deadline, url)
        try:
            resource = json.loads(body)
        except ValueError:
            raise FhirInvalidResponse("The FHIR server's answer is not JSON.") from None
        except RecursionError:
            raise FhirInvalidResponse("The FHIR server's answer is nested too deeply.") from None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise FhirInvalidResponse("The FHIR server's answer is not a FHIR resource.")
        return resource


def _read_body_chunks(response: requests.Response, deadline: float, limit: int) -> bytes:
    """The body, read in chunks against the deadline: the read timeout bounds each socket read, not the whole
    body, so a server that drips a byte at a time would otherwise hold the hook indefinitely."""
    chunks: list[bytes] = []
    size = 0
    raw = response.raw
    # read1 returns whatever one socket read brings (iter_content would wait to fill each chunk).
    reads = iter(lambda: raw.read1(64 * 1024, decode_content=True), b"") if hasattr(raw, "read1") else \
        response.iter_content(chunk_size=64 * 1024)
    try:
        for chunk in reads:
            size += len(chunk)
            if size > limit:
                raise FhirInvalidResponse(f"The FHIR server's answer is larger than {limit} bytes.")
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise FhirDeadlineExceeded("The FHIR call deadline passed while the answer was still arriving.")
    except requests.RequestException as exc:
        raise _translate(exc, deadline) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:  # read1 raises urllib3's own errors, unwrapped
        wrapped = requests.Timeout(exc) if isinstance(exc, (ReadTimeoutError, TimeoutError)) else \
            requests.ConnectionError(exc)
        raise _translate(wrapped, deadline) from None
    return b"".join(chunks)


def _translate(exc: requests.RequestException, deadline: float) -> FhirError:
    timed_out = isinstance(exc, requests.Timeout) or (
        # With retries, urllib3 reports exhausted read timeouts as MaxRetryError(reason=ReadTimeoutError),
        # which requests turns into a plain ConnectionError.
        isinstance(exc, requests.ConnectionError) and exc.args
        and isinstance(getattr(exc.args[0], "reason", None), ReadTimeoutError)
    )
    if timed_out:
        # A timeout that was cut short by the call budget is the deadline's doing, not the server's.
        if deadline - time.monotonic() < MIN_REQUEST_BUDGET_S:
            return FhirDeadlineExceeded("The FHIR call deadline was reached while waiting for the server.")
        return FhirTimeout("The FHIR server did not answer in time.")
    return FhirConnectionError(f"The FHIR server could not be reached ({type(exc).__name__}).")


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]+")


def _expected_type(path_and_query: str) -> str | None:
    """``Patient/1`` → Patient; ``Observation?…`` or ``Observation`` → Bundle; anything else → no expectation."""
    path = path_and_query.lstrip("/").partition("?")[0]
    segments = [s for s in path.split("/") if s]
    if not segments or not _TYPE_NAME.fullmatch(segments[0]):
        return None
    if len(segments) == 1:
        return "Bundle"
    if segments[1].startswith(("$", "_")):  # an operation or _history/_search: no fixed answer type
        return None
    if len(segments) == 2 or (len(segments) == 4 and segments[2] == "_history"):
        return segments[0]
    return None


# ---------------------------------------------------------------------------------------------------
# Bundle helpers (shared with prefetch resolution)


def as_list(value: Any) -> list:
    """A JSON array as a list; anything else (a malformed Bundle's ``entry: {}`` or ``link: 5``) as empty."""
    return value if isinstance(value, list) else []


def next_link_of(bundle: dict) -> str | None:
    for link in as_list(bundle.get("link")):
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return link["url"]
    return None


def is_outcome_entry(entry: dict) -> bool:
    search = entry.get("search")
    resource = entry.get("resource")
    return (isinstance(search, dict) and search.get("mode") == "outcome") or (
        isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome")


def bundle_resources(bundle: dict) -> list[dict]:
    """The resources of a fetched searchset page; informational outcome entries are dropped, errors raise."""
    out: list[dict] = []
    for entry in as_list(bundle.get("entry")):
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        if is_outcome_entry(entry):
            issues = as_list(entry["resource"].get("issue"))
            if any(isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in issues):
                raise FhirInvalidResponse("The FHIR search returned an error OperationOutcome.")
            continue
        if isinstance(entry["resource"].get("resourceType"), str):
            out.append(entry["resource"])
    return out


# ---------------------------------------------------------------------------------------------------
# Building a client for one hook call


ClientFactory = Callable[[str, dict | None, ClientSettings], FhirClient]


def client_for(fhir_server: str, fhir_authorization: dict | None, settings: ClientSettings) -> FhirClient:
    """The client for a hook request's ``fhirServer``, authorised with ``fhirAuthorization.access_token``."""
    token = None
    if isinstance(fhir_authorization, dict):
        candidate = fhir_authorization.get("access_token")
        token = candidate if isinstance(candidate, str) and candidate else None
    return FhirClient(fhir_server, access_token=token, settings=settings)
