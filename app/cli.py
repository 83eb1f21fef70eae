"""The ``runbook-router`` command: serve, migrate, check, render, kpis, tokens."""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from app import authoring
from app.auth import registry
from app.auth.bootstrap import ensure_tokens, receiver_snippet
from app.auth.principals import Role
from app.authoring import Format
from app.checks.project import Paths, check_project
from app.classification.catalog import load_catalog
from app.cli_errors import one_line_errors, run
from app.cli_inputs import (
    check_channels,
    check_team,
    check_timezone,
    config_file,
    known_teams,
    open_database,
    parse_window,
)
from app.config import load_config
from app.database_url import check_database_url
from app.db import Database
from app.durations import format_duration
from app.logging import configure_logging
from app.main import create_app
from app.metrics.kpis import report as kpi_report
from app.migrate import migrate as run_migrations
from app.schema import ensure_schema
from app.settings import Settings

cli = typer.Typer(
    help="Runbook Router: Alertmanager alerts to runbooks and incidents.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
log = logging.getLogger(__name__)


@cli.command()
@one_line_errors
def migrate() -> None:
    """Upgrade the database schema to the latest version."""
    settings = Settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    run_migrations(settings.database_url)
    out.print(f"database at {settings.database_url.split('@')[-1]} is up to date")


@cli.command()
@one_line_errors
def check(
    catalog_dir: Annotated[Path | None, typer.Option(help="runbook folder")] = None,
    config: Annotated[Path | None, typer.Option(help="configuration file")] = None,
    rules_dir: Annotated[Path, typer.Option(help="Prometheus rule files")] = Path("alert_rules"),
    dashboards_dir: Annotated[Path, typer.Option(help="Grafana dashboards")] = Path(
        "grafana/dashboards"
    ),
) -> None:
    """Validate runbooks (rendered once each), configuration, alert rules and dashboards.

    Each problem is printed as file:line: message; any problem exits 1.
    """
    settings = Settings()
    paths = Paths(
        catalog_dir=catalog_dir or settings.catalog_dir,
        config=config or settings.config,
        config_required=config is not None,
        rules_dir=rules_dir,
        dashboards_dir=dashboards_dir,
    )
    report = check_project(paths=paths, settings=settings, now=datetime.now(UTC))
    for note in report.notes:
        out.print(note, markup=False, highlight=False)
    for warning in report.warnings:
        err.print(f"[yellow]warning[/yellow] {escape(warning)}", highlight=False)
    for problem in report.problems:
        typer.echo(problem, err=True)
    if report.problems:
        typer.echo(f"{len(report.problems)} problem(s)", err=True)
        raise typer.Exit(1)


@cli.command()
@one_line_errors
def render(
    alert_file: Annotated[
        str | None, typer.Argument(help="Alertmanager payload or alert JSON file; - for stdin")
    ] = None,
    label: Annotated[list[str] | None, typer.Option(help="k=v, repeatable")] = None,
    runbook_class: Annotated[
        str | None, typer.Option("--class", help="this runbook, not the matchers' choice")
    ] = None,
    alert: Annotated[int, typer.Option(help="which alert of the file, from 1")] = 1,
    fmt: Annotated[Format, typer.Option("--format", help="md or html")] = Format.MD,
    enrich: Annotated[
        bool, typer.Option(help="fetch the runbook's live queries and probes")
    ] = False,
    catalog_dir: Annotated[Path | None, typer.Option(help="runbook folder")] = None,
    config: Annotated[Path | None, typer.Option(help="configuration file")] = None,
) -> None:
    """Render a runbook for an alert to stdout, offline (no database, no enrichment)."""
    settings = Settings()
    request = authoring.request_for(
        alert_file, index=alert, extra=authoring.parse_labels(label or [])
    )
    directory = catalog_dir or settings.catalog_dir
    runbook, why = authoring.choose(load_catalog(directory), request, runbook_class)
    text = authoring.render(
        runbook=runbook,
        request=request,
        catalog_dir=directory,
        config=load_config(config_file(config, settings.config)),
        settings=settings,
        now=datetime.now(UTC),
        html=fmt is Format.HTML,
        fetch=enrich,
    )
    typer.echo(text, nl=not text.endswith("\n"))
    typer.echo(f"runbook {runbook.name} ({why})", err=True)


@cli.command()
@one_line_errors
def serve(
    host: Annotated[str | None, typer.Option(help="address to bind")] = None,
    port: Annotated[int | None, typer.Option(help="port to bind")] = None,
    migrate_first: Annotated[
        bool | None,
        typer.Option("--migrate/--no-migrate", help="migrate first (default: on SQLite only)"),
    ] = None,
) -> None:
    """Serve the API and UI (one process; run several on PostgreSQL to scale).

    An SQLite database is migrated first; on PostgreSQL a schema that is missing or behind
    stops the start with the fix (`runbook-router migrate`), unless --migrate is given.
    """
    base = Settings()
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings, generated = ensure_tokens(base.model_copy(update=overrides))
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    check_database_url(settings.database_url)
    check_channels(settings.config, os.environ)
    _ensure_schema(settings.database_url, migrate_first)
    if generated or sys.stdout.isatty():
        _print_bootstrap(settings, generated)
    app = create_app(settings)
    # What is loaded by now (modules, the app) lives as long as the process: move it out of
    # the collector's reach, or every full collection walks it (86 ms measured, stalling
    # each request in flight, the webhook's p99). A webhook allocates thousands of objects,
    # so the young generation is collected every 50,000 allocations rather than 700: in an
    # alert storm that took the collector from 6.7 % of the CPU to 1.5 %.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
    # uvicorn stops gracefully on SIGTERM, then raises it again, which would end the process
    # as killed by the signal: handled as Ctrl-C is (KeyboardInterrupt), it exits 0.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
        # Never uvicorn's default (believe X-Forwarded-For from 127.0.0.1, or from
        # FORWARDED_ALLOW_IPS): app.http.forwarded applies RUNBOOK_ROUTER_FORWARDED_ALLOW_IPS.
        proxy_headers=False,
    )
    log.info("runbook router stopped gracefully")


def _ensure_schema(database_url: str, migrate_first: bool | None) -> None:
    """Migrate or check the schema before serving; one line and exit 1 when it cannot."""
    try:
        refusal = ensure_schema(database_url, migrate=migrate_first)
    except SQLAlchemyError as error:
        refusal = f"the database could not be migrated: {str(error).splitlines()[0]}"
    if refusal:
        err.print(f"[red]error[/red] {escape(refusal)}", highlight=False)
        raise typer.Exit(1)


def _print_bootstrap(settings: Settings, generated: bool) -> None:
    token = settings.webhook_token_list()[0]
    where = settings.data_dir / "bootstrap-tokens.env"
    out.print(f"[bold]{'Generated' if generated else 'Using'} tokens in {where}[/bold]")
    out.print(f"  ingest token: {token}\n  admin token:  {settings.admin_token.get_secret_value()}")
    out.print("Paste into alertmanager.yml:\n")
    out.print(receiver_snippet(settings, token), markup=False, highlight=False)


def _fmt(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(timedelta(seconds=round(seconds)))


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


@cli.command()
@one_line_errors
def kpis(window: Annotated[str, typer.Option(help="time window, e.g. 30d")] = "30d") -> None:
    """KPIs by runbook class for a window, as a table."""
    settings = Settings()
    span = parse_window(window)
    classes = load_catalog(settings.catalog_dir).classes
    db = open_database(settings.database_url)
    try:
        with db.session() as session:
            data = kpi_report(session, classes=classes, window=span, now=datetime.now(UTC))
    finally:
        db.dispose()
    table = Table(title=f"Runbook Router KPIs, last {window}")
    for column in (
        "class",
        "incidents",
        "open",
        "MTTA p50/p90",
        "MTTR p50/p90",
        "recurrence",
        "flaps",
        "first view p50/p90",
        "viewed <15m",
    ):
        table.add_column(column, justify="left" if column == "class" else "right")
    for c in data.classes:
        table.add_row(
            c.runbook_class,
            str(c.incidents),
            str(c.open),
            f"{_fmt(c.mtta.median_seconds)} / {_fmt(c.mtta.p90_seconds)}",
            f"{_fmt(c.mttr.median_seconds)} / {_fmt(c.mttr.p90_seconds)}",
            _pct(c.recurrence_rate),
            str(c.flaps),
            f"{_fmt(c.first_view.median_seconds)} / {_fmt(c.first_view.p90_seconds)}",
            _pct(c.first_view_within_target),
        )
    out.print(table)
    cov = data.coverage
    out.print(
        f"runbook coverage of the top {cov.top} alertnames: {_pct(cov.covered_share)}"
        + (f"; uncovered: {', '.join(cov.uncovered)}" if cov.uncovered else "")
    )


tokens_cli = typer.Typer(
    help="API tokens: create (shown once), list, revoke.", no_args_is_help=True
)
cli.add_typer(tokens_cli, name="tokens")


def _database() -> Database:
    return open_database(Settings().database_url)


@tokens_cli.command("create")
@one_line_errors
def tokens_create(
    name: Annotated[str, typer.Option(help="who or what uses it")],
    role: Annotated[Role, typer.Option(help="viewer, responder or admin")],
    team: Annotated[str, typer.Option(help="team scope for responders")] = "",
    timezone: Annotated[str, typer.Option(help="IANA zone for times in the UI")] = "",
    new_team: Annotated[bool, typer.Option(help="the team is new: no runbook names it")] = False,
) -> None:
    """Create a token; the token itself is printed alone on the last line, once."""
    check_timezone(timezone)
    if team and not new_team:
        settings = Settings()
        teams = known_teams(load_catalog(settings.catalog_dir), load_config(settings.config))
        check_team(team, known=teams, new_team=new_team)
    db = _database()
    try:
        with db.write_session() as session:
            token, plain = registry.issue(
                session, name=name, role=role, team=team, timezone=timezone, now=datetime.now(UTC)
            )
    finally:
        db.dispose()
    out.print(
        f"created token {token.name!r}: role {token.role}"
        + (f", team {token.team}" if token.team else "")
        + ". It is shown only once:"
    )
    typer.echo(plain)  # the token alone on the last line, for scripts: `| tail -n1`


@tokens_cli.command("list")
@one_line_errors
def tokens_list() -> None:
    """Name, role, team, prefix and state of every token (never the tokens)."""
    db = _database()
    try:
        with db.session() as session:
            rows = registry.listing(session)
    finally:
        db.dispose()
    table = Table(title="API tokens")
    for column in ("name", "role", "team", "prefix", "created", "state"):
        table.add_column(column)
    for t in rows:
        table.add_row(
            t.name,
            t.role,
            t.team or "-",
            t.prefix + "…",
            t.created_at.strftime("%Y-%m-%d"),
            f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active",
        )
    out.print(table)


@tokens_cli.command("revoke")
@one_line_errors
def tokens_revoke(name: Annotated[str, typer.Argument(help="token name")]) -> None:
    """Revoke a token; its sessions end at their next request."""
    db = _database()
    try:
        with db.write_session() as session:
            registry.revoke(session, name=name, now=datetime.now(UTC))
    finally:
        db.dispose()
    out.print(f"revoked token {name!r}")


def main() -> None:
    run(cli)
