"""The CDS service the sandbox calls: in this process (the Flask app through its test client, so discovery,
request validation, prefetch handling, the response schema check and feedback all run as over HTTP), or a
service at a URL, each call carrying a fresh ES384 JWT whose ``aud`` is the exact URL invoked."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

import requests

from cds_hooks.sandbox.errors import SandboxError
from cds_hooks.sandbox.keys import SigningKey
from cds_hooks.validation import validate_response

SERVICE_TIMEOUT_S = (3.05, 60.0)


@dataclass
class ServiceAnswer:
    status: int  # 0: no HTTP answer at all (see failure)
    body: Any  # the parsed JSON body, or None when there was none / it was not JSON
    elapsed_ms: float
    failure: str | None = None  # why this call has no usable answer, said by the sandbox (a timeout, a bad body)

    @property
    def ok(self) -> bool:
        return self.failure is None and self.status == 200 and isinstance(self.body, dict) \
            and isinstance(self.body.get("cards"), list)

    def problem(self) -> str:
        """One line saying why a call failed: the OperationOutcome's words when there is one."""
        if self.failure is not None:
            return self.failure
        if isinstance(self.body, dict) and self.body.get("resourceType") == "OperationOutcome":
            texts = [i.get("diagnostics") or (i.get("details") or {}).get("text") or i.get("code")
                     for i in self.body.get("issue") or [] if isinstance(i, dict)]
            return f"HTTP {self.status}: " + "; ".join(str(t) for t in texts if t)
        if self.status == 401:
            return "HTTP 401: the service refused the JWT (is the sandbox key's issuer trusted? see sandbox keygen)"
        return f"HTTP {self.status}: the answer is not a CDS Hooks response"


class CdsService(Protocol):
    description: str

    def discover(self) -> list[dict]: ...

    def call(self, service_id: str, body: dict) -> ServiceAnswer: ...

    def feedback(self, service_id: str, body: dict) -> ServiceAnswer: ...


def checked_cards_answer(answer: ServiceAnswer) -> ServiceAnswer:
    """A 200 answer to a hook call must be a CDS Hooks response: checked with the project's own schema, so that a
    malformed card is one error for that call (its first JSON pointer, never the value) and never reaches the
    terminal view, the summary or ``--save`` as if it were cards."""
    if answer.status == 200 and answer.failure is None:
        issues = validate_response(answer.body)
        if issues:
            more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
            answer.failure = (f"the service's answer is not valid CDS Hooks: {issues[0].pointer or '/'} "
                              f"{issues[0].message}{more}")
    return answer


def _services_of(status: int, body: Any, where: str) -> list[dict]:
    if status == 401:
        raise SandboxError(f"the CDS service at {where} refused the JWT (HTTP 401): start it with "
                           "CDS_TRUSTED_ISSUERS_FILE pointing at the trusted-issuers.json of `sandbox keygen`")
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("services"), list):
        raise SandboxError(f"{where} did not answer a CDS Hooks discovery document (HTTP {status})")
    return [s for s in body["services"] if isinstance(s, dict) and isinstance(s.get("id"), str)]


class InProcessService:
    """The service's Flask app, built here and called without a socket. Dev mode is on because nothing outside
    this process can reach it (no port is opened) and because the FHIR server under test is often plain http."""

    description = "in-process service"

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        from cds_hooks.app import create_app
        from cds_hooks.config import load_config

        settings = {"DEV_MODE": True, "WARM_MODELS": False, "LOG_LEVEL": "ERROR"}
        settings.update(overrides or {})
        self._client = create_app(load_config(settings)).test_client()

    def discover(self) -> list[dict]:
        response = self._client.get("/cds-services")
        return _services_of(response.status_code, response.get_json(silent=True), self.description)

    def call(self, service_id: str, body: dict) -> ServiceAnswer:
        return checked_cards_answer(self._post(f"/cds-services/{service_id}", body))

    def feedback(self, service_id: str, body: dict) -> ServiceAnswer:
        return self._post(f"/cds-services/{service_id}/feedback", body)

    def _post(self, path: str, body: dict) -> ServiceAnswer:
        started = time.perf_counter()
        response = self._client.post(path, json=body)
        return ServiceAnswer(response.status_code, response.get_json(silent=True), _ms_since(started))


class RemoteService:
    """A CDS service at ``base_url`` (where ``/cds-services`` lives), called with a signed JWT per request."""

    def __init__(self, base_url: str, key: SigningKey, *, tenant: str | None = None) -> None:
        base = base_url.strip().rstrip("/")
        if base.endswith("/cds-services"):
            base = base[: -len("/cds-services")]
        if not base.startswith(("http://", "https://")):
            raise SandboxError(f"--service-url {base_url!r} is not an http(s) URL")
        self.base_url = base
        self.description = f"service at {base}"
        self._key = key
        self._tenant = tenant
        self._session = requests.Session()
        self._session.trust_env = False  # ~/.netrc must not replace our Authorization header

    def discover(self) -> list[dict]:
        answer = self._request("GET", "/cds-services")
        return _services_of(answer.status, answer.body, self.base_url)

    def call(self, service_id: str, body: dict) -> ServiceAnswer:
        return checked_cards_answer(self._request("POST", f"/cds-services/{service_id}", body))

    def feedback(self, service_id: str, body: dict) -> ServiceAnswer:
        return self._request("POST", f"/cds-services/{service_id}/feedback", body)

    def _request(self, method: str, path: str, body: dict | None = None) -> ServiceAnswer:
        url = self.base_url + path
        headers = {"Authorization": f"Bearer {self._key.service_jwt(url, tenant=self._tenant)}",
                   "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode("utf-8")
        started = time.perf_counter()
        try:
            response = self._session.request(method, url, headers=headers, data=data, timeout=SERVICE_TIMEOUT_S,
                                             allow_redirects=False)
        except requests.ReadTimeout:
            # The service was reached but this call took too long: an error of this call, not of the whole run.
            return ServiceAnswer(0, None, _ms_since(started),
                                 failure=f"the CDS service at {self.base_url} did not answer in time "
                                         f"({SERVICE_TIMEOUT_S[1]:.0f} s)")
        except requests.RequestException as exc:
            raise SandboxError(f"cannot reach the CDS service at {self.base_url} ({type(exc).__name__})") from None
        try:
            parsed = response.json() if response.content else None
        except ValueError:
            parsed = None
        return ServiceAnswer(response.status_code, parsed, _ms_since(started))


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
