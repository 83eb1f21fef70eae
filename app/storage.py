"""Why the database cannot hold the server's writes: for ``/readyz`` and the webhook's 503.

Two causes that no retry fixes, each named with its fix: the schema is missing or behind
(``runbook-router migrate``), or the SQLite file was deleted or replaced under the running
server. A webhook never answers 200 while either holds.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app.db import Database
from app.errors import StorageUnavailable
from app.schema import FIX, SchemaState, schema_state

_UNDEFINED = {"42P01", "42703"}  # PostgreSQL: undefined table, undefined column
_SQLITE_UNDEFINED = ("no such table", "no such column", "has no column named")
RETRIES = "Alertmanager retries 5xx by itself; nothing is stored until this is fixed"


def file_problem(db: Database) -> StorageUnavailable | None:
    """The SQLite file is gone or replaced (a ``stat``: cheap enough for every webhook)."""
    problem = db.file.problem()
    if problem is None:
        return None
    return StorageUnavailable(
        problem,
        hint="restore the file and restart runbook-router (or restart it to start a new, "
        f"empty database); {RETRIES}",
    )


def schema_problem(state: SchemaState) -> StorageUnavailable | None:
    if state.ready:
        return None
    return StorageUnavailable(
        f"database schema is missing or behind ({state.describe()}): {FIX}",
        hint=RETRIES,
    )


def is_undefined_object(err: SQLAlchemyError) -> bool:
    """The statement named a table or column the database does not have."""
    if not isinstance(err, DBAPIError):
        return False
    if getattr(err.orig, "sqlstate", None) in _UNDEFINED:
        return True
    return any(text in str(err.orig) for text in _SQLITE_UNDEFINED)


def write_failed(db: Database, err: SQLAlchemyError) -> StorageUnavailable:
    """The 503 for a failed write: the lasting cause when there is one, else a transient one."""
    lasting = file_problem(db)
    if lasting is None and is_undefined_object(err):
        try:
            lasting = schema_problem(schema_state(db.engine))
        except SQLAlchemyError:
            lasting = None
    return lasting or StorageUnavailable(
        f"the alerts could not be stored ({type(err).__name__}); retry",
        hint="Alertmanager retries 5xx by itself",
    )


def readiness(db: Database) -> tuple[bool, str]:
    """``/readyz``'s schema check: (ready, what it found)."""
    lost = file_problem(db)
    if lost is not None:
        return False, lost.message
    try:
        state = schema_state(db.engine)
    except SQLAlchemyError as err:
        return False, f"unknown: {type(err).__name__}"
    return state.ready, state.describe() if state.ready else f"{state.describe()}: {FIX}"
