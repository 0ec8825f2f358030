"""``precision-cds sandbox`` (run the services as an EHR would), ``sandbox keygen`` and ``sandbox feedback``."""
from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import date, datetime, timezone
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cds_hooks.sandbox.errors import SandboxError

TOKEN_ENV = "PRECISION_CDS_FHIR_TOKEN"


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _iso_date(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise click.BadParameter("expected an ISO date such as 2026-06-01") from None


def _in_process_settings(overrides: dict | None = None) -> tuple[dict, tempfile.TemporaryDirectory | None]:
    """Settings for the in-process service. Without CDS_DATA_DIR / CDS_DATABASE_URL its audit database goes to a
    temporary folder, removed afterwards, never to ./var of whatever folder the sandbox was started in."""
    settings = dict(overrides or {})
    if os.environ.get("CDS_DATA_DIR") or os.environ.get("CDS_DATABASE_URL"):
        return settings, None
    scratch = tempfile.TemporaryDirectory(prefix="precision-cds-sandbox-")
    settings["DATA_DIR"] = scratch.name
    return settings, scratch


def _warn_clear_text(stderr: Console, fhir_base: str, token: bool, service_url: str | None) -> None:
    """One warning when a credential would cross the network unencrypted (never the credential itself)."""
    from cds_hooks.sandbox.fhir_access import sent_in_clear

    places = []
    if token and sent_in_clear(fhir_base):
        places.append(f"the access token to the FHIR server {fhir_base}")
    if service_url and sent_in_clear(service_url):
        places.append(f"a signed JWT{' and the FHIR access token' if token else ''} to the service {service_url}")
    if places:
        stderr.print(f"warning: sending {' and '.join(places)} over plain http: anyone on the network path can "
                     "read them; use https", style="yellow", highlight=False, soft_wrap=True)


class _SandboxGroup(click.Group):
    """Turns every expected failure into one ``error:`` line and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SandboxError as exc:
            _fail(str(exc))


@click.group(cls=_SandboxGroup, invoke_without_command=True)
@click.option("--fhir", "fhir_base", metavar="URL", help="FHIR base URL of the server to read patients from.")
@click.option("--patient", "patient_ids", multiple=True, metavar="ID", help="A patient id (repeatable).")
@click.option("--patients", "patients_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A file of patient ids, one per line (# comments allowed).")
@click.option("--search", metavar="QUERY", help="A Patient search whose results are run, e.g. 'Patient?gender=female'.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1),
              help="Most patients taken from --search.")
@click.option("--service", "service_ids", multiple=True, metavar="ID", help="Only this service (repeatable).")
@click.option("--service-url", metavar="URL",
              help="Call the CDS service at this URL (where /cds-services is) with a signed JWT; default: in process.")
@click.option("--key", "key_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Signing key for --service-url and SMART (default: the one `sandbox keygen` wrote).")
@click.option("--tenant", default=None, help="tenant claim for the service JWT, when the service requires one.")
@click.option("--bearer", default=None, envvar=TOKEN_ENV, metavar="TOKEN",
              help=f"Access token for the FHIR server (or set {TOKEN_ENV}, which keeps it out of shell history).")
@click.option("--client-id", default=None, help="SMART Backend Services client id (with --private-key or --key).")
@click.option("--private-key", type=click.Path(dir_okay=False, path_type=Path),
              help="SMART client's private key: a JWK, the keygen key file, or PEM (EC P-384 or RSA).")
@click.option("--token-url", default=None, help="SMART token endpoint (default: from .well-known/smart-configuration).")
@click.option("--scope", default="system/*.read", show_default=True, help="Scope asked for (SMART) / passed on.")
@click.option("--user", "user_id", default="Practitioner/precision-cds-sandbox", show_default=True,
              help="context.userId of the hook calls.")
@click.option("--encounter", "encounter_id", default=None,
              help="context.encounterId (default: the patient's latest Encounter, for encounter-start).")
@click.option("--draft-orders", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A Bundle of draft orders for order-select / order-sign services.")
@click.option("--prefetch/--no-prefetch", default=True, show_default=True,
              help="Resolve the prefetch templates here (as an EHR does) or send none (the service fetches).")
@click.option("--as-of", default=None, callback=_iso_date, metavar="DATE",
              help="In process: evaluate records as of this ISO date (replays).")
@click.option("--save", "save_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write each hook request and response as JSON under this folder.")
@click.option("--cards/--no-cards", "show_cards", default=None,
              help="Show the cards (default: yes for one patient, no for a list).")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one line per service call on stdout (the summary goes to stderr).")
@click.option("-v", "--verbose", is_flag=True, help="Show each prefetch key's state.")
@click.pass_context
def sandbox(ctx: click.Context, fhir_base: str | None, patient_ids: tuple[str, ...], patients_file: Path | None,
            search: str | None, limit: int, service_ids: tuple[str, ...], service_url: str | None,
            key_path: Path | None, tenant: str | None, bearer: str | None, client_id: str | None,
            private_key: Path | None, token_url: str | None, scope: str, user_id: str, encounter_id: str | None,
            draft_orders: Path | None, prefetch: bool, as_of: str | None, save_dir: Path | None,
            show_cards: bool | None, output: str, verbose: bool) -> None:
    """Act as the EHR: read patients from a FHIR server, call the CDS services, show their cards.

    \b
    precision-cds sandbox --fhir http://127.0.0.1:8103/fhir --patient 123
    precision-cds sandbox --fhir URL --search 'Patient?_count=50' --save cases/
    precision-cds sandbox keygen && precision-cds sandbox --fhir URL --patient 123 --service-url http://127.0.0.1:8080

    Exit status 1 when a patient or a call failed, with a one-line reason per failure."""
    if ctx.invoked_subcommand is not None:
        return
    from cds_hooks.sandbox import fhir_access, keys, render, runner
    from cds_hooks.sandbox.service_client import InProcessService, RemoteService

    if not fhir_base:
        raise click.UsageError("--fhir URL is required (or use a subcommand: keygen, feedback)")
    sources = sum(bool(x) for x in (patient_ids, patients_file, search))
    if sources != 1:
        raise click.UsageError("give exactly one of --patient, --patients FILE or --search QUERY")
    if bearer and (client_id or private_key):
        raise click.UsageError("--bearer and SMART credentials (--client-id/--private-key) exclude each other")
    if as_of and service_url:
        raise click.UsageError("--as-of applies in process only; a remote service uses its own CDS_AS_OF")

    stdout = Console(highlight=False, soft_wrap=False)
    stderr = Console(stderr=True, highlight=False)
    if save_dir is not None:
        try:
            runner.prepare_save_dir(save_dir)
        except SandboxError as exc:
            raise click.UsageError(str(exc)) from None
    fhir_base = fhir_base.rstrip("/")
    subject = client_id or keys.DEFAULT_CLIENT_ID
    if bearer:
        credentials = fhir_access.bearer_credentials(bearer, scope, subject)
    elif client_id or private_key:
        if not client_id:
            raise click.UsageError("SMART Backend Services needs --client-id")
        smart_key = keys.load_signing_key(private_key or key_path or keys.default_key_dir() / keys.KEY_FILE,
                                          client_id=client_id)
        credentials = fhir_access.smart_backend_credentials(fhir_base, smart_key, client_id=client_id, scope=scope,
                                                            token_url=token_url)
    else:
        credentials = fhir_access.anonymous_credentials(subject)
    client = fhir_access.open_client(fhir_base, credentials)
    _warn_clear_text(stderr, fhir_base, bool(credentials.access_token), service_url)

    if service_url:
        service = RemoteService(service_url, keys.load_signing_key(key_path or keys.default_key_dir() / keys.KEY_FILE),
                                tenant=tenant)
    else:
        settings, scratch = _in_process_settings({"AS_OF": as_of} if as_of else None)
        if scratch is not None:
            ctx.call_on_close(scratch.cleanup)
        try:
            service = InProcessService(settings)
        except ValueError as exc:  # a configuration mistake create_app refuses (CDS_* variables)
            raise SandboxError(f"the in-process service cannot start: {exc}") from None

    if patient_ids:
        ids = [p.removeprefix("Patient/") for p in patient_ids]
    elif patients_file:
        ids = runner.read_patient_ids(patients_file)
    else:
        ids = runner.search_patient_ids(client, search, fhir_base, limit, token_sent=bool(credentials.access_token))

    options = runner.RunOptions(service_ids=service_ids, user_id=user_id, encounter_id=encounter_id,
                                draft_orders=draft_orders, send_prefetch=prefetch)
    engine = runner.Sandbox(service, client, fhir_base, credentials, options)
    show = show_cards if show_cards is not None else len(ids) == 1

    def report(run: runner.PatientRun) -> None:
        if output == "json":
            for line in _json_lines(run):
                click.echo(json.dumps(line, ensure_ascii=False))
        elif show:
            render.render_patient(stdout, run, in_process=service_url is None, verbose=verbose)

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=stderr, disable=len(ids) < 2 or show, transient=True)
    with progress:
        task = progress.add_task("patients", total=len(ids))

        def done(run: runner.PatientRun) -> None:
            report(run)
            progress.advance(task)

        try:
            runs = runner.run_all(engine, ids, save_dir=save_dir, on_done=done)
        except runner.RunStopped as stopped:
            progress.stop()
            if stopped.runs and len(ids) > 1:  # what was done before the stop is still reported
                render.render_summary(stderr, runner.summarise(stopped.runs))
                stderr.print(f"stopped after {len(stopped.runs)} of {len(ids)} patients")
            raise SandboxError(str(stopped)) from None
    summary = runner.summarise(runs)
    if len(ids) > 1 or output == "json" or not show:
        render.render_summary(stderr if output == "json" else stdout, summary)
    elif summary.errors and not show:
        render.render_summary(stdout, summary)
    if save_dir is not None:
        stderr.print(f"saved requests and responses under {save_dir}")
    sys.exit(1 if summary.error_count else 0)


def _json_lines(run) -> list[dict]:
    if run.error:
        return [{"patient": run.patient_id, "error": run.error}]
    lines = []
    for call in run.calls:
        line = {"patient": run.patient_id, "service": call.service_id, "hook": call.hook}
        if call.skipped:
            line["skipped"] = call.skipped
        else:
            line.update(status=call.answer.status, elapsed_ms=round(call.answer.elapsed_ms, 1),
                        prefetch=call.prefetch_states, cards=call.cards)
            if call.error:
                line["error"] = call.error
        lines.append(line)
    return lines


@sandbox.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write the files (default: ~/.config/precision-cds/sandbox).")
@click.option("--issuer", default=None, help="iss of the sandbox's JWTs (default: https://precision-cds-sandbox.invalid).")
@click.option("--client-id", default=None, help="sub of the JWTs and SMART client id (default: precision-cds-sandbox).")
@click.option("--fhir-server", "fhir_servers", multiple=True, metavar="URL",
              help="A FHIR base URL the service may be sent to by this issuer (repeatable; https outside dev mode).")
@click.option("--force", is_flag=True, help="Replace an existing key.")
def keygen(directory: Path | None, issuer: str | None, client_id: str | None, fhir_servers: tuple[str, ...],
           force: bool) -> None:
    """Write a development EC P-384 signing key, its JWK Set, and a trusted-issuers file for the service."""
    from cds_hooks.sandbox import keys

    paths = keys.generate_key_files(directory or keys.default_key_dir(), issuer=issuer or keys.DEFAULT_ISSUER,
                                    client_id=client_id or keys.DEFAULT_CLIENT_ID, fhir_servers=fhir_servers,
                                    force=force)
    click.echo(f"private key (keep it private): {paths['key']}")
    click.echo(f"public JWK Set:                {paths['jwks']}")
    click.echo(f"trusted issuers for the service: {paths['trusted_issuers']}")
    click.echo("")
    click.echo("Start the service trusting it, then call it from the sandbox:")
    click.echo(f"  CDS_TRUSTED_ISSUERS_FILE={paths['trusted_issuers']} CDS_PUBLIC_BASE_URL=http://127.0.0.1:8080 "
               "precision-cds serve")
    click.echo(f"  precision-cds sandbox --fhir URL --patient ID --service-url http://127.0.0.1:8080 --key {paths['key']}")
    click.echo(f"Register {paths['jwks']} with a FHIR server to use the same key for SMART Backend Services.")


@sandbox.command()
@click.option("--service", "service_id", required=True, help="The service that rendered the card.")
@click.option("--card", "card_uuid", required=True, help="The card's uuid (shown under each card).")
@click.option("--outcome", type=click.Choice(["accepted", "overridden"]), required=True)
@click.option("--suggestion", "suggestions", multiple=True, metavar="UUID",
              help="An accepted suggestion's uuid (repeatable; required with accepted).")
@click.option("--reason-code", default=None, help="Override reason code (one of the card's overrideReasons).")
@click.option("--reason-system", default=None, help="Override reason code system.")
@click.option("--comment", default=None, help="The clinician's free-text comment (overridden only).")
@click.option("--service-url", metavar="URL", help="The CDS service at this URL; default: in process.")
@click.option("--key", "key_path", type=click.Path(dir_okay=False, path_type=Path), help="Signing key (as for run).")
@click.option("--tenant", default=None, help="tenant claim for the service JWT.")
def feedback(service_id: str, card_uuid: str, outcome: str, suggestions: tuple[str, ...], reason_code: str | None,
             reason_system: str | None, comment: str | None, service_url: str | None, key_path: Path | None,
             tenant: str | None) -> None:
    """Send CDS Hooks feedback for one card (accepted with its suggestions, or overridden with a reason)."""
    from cds_hooks.sandbox import keys
    from cds_hooks.sandbox.service_client import InProcessService, RemoteService

    if outcome == "accepted" and not suggestions:
        raise click.UsageError("accepted feedback names the accepted suggestion(s): --suggestion UUID")
    if outcome == "accepted" and (reason_code or comment):
        raise click.UsageError("--reason-code and --comment go with --outcome overridden")
    if bool(reason_code) != bool(reason_system):
        raise click.UsageError("--reason-code and --reason-system go together")
    item: dict = {"card": card_uuid, "outcome": outcome,
                  "outcomeTimestamp": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")}
    if suggestions:
        item["acceptedSuggestions"] = [{"id": s} for s in suggestions]
    override = {}
    if reason_code:
        override["reason"] = {"code": reason_code, "system": reason_system}
    if comment:
        override["userComment"] = comment
    if override:
        item["overrideReason"] = override
    if service_url:
        service = RemoteService(service_url, keys.load_signing_key(key_path or keys.default_key_dir() / keys.KEY_FILE),
                                tenant=tenant)
    else:
        service = InProcessService()
        if not (os.environ.get("CDS_DATA_DIR") or os.environ.get("CDS_DATABASE_URL")):
            click.echo("note: CDS_DATA_DIR is not set: the in-process service stores feedback under ./var", err=True)
    answer = service.feedback(service_id, {"feedback": [item]})
    if answer.status != 200:
        raise SandboxError(f"feedback was not accepted: {answer.problem()}")
    click.echo(f"feedback stored by the {service.description} ({outcome}, card {card_uuid})")
