"""Is the database's schema the one this version of the code expects?

The expected revision is the head of ``app/migrations`` (read once per process); the
database's is its ``alembic_version`` row, read through Alembic's ``MigrationContext``: one
small query, cheap enough for every readiness probe. A schema that is missing or behind is a
problem; one *newer* than this code (a newer release already migrated it, e.g. during a rolling
upgrade on PostgreSQL) is not, so old replicas keep serving until they are replaced.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import cache

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from app.db import make_engine
from app.migrate import alembic_config
from app.migrate import migrate as run_migrations

log = logging.getLogger(__name__)
_reading = threading.local()


class _QuietWhileReading(logging.Filter):
    """Alembic's context logs two INFO lines each time it is made ("Context impl ...", "Will
    assume ... DDL"): fine for a migration, noise on every readiness probe."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_reading, "active", False)


logging.getLogger("alembic.runtime.migration").addFilter(_QuietWhileReading())

FIX = "run `runbook-router migrate`"


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


@cache
def expected_revision() -> str:
    """The head revision of this version's migrations."""
    head = _scripts().get_current_head()
    if head is None:  # pragma: no cover - the package always ships its migrations
        raise RuntimeError("no migrations found in app/migrations")
    return head


@cache
def _known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _scripts().walk_revisions())


@dataclass(frozen=True, slots=True)
class SchemaState:
    """The database's revision against the expected one."""

    current: str | None
    expected: str

    @property
    def ready(self) -> bool:
        """Current, or newer than this code knows (another release migrated it)."""
        return self.current == self.expected or (
            self.current is not None and self.current not in _known_revisions()
        )

    def describe(self) -> str:
        if self.current == self.expected:
            return f"ok: revision {self.current}"
        if self.ready:
            return f"ok: revision {self.current}, newer than this version's {self.expected}"
        return f"schema at revision {self.current or 'none'}, expected {self.expected}"


def current_revision(connection: Connection) -> str | None:
    """The revision stamped in the database, or None when it was never migrated."""
    _reading.active = True
    try:
        return MigrationContext.configure(connection).get_current_revision()
    finally:
        _reading.active = False


def schema_state(engine: Engine) -> SchemaState:
    """Read the database's revision (raises SQLAlchemyError when the database is unreachable)."""
    with engine.connect() as connection:
        return SchemaState(current_revision(connection), expected_revision())


def ensure_schema(database_url: str, *, migrate: bool | None) -> str | None:
    """Before serving: migrate, or say why not to start (None: go ahead).

    ``migrate`` None migrates an SQLite database (one process owns it) and only checks a
    PostgreSQL one (replicas migrate once, in ``runbook-router migrate``). An unreachable
    database is not a reason to refuse: the server starts unready and readiness says why.
    Raises SQLAlchemyError when a migration fails.
    """
    sqlite = make_url(database_url).get_backend_name() == "sqlite"
    if migrate or (migrate is None and sqlite):
        run_migrations(database_url)
        return None
    engine = make_engine(database_url, pool_size=1)
    try:
        state = schema_state(engine)
    except SQLAlchemyError as err:
        log.warning("schema not checked: database unreachable", extra={"error": repr(err)})
        return None
    finally:
        engine.dispose()
    if state.ready:
        return None
    return (
        f"database schema is missing or behind ({state.describe()}): {FIX} first, "
        "or start with `runbook-router serve --migrate`"
    )
