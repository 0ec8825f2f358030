"""``precision-cds population score|report|export|generate``: score a whole population offline on Dask."""
from __future__ import annotations

import sys
from datetime import date, datetime, timezone
from pathlib import Path

import click


def _date(value: str | None, option: str) -> date:
    if not value:
        return datetime.now(timezone.utc).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("expected an ISO date (YYYY-MM-DD)", param_hint=option) from None


@click.group(name="population")
def population() -> None:
    """Score every patient of a FHIR Bulk Data export with the hooks' pipeline (Dask), and report on it."""


@population.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Job folder: Parquet findings, done-markers, report (a rerun resumes here).")
@click.option("--as-of", default=None, help="Evaluate every record as of this ISO date (default: today, UTC).")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1),
              help="Worker processes of the embedded LocalCluster (one thread each).")
@click.option("--partitions", default=None, type=click.IntRange(1),
              help="Patient partitions (default: from the input size, ~32 MiB of NDJSON each).")
@click.option("--scheduler", default=None, metavar="ADDR",
              help="Run on an existing Dask cluster (tcp://HOST:PORT) instead of a LocalCluster.")
@click.option("--service", "services", multiple=True,
              help="Service to run (repeatable; default: every patient-view service on structured data).")
@click.option("--keep-routed", is_flag=True, help="Keep the routed copy of the input after the job completes.")
@click.option("--report/--no-report", default=True, show_default=True, help="Write report.html at the end.")
def score(input_path: Path, out_dir: Path, as_of: str | None, workers: int, partitions: int | None,
          scheduler: str | None, services: tuple[str, ...], keep_routed: bool, report: bool) -> None:
    """Score INPUT (Bulk Data NDJSON folder or file, .ndjson[.gz], or a folder of Bundles) into --out."""
    from population.job import JobError, ScoreRequest, run_score_job
    from population.services import ServiceSelectionError
    from population.sources import InputError

    request = ScoreRequest(input_path=input_path, out_dir=out_dir, as_of=_date(as_of, "--as-of"),
                           services=services, workers=workers, partitions=partitions, scheduler=scheduler,
                           keep_routed=keep_routed)
    bars: dict[str, object] = {}

    def progress(phase: str, done: int, total: int) -> None:
        bar = bars.get(phase)
        if bar is None:
            label = "routing by patient" if phase == "route" else "scoring partitions"
            bar = bars[phase] = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True)
            bar.__enter__()
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)

    try:
        result = run_score_job(request, progress)
    except (JobError, InputError, ServiceSelectionError) as exc:
        raise click.ClickException(str(exc)) from None
    rate = result.patients / result.seconds * 60 if result.scored_now and result.seconds else 0
    click.echo(f"{result.patients} patients, {result.findings} findings in {result.partitions} partitions "
               f"({result.scored_now} scored now, {result.skipped} already done) on {result.workers} worker(s) in "
               f"{result.seconds:.1f} s" + (f" ({rate:.0f} patients/min)" if rate and not result.skipped else ""),
               err=True)
    click.echo(f"findings: {result.out_dir / 'findings'}", err=True)
    if report:
        from population.report import write_report

        click.echo(f"report: {write_report(result.out_dir)}", err=True)


@population.command(name="report")
@click.argument("out_dir", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report_command(out_dir: Path) -> None:
    """Write DIR/report.html (self-contained, opens offline) from a scoring job's Parquet files."""
    from population.report import write_report

    try:
        click.echo(str(write_report(out_dir)))
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None


@population.command()
@click.option("--fhir", "fhir_base", required=True, help="FHIR server base URL.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--group", "group_id", default=None, help="Export this Group (group level).")
@click.option("--patient-level", is_flag=True, help="Patient/$export (all patients) instead of system $export.")
@click.option("--type", "types", multiple=True,
              help="Resource type to export (repeatable; default: the types the population services read).")
@click.option("--since", default=None, help="Only resources changed since this FHIR instant (_since).")
@click.option("--token", envvar="PRECISION_CDS_BULK_TOKEN", default=None,
              help="Bearer token (better: the PRECISION_CDS_BULK_TOKEN environment variable).")
@click.option("--client-id", default=None, help="SMART Backend Services client id.")
@click.option("--private-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="PEM private key that signs the client assertion.")
@click.option("--key-id", default=None, help="kid of that key in the client's registered JWK Set.")
@click.option("--alg", type=click.Choice(["RS384", "ES384"]), default="RS384", show_default=True)
@click.option("--token-url", default=None, help="Token endpoint (default: from .well-known/smart-configuration).")
@click.option("--scope", default="system/*.read", show_default=True)
@click.option("--token-host", "token_hosts", multiple=True, metavar="HOST",
              help="A host besides the FHIR server's that may receive the token for files (https; repeatable).")
@click.option("--max-wait", default=6 * 3600, show_default=True, type=click.IntRange(1),
              help="Seconds to wait for the export to complete.")
def export(fhir_base: str, out_dir: Path, group_id: str | None, patient_level: bool, types: tuple[str, ...],
           since: str | None, token: str | None, client_id: str | None, private_key: Path | None,
           key_id: str | None, alg: str, token_url: str | None, scope: str, token_hosts: tuple[str, ...],
           max_wait: int) -> None:
    """Run a FHIR Bulk Data $export and download its NDJSON files into --out (then: population score --out)."""
    from population.bulk_export import BulkDataClient, BulkExportError, ExportRequest, default_types
    from population.smart_auth import (AuthError, BackendServicesCredentials, BackendServicesToken, StaticToken,
                                       discover_token_url)

    if group_id and patient_level:
        raise click.UsageError("--group and --patient-level are exclusive")
    try:
        auth = None
        if client_id or private_key:
            if not (client_id and private_key and key_id):
                raise click.UsageError("SMART Backend Services needs --client-id, --private-key and --key-id")
            credentials = BackendServicesCredentials(
                client_id=client_id, private_key_pem=private_key.read_text(encoding="utf-8"), key_id=key_id,
                token_url=token_url or discover_token_url(fhir_base), algorithm=alg, scope=scope)
            auth = BackendServicesToken(credentials)
        elif token:
            auth = StaticToken(token)
        request = ExportRequest(level="group" if group_id else ("patient" if patient_level else "system"),
                                group_id=group_id, types=types or default_types(), since=since)
        client = BulkDataClient(fhir_base, auth, token_hosts=token_hosts)
        manifest = client.export(request, out_dir, max_wait_s=max_wait,
                                 on_progress=lambda text: click.echo(f"export in progress: {text}", err=True))
    except (BulkExportError, AuthError) as exc:
        raise click.ClickException(str(exc)) from None
    files = len(manifest.get("output") or [])
    click.echo(f"{files} file(s) in {out_dir}; errors reported by the server: {len(manifest.get('error') or [])}",
               err=True)


@population.command()
@click.option("--from", "templates_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of template Bundles (e.g. ../shared/data/synthea).")
@click.option("--n", "count", required=True, type=click.IntRange(1), help="Patients to make.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--end", default=None, help="Latest date in the records (default: today, UTC); dates are shifted so "
                                          "each patient's latest Observation is 0-270 days before it.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--gzip", "compress", is_flag=True, help="Write .ndjson.gz.")
@click.option("--all-types", is_flag=True, help="Keep every resource type (default: the types the services read).")
def generate(templates_dir: Path, count: int, out_dir: Path, end: str | None, seed: int, compress: bool,
             all_types: bool) -> None:
    """Make N synthetic patients (new ids, shifted dates) as Bulk Data style NDJSON."""
    from population.bulk_export import default_types
    from population.generate import generate as make, load_templates

    try:
        templates = load_templates(templates_dir, None if all_types else default_types())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    manifest = make(templates, count, out_dir, end=_date(end, "--end"), seed=seed, compress=compress)
    resources = sum(item["count"] for item in manifest["output"])
    click.echo(f"{count} patients, {resources} resources in {out_dir}", err=True)
