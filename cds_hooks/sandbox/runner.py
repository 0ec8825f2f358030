"""Run the services for one patient or a list, as the EHR would, and keep what a summary and ``--save`` need."""
from __future__ import annotations

import json
import math
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import quote

from cds_hooks.sandbox import ehr
from cds_hooks.sandbox.errors import SandboxError
from cds_hooks.sandbox.fhir_access import FhirCredentials, describe_fhir_error, is_fatal
from cds_hooks.sandbox.service_client import CdsService, ServiceAnswer
from fhir_adapter.client import FhirClient, FhirError, bundle_resources, next_link_of

INDICATORS = ("critical", "warning", "info")


@dataclass
class ServiceCall:
    service_id: str
    hook: str
    request: dict | None = None
    answer: ServiceAnswer | None = None
    skipped: str | None = None  # why the hook was not called for this patient
    prefetch_states: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def cards(self) -> list[dict]:
        return self.answer.body["cards"] if self.answer is not None and self.answer.ok else []

    @property
    def error(self) -> str | None:
        if self.answer is None or self.answer.ok:
            return None
        return self.answer.problem()


@dataclass
class PatientRun:
    patient_id: str
    patient: dict | None = None
    calls: list[ServiceCall] = field(default_factory=list)
    error: str | None = None  # the patient could not be run at all (not found)


@dataclass
class RunOptions:
    service_ids: tuple[str, ...] = ()
    user_id: str = "Practitioner/precision-cds-sandbox"
    encounter_id: str | None = None
    draft_orders: Path | None = None
    send_prefetch: bool = True


class Sandbox:
    """The EHR: reads the patient, builds each hook's request, calls each service, keeps the answers."""

    def __init__(self, service: CdsService, client: FhirClient, fhir_base: str, credentials: FhirCredentials,
                 options: RunOptions) -> None:
        self.service = service
        self.client = client
        self.fhir_base = fhir_base.rstrip("/")
        self.credentials = credentials
        self.options = options
        self.services = self._select(service.discover(), options.service_ids)

    @property
    def token_sent(self) -> bool:
        return bool(self.credentials.access_token)

    @staticmethod
    def _select(discovered: list[dict], wanted: tuple[str, ...]) -> list[dict]:
        if not wanted:
            return discovered
        known = {s["id"]: s for s in discovered}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise SandboxError(f"unknown service {unknown[0]!r}; the service offers: {', '.join(sorted(known))}")
        return [known[w] for w in wanted]

    def run_patient(self, patient_id: str) -> PatientRun:
        """One patient. A failure that concerns every patient (see :func:`is_fatal`) raises SandboxError; any other
        failure to read the patient (not found, a timeout, a 5xx) is this patient's error and the caller goes on."""
        run = PatientRun(patient_id=patient_id)
        try:
            run.patient = self.client.read(f"Patient/{quote(patient_id, safe='')}")
        except FhirError as exc:
            message = describe_fhir_error(exc, self.fhir_base, f"Patient/{patient_id}", token_sent=self.token_sent)
            if is_fatal(exc):
                raise SandboxError(message) from None
            run.error = message
            return run
        encounter_id = self.options.encounter_id
        if encounter_id is None and any(s["hook"] == "encounter-start" for s in self.services):
            encounter_id = ehr.latest_encounter_id(self.client, patient_id, self.fhir_base,
                                                   token_sent=self.token_sent)
        draft_orders = ehr.load_draft_orders(self.options.draft_orders, patient_id) \
            if self.options.draft_orders else None
        context = ehr.HookContext(patient_id=patient_id, user_id=self.options.user_id, encounter_id=encounter_id,
                                  draft_orders=draft_orders)
        for service in self.services:
            run.calls.append(self._call(service, context))
        return run

    def _call(self, service: dict, context: ehr.HookContext) -> ServiceCall:
        call = ServiceCall(service_id=service["id"], hook=service.get("hook", "?"))
        hook_context = context.for_hook(call.hook) if call.hook in ehr.SUPPORTED_HOOKS else None
        if hook_context is None:
            call.skipped = ehr.skip_reason(call.hook, context)
            return call
        prefetch = None
        if self.options.send_prefetch:
            build = ehr.resolve_prefetch(service.get("prefetch") or {}, hook_context, self.client, self.fhir_base,
                                         token_sent=self.token_sent)
            prefetch, call.prefetch_states, call.notes = build.prefetch, build.states, build.notes
        call.request = ehr.hook_request(service=service, context=hook_context, fhir_base=self.fhir_base,
                                        fhir_authorization=self.credentials.fhir_authorization(context.patient_id),
                                        prefetch=prefetch)
        call.answer = self.service.call(service["id"], call.request)
        return call


# ---------------------------------------------------------------------------------------------------------------
# Patient lists


def read_patient_ids(path: Path) -> list[str]:
    """One id per line (``Patient/`` prefix allowed); blank lines and ``#`` comments ignored."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SandboxError(f"cannot read the patient list {path}: {type(exc).__name__}") from None
    ids = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            ids.append(text.removeprefix("Patient/"))
    if not ids:
        raise SandboxError(f"{path} lists no patient ids")
    return ids


def search_patient_ids(client: FhirClient, query: str, fhir_base: str, limit: int, *,
                       token_sent: bool = False) -> list[str]:
    """The ids a ``Patient?…`` search finds, following next links, at most ``limit``."""
    query = query.strip().lstrip("/")
    if not (query == "Patient" or query.startswith("Patient?")):
        raise SandboxError("--search must be a Patient search such as 'Patient?gender=female&birthdate=le1970'")
    ids: list[str] = []
    url: str | None = query
    try:
        while url is not None and len(ids) < limit:
            page = client.read(url)
            ids.extend(r["id"] for r in bundle_resources(page)
                       if r.get("resourceType") == "Patient" and isinstance(r.get("id"), str))
            url = next_link_of(page)
    except FhirError as exc:
        raise SandboxError(describe_fhir_error(exc, fhir_base, f"the search {query!r}",
                                               token_sent=token_sent)) from None
    if not ids:
        raise SandboxError(f"the search {query!r} found no patients on {fhir_base}")
    return list(dict.fromkeys(ids))[:limit]


class RunStopped(SandboxError):
    """A failure that concerns every patient stopped a list; ``runs`` are the patients done before it."""

    def __init__(self, message: str, runs: list[PatientRun]) -> None:
        super().__init__(message)
        self.runs = runs


def run_all(sandbox: Sandbox, patient_ids: Iterable[str], *, save_dir: Path | None = None,
            on_done: Callable[[PatientRun], None] | None = None) -> list[PatientRun]:
    """Every patient in turn. A patient's own failure is in its PatientRun; a failure that concerns them all
    raises :class:`RunStopped` carrying the runs done so far (so their summary is not lost)."""
    runs: list[PatientRun] = []
    for patient_id in patient_ids:
        try:
            run = sandbox.run_patient(patient_id)
        except RunStopped:
            raise
        except SandboxError as exc:
            raise RunStopped(str(exc), runs) from None
        if save_dir is not None:
            save_run(run, save_dir)
        runs.append(run)
        if on_done is not None:
            on_done(run)
    return runs


# ---------------------------------------------------------------------------------------------------------------
# --save


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def save_run(run: PatientRun, directory: Path) -> None:
    """``DIR/<patient>/<service>.request.json`` and ``.response.json``: a real case becomes a fixture.

    ``fhirAuthorization`` is left out of the saved request: a token must not end up in a file or a repository.
    A patient with no request (not found, or every hook skipped) gets no folder. The folder ``directory`` itself is
    checked before the run (:func:`prepare_save_dir`); a failure to write here stops the run with one line."""
    calls = [call for call in run.calls if call.request is not None]
    if not calls:
        return
    folder = Path(directory) / _UNSAFE.sub("_", run.patient_id)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for call in calls:
            request = {k: v for k, v in call.request.items() if k != "fhirAuthorization"}
            name = _UNSAFE.sub("_", call.service_id)
            _write_json(folder / f"{name}.request.json", request)
            if call.answer is not None:
                _write_json(folder / f"{name}.response.json",
                            call.answer.body if call.answer.body is not None else {"httpStatus": call.answer.status})
    except OSError as exc:
        raise SandboxError(f"cannot write under --save {directory}: {exc.strerror or type(exc).__name__}") from None


def prepare_save_dir(directory: Path) -> Path:
    """Create the ``--save`` folder (and its parents) before anything runs; raise SandboxError in one line when it
    cannot be a writable folder, so that no run is lost at its first patient."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise SandboxError(f"--save {directory} is a file, not a folder")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SandboxError(f"--save {directory}: cannot create the folder ({exc.strerror or type(exc).__name__})") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise SandboxError(f"--save {directory}: the folder is not writable")
    return directory


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------
# Summary


@dataclass
class Summary:
    patients: int = 0
    patients_failed: int = 0  # not found, or their record could not be read
    cards: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # service -> indicator -> n
    calls: Counter = field(default_factory=Counter)
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (patient, service or "-", message)
    skipped: Counter = field(default_factory=Counter)
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    @property
    def error_count(self) -> int:
        return len(self.errors)

    def all_latencies(self) -> list[float]:
        return [ms for values in self.latencies_ms.values() for ms in values]


def summarise(runs: Iterable[PatientRun]) -> Summary:
    summary = Summary()
    for run in runs:
        summary.patients += 1
        if run.error:
            summary.patients_failed += 1
            summary.errors.append((run.patient_id, "-", run.error))
            continue
        for call in run.calls:
            if call.skipped:
                summary.skipped[call.service_id] += 1
                continue
            summary.calls[call.service_id] += 1
            summary.latencies_ms[call.service_id].append(call.answer.elapsed_ms)
            if call.error:
                summary.errors.append((run.patient_id, call.service_id, call.error))
            for card in call.cards:
                summary.cards[call.service_id][card.get("indicator", "info")] += 1
    return summary


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (no interpolation: with few calls, a latency that really happened)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
