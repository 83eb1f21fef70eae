"""The ``runbook-router`` command: serve, migrate, check."""

from __future__ import annotations

import gc
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from app.auth import registry
from app.auth.bootstrap import ensure_tokens, receiver_snippet
from app.auth.principals import Role
from app.classification.catalog import load_catalog
from app.config import load_config
from app.db import Database, make_engine
from app.durations import format_duration, parse_duration
from app.errors import ConfigError, DomainError
from app.escalation.checks import channel_errors
from app.escalation.checks import warnings as escalation_warnings
from app.logging import configure_logging
from app.main import create_app
from app.metrics.kpis import report as kpi_report
from app.migrate import migrate as run_migrations
from app.settings import Settings

cli = typer.Typer(
    help="Runbook Router: Alertmanager alerts to runbooks and incidents.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@cli.command()
def migrate() -> None:
    """Upgrade the database schema to the latest version."""
    settings = Settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    run_migrations(settings.database_url)
    out.print(f"database at {settings.database_url.split('@')[-1]} is up to date")


@cli.command()
def check(
    catalog_dir: Annotated[Path | None, typer.Option(help="runbook folder")] = None,
    config: Annotated[Path | None, typer.Option(help="configuration file")] = None,
) -> None:
    """Validate the runbook catalog and the configuration; errors as file:line."""
    settings = Settings()
    problems = []
    catalog, loaded = None, None
    try:
        catalog = load_catalog(catalog_dir or settings.catalog_dir)
        out.print(f"catalog: {len(catalog.runbooks)} runbooks ({', '.join(catalog.classes)})")
    except ConfigError as error:
        problems.append(error.message)
    try:
        loaded = load_config(config or settings.config)
        channels = channel_errors(loaded, os.environ, source=config or settings.config)
        problems.extend(channels)
        out.print("config: ok" if not channels else "config: unusable channel URLs")
    except ConfigError as error:
        problems.append(error.message)
    if catalog is not None and loaded is not None:
        for warning in escalation_warnings(loaded, catalog, os.environ):
            err.print(f"[yellow]warning[/yellow] {warning}", highlight=False)
    for problem in problems:
        err.print(f"[red]error[/red] {problem}", highlight=False)
    if problems:
        raise typer.Exit(1)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to bind")] = None,
    port: Annotated[int | None, typer.Option(help="port to bind")] = None,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate")] = False,
) -> None:
    """Serve the API and UI (one process; run several on PostgreSQL to scale)."""
    base = Settings()
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings, generated = ensure_tokens(base.model_copy(update=overrides))
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    if migrate_first:
        run_migrations(settings.database_url)
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
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )


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
def kpis(window: Annotated[str, typer.Option(help="time window, e.g. 30d")] = "30d") -> None:
    """KPIs by runbook class for a window, as a table."""
    settings = Settings()
    db = Database(make_engine(settings.database_url, pool_size=1))
    try:
        with db.session() as session:
            data = kpi_report(
                session,
                classes=load_catalog(settings.catalog_dir).classes,
                window=parse_duration(window),
                now=datetime.now(UTC),
            )
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
    return Database(make_engine(Settings().database_url, pool_size=1))


@tokens_cli.command("create")
def tokens_create(
    name: Annotated[str, typer.Option(help="who or what uses it")],
    role: Annotated[Role, typer.Option(help="viewer, responder or admin")],
    team: Annotated[str, typer.Option(help="team scope for responders")] = "",
    timezone: Annotated[str, typer.Option(help="IANA zone for times in the UI")] = "",
) -> None:
    """Create a token; the token itself is printed alone on the last line, once."""
    db = _database()
    try:
        with db.write_session() as session:
            token, plain = registry.issue(
                session, name=name, role=role, team=team, timezone=timezone, now=datetime.now(UTC)
            )
    except DomainError as error:
        err.print(f"[red]error[/red] {error.message}", highlight=False)
        raise typer.Exit(1) from error
    finally:
        db.dispose()
    out.print(
        f"created token {token.name!r}: role {token.role}"
        + (f", team {token.team}" if token.team else "")
        + ". It is shown only once:"
    )
    typer.echo(plain)  # the token alone on the last line, for scripts: `| tail -n1`


@tokens_cli.command("list")
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
def tokens_revoke(name: Annotated[str, typer.Argument(help="token name")]) -> None:
    """Revoke a token; its sessions end at their next request."""
    db = _database()
    try:
        with db.write_session() as session:
            registry.revoke(session, name=name, now=datetime.now(UTC))
    except DomainError as error:
        err.print(f"[red]error[/red] {error.message}", highlight=False)
        raise typer.Exit(1) from error
    finally:
        db.dispose()
    out.print(f"revoked token {name!r}")


def main() -> None:
    cli()
