"""CDS Hooks 2.0.1 prefetch: render the service's templates and resolve each key to data.

For every key a service declares, the request's ``prefetch`` is in one of four states (spec §Prefetch):

* absent            — the CDS client chose not to (or could not) prefetch: fetch it from ``fhirServer``;
* ``null``          — the client looked and there is no data: known empty, never refetched;
* an OperationOutcome, or a Bundle carrying one (``search.mode = outcome`` or an OperationOutcome entry)
                    — the client's prefetch failed: treat as absent and fetch it ourselves;
* a resource / searchset Bundle — use it; follow a ``next`` link through the FHIR server when there is one.

Every declared key is required: if its data cannot be had, :class:`PrefetchUnavailable` is raised and the
HTTP layer answers 412 (spec: "the service SHALL respond with an HTTP 412 Precondition Failed").
Only simple tokens are supported: ``{{context.<key>}}`` with a string or number value, and the four user
tokens derived from ``context.userId``. Nested paths (``{{context.draftOrders…}}``) are not.
"""
from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from fhir_adapter.client import (
    ClientFactory,
    ClientSettings,
    FhirClient,
    FhirDeadlineExceeded,
    FhirError,
    FhirHTTPError,
    FhirInvalidResponse,
    FhirTimeout,
    as_list,
    bundle_resources,
    client_for,
    next_link_of,
)

log = logging.getLogger(__name__)

Origin = Literal["provided", "fetched", "known-empty", "unavailable"]

# Spec 2.0.1 §"Prefetch tokens": user tokens are the id part of context.userId when its type matches.
USER_TOKENS: dict[str, str] = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}

_TOKEN = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


class TemplateError(ValueError):
    """A prefetch template holds a token that this request cannot fill. The message names the token only."""

    def __init__(self, token: str, why: str) -> None:
        self.token = token
        super().__init__(f"prefetch token {{{{{token}}}}} cannot be resolved: {why}")


class PrefetchUnavailable(Exception):
    """Required prefetch data could not be obtained. ``reason`` names the failure kind, never data or tokens."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"prefetch {key!r} unavailable: {reason}")


@dataclass
class PrefetchResult:
    """Resolved prefetch: per key, a resource (read template), a list of resources (search template) or
    None (known-empty read); where each came from; and notes worth showing (truncation and the like)."""

    data: dict[str, dict | list[dict] | None] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------
# Templates


def _token_value(token: str, context: dict, user_id: str | None) -> str:
    if token.startswith("context."):
        name = token[len("context."):]
        if name not in context:
            raise TemplateError(token, "not in the hook context")
        value = context[name]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise TemplateError(token, "not a string or number")
        if isinstance(value, float) and not math.isfinite(value):
            raise TemplateError(token, "not a finite number")
        text = str(value)
        if not text:
            raise TemplateError(token, "empty")
        return text
    if token in USER_TOKENS:
        if not isinstance(user_id, str):
            raise TemplateError(token, "no context.userId")
        resource_type, slash, ident = user_id.partition("/")
        if not slash or not ident or "/" in ident:
            raise TemplateError(token, "context.userId is not [ResourceType]/[id]")
        if resource_type != USER_TOKENS[token]:
            raise TemplateError(token, f"the user is not a {USER_TOKENS[token]}")
        return ident
    raise TemplateError(token, "unknown token")


def _fill(part: str, context: dict, user_id: str | None, *, in_path: bool) -> str:
    def substitute(match: re.Match[str]) -> str:
        token = match.group(1)
        value = _token_value(token, context, user_id)
        if in_path and value in (".", ".."):
            # Would step out of the resource's path once a server normalises it.
            raise TemplateError(token, "not a valid FHIR id")
        # Encoded everywhere: in the query so that '&', '=' and '#' cannot add parameters; in the path so
        # that '/' cannot point the request at a different resource.
        return quote(value, safe="")

    filled = _TOKEN.sub(substitute, part)
    if "{{" in filled or "}}" in filled:
        raise TemplateError("?", "unbalanced braces in the template")
    return filled


def render_template(template: str, context: dict, user_id: str | None = None) -> str:
    """Fill a prefetch template: ``Observation?patient={{context.patientId}}`` → ``Observation?patient=123``.

    ``user_id`` defaults to ``context.userId``. Raises TemplateError for a token it cannot fill.
    """
    if not isinstance(context, dict):
        context = {}
    if user_id is None and isinstance(context.get("userId"), str):
        user_id = context["userId"]
    path, question, query = template.partition("?")
    rendered = _fill(path, context, user_id, in_path=True)
    if question:
        rendered += "?" + _fill(query, context, user_id, in_path=False)
    return rendered


_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]+")


def template_type(template: str) -> str | None:
    """The resource type a template names first (``Observation?…`` → Observation), if it names one."""
    first = template.partition("?")[0].strip("/").split("/")[0]
    return first if _TYPE_NAME.fullmatch(first) else None


def is_search_template(template: str) -> bool:
    """``Type?…`` or a bare ``Type`` is a search (answers a Bundle); ``Type/{{id}}`` is a read."""
    path = template.partition("?")[0].strip("/")
    return "?" in template or (template_type(template) is not None and "/" not in path)


# ---------------------------------------------------------------------------------------------------
# Deadline


@dataclass(frozen=True)
class Deadline:
    """The time budget of every FHIR read of one hook call: prefetch resolution and whatever the service reads
    afterwards (note text held in a Binary). Created once when the hook starts; ``at`` is an absolute
    ``time.monotonic()`` instant, the form ``FhirClient.read(deadline=...)`` takes."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> "Deadline":
        return cls(time.monotonic() + seconds)

    def remaining_s(self) -> float:
        return max(0.0, self.at - time.monotonic())


# ---------------------------------------------------------------------------------------------------
# Resolution


def resolve_prefetch(declared: dict[str, str], request: dict, *, client_factory: ClientFactory = client_for,
                     settings: ClientSettings = ClientSettings(),
                     optional: frozenset[str] = frozenset(), deadline: Deadline | None = None) -> PrefetchResult:
    """Resolve every declared prefetch key for one hook request (sequentially, within one deadline).

    ``deadline`` is the hook's (see :class:`Deadline`); without one, ``settings.deadline_s`` from now.
    A key in ``optional`` that cannot be had is treated as known-empty with a note instead of failing the call:
    the service can still answer, and its findings name what was missing."""
    resolver = _Resolver(request, client_factory, settings, deadline or Deadline.after(settings.deadline_s))
    for key, template in declared.items():
        try:
            resolver.resolve(key, template)
        except PrefetchUnavailable as exc:
            if key not in optional:
                raise
            resolver.result.data[key] = [] if is_search_template(template) else None
            resolver.result.origins[key] = "unavailable"
            resolver.result.notes.append(f"optional prefetch '{key}' unavailable: {exc.reason}")
    return resolver.result


class _Resolver:
    def __init__(self, request: dict, client_factory: ClientFactory, settings: ClientSettings,
                 deadline: Deadline) -> None:
        request = request if isinstance(request, dict) else {}
        provided = request.get("prefetch")
        self.provided: dict = provided if isinstance(provided, dict) else {}
        context = request.get("context")
        self.context: dict = context if isinstance(context, dict) else {}
        server = request.get("fhirServer")
        self.fhir_server: str | None = server if isinstance(server, str) and server.strip() else None
        authorization = request.get("fhirAuthorization")
        self.authorization: dict | None = authorization if isinstance(authorization, dict) else None
        self.client_factory = client_factory
        self.settings = settings
        # One budget for all keys together: a hook call has to answer in time, however many keys it declares.
        self.deadline = deadline.at
        self._client: FhirClient | None = None
        self.result = PrefetchResult()
        self._last_bundle: tuple[dict, list[dict] | None] | None = None  # see _provided_resources

    # -- per key -------------------------------------------------------------------------------------

    def resolve(self, key: str, template: str) -> None:
        search = is_search_template(template)
        if key in self.provided and self.provided[key] is None:
            self._store(key, [] if search else None, "known-empty")
            return
        value = self.provided.get(key)
        problem = "not prefetched" if key not in self.provided else self._unusable(value, template, search)
        if problem:
            self._fetch(key, template, search, why=problem)
        elif search:
            self._use_provided_bundle(key, value)
        else:
            self._store(key, value, "provided")

    def _unusable(self, value: Any, template: str, search: bool) -> str | None:
        """Why a provided prefetch value cannot be used as it is, or None when it can."""
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            return "prefetched value is not a FHIR resource"
        if self._reports_failure(value):
            return "the CDS client reported a prefetch error"
        if search:
            return None if value["resourceType"] == "Bundle" else "prefetched value is not a Bundle"
        expected = template_type(template)
        if expected is not None and value["resourceType"] != expected:
            return f"prefetched value is not a {expected}"
        if isinstance(value.get("id"), str):
            # A resource for another id than the template asks for (another patient!) must not be used.
            try:
                asked_id = render_template(template, self.context).partition("?")[0].rstrip("/").rsplit("/", 1)[-1]
            except TemplateError:
                return None  # cannot tell; the id comes from the client that also filled the template
            if quote(value["id"], safe="") != asked_id:
                return "prefetched resource has another id than the template asks for"
        return None

    def _reports_failure(self, value: dict) -> bool:
        """The CDS client's way to say a prefetch failed: an OperationOutcome, alone or inside the Bundle."""
        if value["resourceType"] == "OperationOutcome":
            return True
        return value["resourceType"] == "Bundle" and self._provided_resources(value) is None

    def _provided_resources(self, bundle: dict) -> list[dict] | None:
        """``bundle_resources`` of a provided Bundle, or None when an entry reports a failed prefetch: one pass over
        the entries answers both, for the Bundle last looked at (a ~1 MiB prefetch has a thousand of them)."""
        if self._last_bundle is None or self._last_bundle[0] is not bundle:
            self._last_bundle = (bundle, _resources_unless_failed(bundle))
        return self._last_bundle[1]

    def _use_provided_bundle(self, key: str, bundle: dict) -> None:
        resources = self._provided_resources(bundle)
        self._last_bundle = None  # the list now belongs to this key
        if resources is None:  # not met: _unusable sends a Bundle reporting a failure to the FHIR server instead
            resources = bundle_resources(bundle)
        next_link = next_link_of(bundle)
        if next_link is None:
            self._store(key, resources, "provided")
            return
        if self.fhir_server is None:
            self.result.notes.append(f"{key}: the prefetched search has more pages, but no fhirServer was given to "
                                     "read them; only the first page was used")
            self._store(key, resources, "provided")
            return
        more, truncated = self._call(key, lambda client: client.search_all(next_link, deadline=self.deadline))
        if truncated:
            self._note_truncated(key)
        self._store(key, resources + more, "provided")

    def _fetch(self, key: str, template: str, search: bool, *, why: str) -> None:
        if self.fhir_server is None:
            raise PrefetchUnavailable(key, f"{why} and no fhirServer to fetch it from")
        try:
            relative = render_template(template, self.context)
        except TemplateError as exc:
            raise PrefetchUnavailable(key, f"template token {{{{{exc.token}}}}} cannot be resolved") from None
        log.debug("prefetch %s: fetching (%s)", key, why)
        if search:
            resources, truncated = self._call(key, lambda client: client.search_all(relative, deadline=self.deadline))
            if truncated:
                self._note_truncated(key)
            self._store(key, resources, "fetched")
        else:
            self._store(key, self._call(key, lambda client: client.read(relative, deadline=self.deadline)), "fetched")

    # -- helpers -------------------------------------------------------------------------------------

    def _call(self, key: str, operation: Any) -> Any:
        try:
            if self._client is None:
                self._client = self.client_factory(self.fhir_server, self.authorization, self.settings)
            return operation(self._client)
        except FhirError as exc:
            log.info("prefetch %s: FHIR fetch failed (%s)", key, type(exc).__name__)
            raise PrefetchUnavailable(key, _failure_kind(exc)) from None

    def _store(self, key: str, data: dict | list[dict] | None, origin: Origin) -> None:
        self.result.data[key] = data
        self.result.origins[key] = origin
        log.debug("prefetch %s: %s", key, origin)

    def _note_truncated(self, key: str) -> None:
        s = self.settings
        self.result.notes.append(f"{key}: search results truncated (limit of {s.page_cap} pages or {s.max_entries} "
                                 "entries, or a repeating next link); later results were not read")


def _resources_unless_failed(bundle: dict) -> list[dict] | None:
    """The resources of a provided Bundle as ``bundle_resources`` reads them, or None when an entry is the client's
    report of a failed prefetch (``search.mode`` outcome, or an OperationOutcome): then the key is fetched instead,
    whatever the other entries hold."""
    out: list[dict] = []
    append = out.append
    for entry in as_list(bundle.get("entry")):
        if not isinstance(entry, dict):
            continue
        # is_outcome_entry, written out: a ~1 MiB prefetch has a thousand entries, and the resource's type is read
        # once for both tests.
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            return None
        resource = entry.get("resource")
        if isinstance(resource, dict):
            rtype = resource.get("resourceType")
            if rtype == "OperationOutcome":
                return None
            if isinstance(rtype, str):
                append(resource)
    return out


def _failure_kind(exc: FhirError) -> str:
    """A reason fit for an OperationOutcome shown to the caller: the kind of failure, nothing from the record."""
    if isinstance(exc, FhirDeadlineExceeded):
        return "the FHIR server did not answer within the prefetch deadline"
    if isinstance(exc, FhirTimeout):
        return "the FHIR server timed out"
    if isinstance(exc, FhirHTTPError):
        return f"the FHIR server answered HTTP {exc.status}"
    if isinstance(exc, FhirInvalidResponse):
        return "the FHIR server's answer was not usable FHIR"
    if type(exc) is FhirError:  # the client raises the bare root only when it cannot be built
        return "fhirServer or fhirAuthorization.access_token is not usable"
    return "the FHIR server could not be reached"
