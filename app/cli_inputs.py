"""What the CLI commands check before they act: the database, a window, a zone, a team.

Nothing is created on the way: a SQLite file (or its folder) that is not there is an error
naming ``runbook-router migrate``, as is a database without the current schema.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine

from app.classification.catalog import Catalog
from app.cli_errors import UsageProblem
from app.config import AppConfig, load_config
from app.database_url import check_database_url
from app.db import Database, make_engine
from app.errors import ConfigError, DomainError
from app.escalation.checks import channel_errors
from app.metrics.kpis import parse_window as kpi_window
from app.schema import schema_state

MIGRATE = "run `runbook-router migrate`"


class SchemaNotCurrent(DomainError):
    """The database has no schema, or not the one this version expects."""

    status_code = 503
    code = "schema_not_current"


def open_database(database_url: str) -> Database:
    """The database, if it exists and its schema is current; never creates anything."""
    url = check_database_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(str(url.database))
        if not path.is_file():
            raise SchemaNotCurrent(
                f"no database file at {path}",
                hint=f"{MIGRATE} to create it, or set RUNBOOK_ROUTER_DATABASE_URL",
            )
    where = (
        url.database
        if url.get_backend_name() == "sqlite"
        else (f"{url.host}:{url.port or 5432}/{url.database}")
    )
    db = Database(make_engine(database_url, pool_size=1))
    try:
        _require_current_schema(db.engine, str(where))
    except BaseException:
        db.dispose()
        raise
    return db


def _require_current_schema(engine: Engine, where: str) -> None:
    state = schema_state(engine)
    if state.current is None:
        raise SchemaNotCurrent(f"the database at {where} has no schema", hint=MIGRATE)
    if not state.ready:
        raise SchemaNotCurrent(
            f"the database at {where} has schema revision {state.current}, "
            f"this version needs {state.expected}",
            hint=f"{MIGRATE} (or use the runbook-router version that migrated it)",
        )


def config_file(given: Path | None, default: Path) -> Path:
    """The configuration file: one named on the command line must exist (the default need not)."""
    if given is not None and not given.is_file():
        raise UsageProblem(f"--config {given}: no such file", hint="name an existing YAML file")
    return given or default


def parse_window(text: str) -> timedelta:
    """A KPI window such as ``30d``, with the API's bounds (``kpis.parse_window``)."""
    try:
        return kpi_window(text)
    except ValueError as err:
        raise UsageProblem(f"--window: {err}", hint="e.g. --window 30d") from err


def check_timezone(name: str) -> str:
    """An IANA zone name (or "" for the viewer's default)."""
    if not name:
        return name
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as err:
        raise UsageProblem(
            f"--timezone {name!r} is not an IANA time zone",
            hint="use e.g. Europe/Berlin, America/New_York or UTC",
        ) from err
    return name


def known_teams(catalog: Catalog, config: AppConfig) -> set[str]:
    """Teams a runbook or the configuration names."""
    return {r.meta.team for r in catalog.runbooks.values() if r.meta.team} | set(config.teams)


def check_team(team: str, *, known: Iterable[str], new_team: bool) -> str:
    """``team`` if known (or ""), or if ``new_team`` says it is meant to be new."""
    names = sorted(known)
    if not team or new_team or team in names:
        return team
    raise UsageProblem(
        f"unknown team {team!r} (known: {', '.join(names) or 'none'})",
        hint="check the spelling, or pass --new-team to scope the token to a new team",
    )


def check_channels(config_path: Path, environ: Mapping[str, str]) -> None:
    """``ConfigError`` (one line) for a channel variable that holds no usable URL.

    ``serve`` checks this before the server starts, as ``check`` does; the worker's own check
    at start-up stays as a backstop.
    """
    problems = channel_errors(load_config(config_path), environ, source=config_path)
    if problems:
        more = (
            f" (and {len(problems) - 1} more; see `runbook-router check`)" if problems[1:] else ""
        )
        raise ConfigError(problems[0] + more)
