"""A FHIR Bulk Data client (Bulk Data Access IG 2.0): kick off ``$export``, poll its status, download the files.

    kick-off  GET [base]/$export | [base]/Group/<id>/$export | [base]/Patient/$export
              (Accept: application/fhir+json, Prefer: respond-async)  → 202, Content-Location: status URL
    poll      GET status URL → 202 (Retry-After, X-Progress) … → 200 with the manifest
    download  GET each output url (Accept: application/fhir+ndjson; the token when requiresAccessToken)
    clean up  DELETE status URL (the server may then free the files)

Errors are OperationOutcome bodies: their diagnostics go into BulkExportError. A status URL that answers 404/410 has
expired (the server deleted the export). Tokens and signed file URLs are never logged nor saved: the manifest written
next to the files keeps each URL without its query string.
"""
from __future__ import annotations

import email.utils
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests

log = logging.getLogger(__name__)

LEVELS = ("system", "group", "patient")
DEFAULT_POLL_S = 2.0  # when the server sends no Retry-After
MIN_POLL_S = 1.0  # a Retry-After of 0 (or a date in the past) must not turn polling into a busy loop
MAX_POLL_S = 120.0
CHUNK_BYTES = 1024 * 1024


class BulkExportError(RuntimeError):
    """The export could not be started, completed or downloaded."""


class TokenSource(Protocol):
    def token(self) -> str: ...

    def invalidate(self) -> bool: ...


@dataclass(frozen=True)
class ExportRequest:
    level: str = "system"  # system | group | patient
    group_id: str | None = None
    types: tuple[str, ...] = ()  # _type
    since: str | None = None  # _since (FHIR instant)

    def path(self) -> str:
        if self.level not in LEVELS:
            raise BulkExportError(f"level must be one of {LEVELS}")
        if self.level == "group":
            if not self.group_id:
                raise BulkExportError("a group-level export needs the Group id")
            return f"Group/{self.group_id}/$export"
        return "Patient/$export" if self.level == "patient" else "$export"

    def params(self) -> dict[str, str]:
        params = {"_outputFormat": "application/fhir+ndjson"}
        if self.types:
            params["_type"] = ",".join(self.types)
        if self.since:
            params["_since"] = self.since
        return params


class BulkDataClient:
    def __init__(self, fhir_base: str, auth: TokenSource | None = None, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 timeout_s: tuple[float, float] = (10.0, 120.0), token_hosts: Iterable[str] = ()) -> None:
        self.base = fhir_base.rstrip("/") + "/"
        self.auth = auth
        # Origins besides the FHIR server's that may receive the access token (a file server the operator trusts),
        # as https://host[:port]
        self.token_origins = {_origin(h if "://" in h else f"https://{h}") for h in token_hosts}
        self.session = session or requests.Session()
        self.sleep, self.clock, self.timeout = sleep, clock, timeout_s

    # -- the three steps ------------------------------------------------------------------------------------------
    def kick_off(self, request: ExportRequest) -> str:
        response = self._get(self.base + request.path(), params=request.params(),
                             headers={"Accept": "application/fhir+json", "Prefer": "respond-async"})
        if response.status_code != 202:
            raise BulkExportError(f"kick-off refused (HTTP {response.status_code}): {_diagnostics(response)}")
        status_url = response.headers.get("Content-Location")
        if not status_url:
            raise BulkExportError("kick-off accepted but the server gave no Content-Location status URL")
        return status_url

    def wait(self, status_url: str, max_wait_s: float = 6 * 3600,
             on_progress: Callable[[str], None] | None = None) -> dict:
        """Poll until the manifest is ready, honouring Retry-After; return the manifest."""
        deadline = self.clock() + max_wait_s
        while True:
            response = self._get(status_url, headers={"Accept": "application/json"})
            if response.status_code == 200:
                manifest = _json(response)
                if not isinstance(manifest, dict) or not isinstance(manifest.get("output"), list):
                    raise BulkExportError("the completed export's manifest has no output list")
                return manifest
            if response.status_code in (404, 410):
                raise BulkExportError(f"the export expired or was deleted on the server (HTTP "
                                      f"{response.status_code}); start a new export")
            if response.status_code not in (202, 429, 503):
                raise BulkExportError(f"the export failed (HTTP {response.status_code}): {_diagnostics(response)}")
            if on_progress and response.headers.get("X-Progress"):
                on_progress(response.headers["X-Progress"][:100])
            wait_s = retry_after_seconds(response.headers.get("Retry-After"), DEFAULT_POLL_S)
            if self.clock() + wait_s > deadline:
                raise BulkExportError(f"the export was not ready within {max_wait_s:.0f} s; its status URL is "
                                      "still valid until the server expires it")
            self.sleep(wait_s)

    def download(self, manifest: dict, out_dir: Path) -> list[Path]:
        """Each output file (and each error file, under errors/) as <Type>.<n>.ndjson; returns the output paths."""
        out_dir.mkdir(parents=True, exist_ok=True)
        with_token = bool(manifest.get("requiresAccessToken"))
        written: list[Path] = []
        numbers: dict[str, int] = {}
        for kind, items, folder in (("output", manifest.get("output") or [], out_dir),
                                    ("error", manifest.get("error") or [], out_dir / "errors")):
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get("url"), str):
                    raise BulkExportError(f"a manifest {kind} entry has no url")
                resource_type = _safe_name(str(item.get("type") or "Resource"))
                number = numbers[f"{kind}:{resource_type}"] = numbers.get(f"{kind}:{resource_type}", 0) + 1
                path = folder / f"{resource_type}.{number:03d}.ndjson"
                self._download_file(item["url"], path, with_token)
                if kind == "output":
                    written.append(path)
        if manifest.get("error"):
            log.warning("the server reported %d error file(s); they are under %s", len(manifest["error"]),
                        out_dir / "errors")
        return written

    def delete(self, status_url: str) -> None:
        """Tell the server the files are no longer needed (best effort: a failure only means it keeps them)."""
        try:
            self.session.delete(status_url, headers=self._headers({}, url=status_url), timeout=self.timeout)
        except BulkExportError:
            log.warning("the export's status URL is on another origin: not deleting it with the token")
        except requests.RequestException as exc:
            log.warning("could not delete the export on the server (%s)", type(exc).__name__)

    def export(self, request: ExportRequest, out_dir: Path, max_wait_s: float = 6 * 3600,
               on_progress: Callable[[str], None] | None = None) -> dict:
        """Kick off, wait, download into ``out_dir`` and write its manifest.json; return the manifest.

        ``out_dir`` must be empty or absent: files of an earlier export left next to the new ones would be read as
        part of it."""
        if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
            raise BulkExportError(f"{out_dir} is not empty (an earlier export's files would mix with this one's); "
                                  "choose a new --out folder or empty this one")
        status_url = self.kick_off(request)
        manifest = self.wait(status_url, max_wait_s, on_progress)
        self.download(manifest, out_dir)
        (out_dir / "manifest.json").write_text(json.dumps(_without_queries(manifest), indent=2), encoding="utf-8")
        self.delete(status_url)
        return manifest

    # -- HTTP -------------------------------------------------------------------------------------------------------
    def _headers(self, headers: dict, with_token: bool = True, url: str | None = None) -> dict:
        headers = dict(headers)
        if with_token and self.auth is not None:
            if url is not None and not self._may_send_token(url):
                raise BulkExportError(f"{_redacted(url)} is not on the FHIR server's origin; refusing to send the "
                                      "token there (allow its host with --token-host if it is trusted)")
            headers["Authorization"] = f"Bearer {self.auth.token()}"
        return headers

    def _get(self, url: str, params: dict | None = None, headers: dict | None = None, with_token: bool = True,
             stream: bool = False) -> requests.Response:
        for attempt in (1, 2):
            try:
                response = self.session.get(url, params=params, headers=self._headers(headers or {}, with_token, url),
                                            timeout=self.timeout, stream=stream)
            except requests.RequestException as exc:
                raise BulkExportError(f"{_redacted(url)} unreachable ({type(exc).__name__})") from None
            # An expired access token (SMART tokens live minutes, exports hours): ask for a new one, once.
            if response.status_code == 401 and attempt == 1 and with_token and self.auth and self.auth.invalidate():
                response.close()
                continue
            return response
        return response

    def _download_file(self, url: str, path: Path, with_token: bool) -> None:
        response = self._get(url, headers={"Accept": "application/fhir+ndjson"}, with_token=with_token, stream=True)
        if response.status_code != 200:
            raise BulkExportError(f"download of {path.name} failed (HTTP {response.status_code}): "
                                  f"{_diagnostics(response)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        try:
            with open(partial, "wb") as handle:
                for chunk in response.iter_content(CHUNK_BYTES):
                    handle.write(chunk)
        except requests.RequestException as exc:
            partial.unlink(missing_ok=True)
            raise BulkExportError(f"download of {path.name} was interrupted ({type(exc).__name__}); "
                                  "run the export again into an empty folder") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            response.close()
        os.replace(partial, path)

    def _may_send_token(self, url: str) -> bool:
        """Only to the FHIR server's own origin, or to an origin the operator allowed (https only)."""
        origin = _origin(url)
        return origin == _origin(self.base) or (origin in self.token_origins and origin[0] == "https")


def retry_after_seconds(value: str | None, default: float) -> float:
    """Retry-After as seconds (delta-seconds or an HTTP date), bounded to [MIN_POLL_S, MAX_POLL_S]."""
    if not value:
        return default
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        seconds = when.timestamp() - time.time()
    return min(max(seconds, MIN_POLL_S), MAX_POLL_S)


def _json(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return None


def _diagnostics(response: requests.Response) -> str:
    """The OperationOutcome's issue diagnostics (or details text), else the status reason."""
    body = _json(response)
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        texts = [str(i.get("diagnostics") or (i.get("details") or {}).get("text") or i.get("code") or "")
                 for i in body.get("issue") or [] if isinstance(i, dict)]
        texts = [t for t in texts if t]
        if texts:
            return "; ".join(texts)[:500]
    return response.reason or "no OperationOutcome"


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme.lower(), f"{(parts.hostname or '').lower()}:{port}"


def _without_queries(manifest: dict) -> dict:
    cleaned = dict(manifest)
    for key in ("output", "error", "deleted"):
        if isinstance(cleaned.get(key), list):
            cleaned[key] = [{**item, "url": _redacted(item["url"])} if isinstance(item, dict) and "url" in item
                            else item for item in cleaned[key]]
    return cleaned


def _safe_name(name: str) -> str:
    return "".join(c for c in name if c.isalnum()) or "Resource"


def default_types(service_ids: Iterable[str] | None = None) -> tuple[str, ...]:
    """The resource types the population services read: what ``_type`` asks the server for by default."""
    from population.services import resource_types, select_services

    return tuple(resource_types(select_services(list(service_ids) if service_ids else None)))
