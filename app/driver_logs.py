"""psycopg's "error ignored" warnings, demoted to DEBUG.

When a statement fails inside psycopg's pipeline (SQLAlchemy's ``executemany`` on PostgreSQL),
psycopg logs a WARNING (``error ignored terminating <psycopg.Pipeline ...>: pipeline
aborted``) and then raises the statement's own error, which the caller handles: a conflict
between concurrent writers is retried and logged once by ``app.alerts.service``, anything else
becomes a 503 with its own log line. The WARNING adds nothing but alarm, once per conflict
retry, so it is logged at DEBUG (shown when the ``psycopg`` logger is set to DEBUG).
"""

from __future__ import annotations

import logging

DRIVER = "psycopg"


class DemoteIgnoredErrors(logging.Filter):
    """Rewrite psycopg's "error ignored ..." WARNING records as DEBUG records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING or not str(record.msg).startswith("error ignored"):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_driver_warnings() -> None:
    """Install the filter on psycopg's logger (idempotent)."""
    logger = logging.getLogger(DRIVER)
    if not any(isinstance(f, DemoteIgnoredErrors) for f in logger.filters):
        logger.addFilter(DemoteIgnoredErrors())
