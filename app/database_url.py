"""``check_database_url``: is RUNBOOK_ROUTER_DATABASE_URL one this service can open?

SQLite and PostgreSQL (through psycopg) are supported. Anything else (``nonsense``,
``mysql://x``, a driver that is not installed) used to surface as a driver traceback from
whichever command touched the database first; it is a ``ConfigError`` naming the variable and
the supported schemes instead, so each command reports it in one line. The URL itself is never
echoed: it may hold a password.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from app.errors import ConfigError

VARIABLE = "RUNBOOK_ROUTER_DATABASE_URL"
SUPPORTED = "use sqlite:///path/to/file.db or postgresql+psycopg://user:password@host:5432/database"
BACKENDS = frozenset({"sqlite", "postgresql"})


def check_database_url(text: str) -> URL:
    """The parsed URL; ``ConfigError`` if it names no database this service can use."""
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as err:  # ValueError: a port that is not a number
        raise ConfigError(f"{VARIABLE} is not a database URL", hint=SUPPORTED) from err
    if url.get_backend_name() not in BACKENDS:
        raise ConfigError(
            f"{VARIABLE}: unsupported database {url.get_backend_name()!r}", hint=SUPPORTED
        )
    try:
        url.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError) as err:
        raise ConfigError(
            f"{VARIABLE}: the database driver {url.drivername!r} is not available", hint=SUPPORTED
        ) from err
    return url
