"""Command line: ``precision-cds serve`` runs the service; ``precision-cds evaluate`` scores records offline;
``precision-cds db upgrade`` brings the database schema up to date (cds_hooks/db_commands.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cds_hooks.config import load_config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Precision CDS: a CDS Hooks 2.0.1 service with validated risk calculators."""


@main.command()
@click.option("--host", default=None, help="Bind address (CDS_HOST, default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (CDS_PORT, default 8080).")
@click.option("--workers", default=None, type=int, help="gunicorn worker processes (CDS_WORKERS, default 2).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the service under gunicorn with the embedded defaults."""
    from gunicorn.app.base import BaseApplication

    from cds_hooks.app import create_app

    from cds_hooks.auth import check_public_base_url

    config = load_config()
    bind = f"{host or config.get('HOST', '127.0.0.1')}:{port or config.get('PORT', 8080)}"
    try:  # before gunicorn starts: one clear line instead of a traceback from every worker
        check_public_base_url(config.get("PUBLIC_BASE_URL"), required=not config.get("DEV_MODE"))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if config.get("DEV_MODE") and not config.get("EXPLAINER_SECRET"):
        import os
        import secrets

        # One random secret for every worker of this run (inherited over fork): a card link signed by one worker
        # opens on any other. Production sets CDS_EXPLAINER_SECRET (docs/explainer.md).
        os.environ["CDS_EXPLAINER_SECRET"] = secrets.token_urlsafe(48)

    class _Server(BaseApplication):
        def load_config(self) -> None:
            from cds_hooks import gunicorn_conf

            self.cfg.set("bind", bind)
            self.cfg.set("workers", workers or int(config.get("WORKERS", 2)))
            self.cfg.set("timeout", int(config.get("WORKER_TIMEOUT_S", 30)))
            # gunicorn's access log would print query strings; hook URLs carry none, but keep it off by default.
            self.cfg.set("accesslog", config.get("ACCESS_LOG") or None)
            # The same as `gunicorn -c python:cds_hooks.gunicorn_conf`: one preloaded, frozen application shared by
            # the workers, and the audit queue committed when a worker exits.
            for name in ("preload_app", "when_ready", "post_worker_init", "worker_exit"):
                self.cfg.set(name, getattr(gunicorn_conf, name))

        def load(self):
            return create_app()

    click.echo(f"precision-cds listening on http://{bind}/cds-services", err=True)
    _Server().run()


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=True, path_type=Path))
@click.option("--service", "service_id", default="cardiovascular-risk", show_default=True,
              help="Service whose engines to run (for FHIR Bundles) or to call (for hook requests).")
@click.option("--as-of", default=None, help="Evaluate the record as of this ISO date (default: today).")
@click.option("--cards/--no-cards", default=True, show_default=True, help="Include the rendered cards.")
def evaluate(paths: tuple[Path, ...], service_id: str, as_of: str | None, cards: bool) -> None:
    """Evaluate hook-request JSON files or FHIR Bundles offline and print findings and cards as JSON.

    One JSON document per input file (JSON lines when several files or a folder are given).
    Exit status 1 when any input could not be evaluated.
    """
    from cds_hooks.evaluate import evaluate_file

    overrides = {"AS_OF": as_of} if as_of else {}
    config = load_config(overrides)
    files = [p for path in paths for p in (sorted(path.glob("*.json")) if path.is_dir() else [path])]
    failed = False
    for file in files:
        result = evaluate_file(file, service_id=service_id, config=config, include_cards=cards)
        failed = failed or "error" in result
        indent = 2 if len(files) == 1 else None
        sys.stdout.write(json.dumps(result, indent=indent, ensure_ascii=False) + "\n")
    sys.exit(1 if failed else 0)


@main.command("feedback-report")
@click.option("--service", "service_id", default=None, help="Only feedback on this service.")
@click.option("--since", default=None, help="Only feedback received on or after this ISO date/time (UTC).")
@click.option("--format", "output", type=click.Choice(["text", "json", "html"]), default="text", show_default=True,
              help="html: one self-contained page with plots (needs --out).")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to this file (required for html).")
@click.option("--period", type=click.Choice(["month", "week"]), default="month", show_default=True,
              help="Buckets of the rates over time (by the time the feedback was received).")
@click.option("--threshold", default=0.5, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Override rate at or above which a rule is a candidate to retire or retune.")
@click.option("--min-items", default=10, show_default=True, type=click.IntRange(1),
              help="Feedback items a rule needs before it can be flagged.")
def feedback_report(service_id: str | None, since: str | None, output: str, out_path: Path | None, period: str,
                    threshold: float, min_items: int) -> None:
    """Acceptance and override rates of the cards per engine and rule, over time, with the override reasons and the
    rules overridden most (from CDS_DATABASE_URL / CDS_DATA_DIR)."""
    from datetime import datetime

    from sqlalchemy.exc import SQLAlchemyError

    from cds_hooks.report import feedback_report as build, format_text
    from cds_hooks.store import Store

    try:
        since_at = datetime.fromisoformat(since) if since else None
    except ValueError:
        raise click.BadParameter("expected an ISO date or date-time", param_hint="--since") from None
    if output == "html" and out_path is None:
        raise click.UsageError("--format html writes a page: give --out FILE.html")
    try:
        report = build(Store.from_config(load_config()), service_id=service_id, since=since_at, period=period,
                       threshold=threshold, min_items=min_items)
    except SQLAlchemyError as exc:  # StoreUnavailable included: a data folder that cannot be created
        raise click.ClickException(f"the feedback database cannot be read ({type(exc).__name__}: {exc})") from None
    if output == "html":
        from cds_hooks.report_html import render_html

        text = render_html(report)
    else:
        text = json.dumps(report, indent=2) if output == "json" else format_text(report)
    if out_path is None:
        click.echo(text)
        return
    out_path.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
    click.echo(f"feedback report written to {out_path}", err=True)


def _mount_model_commands() -> None:
    """`precision-cds models train|ask|notes|calibrate|info` (engine/models/cli.py; torch loads only when used)."""
    from engine.models.cli import cli as models_cli

    main.add_command(models_cli, name="models")


_mount_model_commands()


def _mount_population_commands() -> None:
    """`precision-cds population score|report|export|generate` (population/cli.py; Dask loads only when used)."""
    from population.cli import population

    main.add_command(population, name="population")


_mount_population_commands()


def _mount_sandbox_commands() -> None:
    """`precision-cds sandbox [keygen|feedback]`: the EHR emulator against a FHIR server (cds_hooks/sandbox/)."""
    from cds_hooks.sandbox.commands import sandbox

    main.add_command(sandbox, name="sandbox")


_mount_sandbox_commands()


def _mount_db_commands() -> None:
    """`precision-cds db upgrade|downgrade|current|check|revision`: the store's schema migrations."""
    from cds_hooks.db_commands import db

    main.add_command(db, name="db")


_mount_db_commands()
