"""The ``runbook-router`` command: serve, migrate, check."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from app.auth.bootstrap import ensure_tokens, receiver_snippet
from app.classification.catalog import load_catalog
from app.config import load_config
from app.errors import ConfigError
from app.logging import configure_logging
from app.main import create_app
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
    try:
        catalog = load_catalog(catalog_dir or settings.catalog_dir)
        out.print(f"catalog: {len(catalog.runbooks)} runbooks ({', '.join(catalog.classes)})")
    except ConfigError as error:
        problems.append(error.message)
    try:
        load_config(config or settings.config)
        out.print("config: ok")
    except ConfigError as error:
        problems.append(error.message)
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


def main() -> None:
    cli()
