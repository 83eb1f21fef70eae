"""The webhook delivery log: what arrived, when, and what came of it.

Rows are buffered in memory and written in batches by a background flush, so logging a
delivery never adds a transaction to the webhook's path. The log is for troubleshooting; the
alerts themselves are committed before the answer goes out.

It records refused requests too, so its text holds whatever a client sent: a NUL (which
PostgreSQL cannot store in text) is written as the six characters ``\\u0000``. A row the
database still refuses (or that cannot be converted) is dropped with a log line, the others
are written; while the database is unavailable every row is kept for the next flush.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError, StatementError
from sqlmodel import col

from app.alerts.models import Delivery
from app.bulk import insert_rows
from app.db import Database, newest_first

log = logging.getLogger(__name__)

_TABLE = Delivery.__table__  # type: ignore[attr-defined]
MAX_BUFFER = 50_000
MAX_PAGE = 500  # rows a page of the log may hold (for troubleshooting, more than other lists)


def _nul_free(row: dict[str, Any]) -> dict[str, Any]:
    for key, value in row.items():
        if isinstance(value, str) and "\x00" in value:
            row[key] = value.replace("\x00", "\\u0000")
    return row


def _refused_rows(err: Exception) -> bool:
    """True when the rows are at fault (a value refused or not convertible), not the database
    (unreachable, busy, schema missing): those rows are retried later, these never succeed."""
    if isinstance(err, DataError | IntegrityError):
        return True
    if isinstance(err, DBAPIError):
        return False
    if isinstance(err, StatementError):
        return True  # a value could not be bound
    return not isinstance(err, SQLAlchemyError)  # a value could not be converted


class DeliveryLog:
    """Collects delivery rows and writes them in one statement per flush."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, **row: Any) -> None:
        row = _nul_free(row)
        with self._lock:
            if len(self._pending) < MAX_BUFFER:
                self._pending.append(row)

    def flush(self) -> int:
        """Write what is buffered; keep it for the next flush while the database is down."""
        with self._lock:
            rows, self._pending = self._pending, []
        if not rows:
            return 0
        chunks, written = [rows], 0
        while chunks:  # halve a refused chunk until the refused rows stand alone
            chunk = chunks.pop()
            try:
                self._insert(chunk)
            except Exception as err:  # classified: retried, halved or dropped with a log line
                if not _refused_rows(err):
                    self._keep(chunk + [r for c in reversed(chunks) for r in c], err)
                    return written
                if len(chunk) == 1:
                    _log_dropped(chunk[0], err)
                    continue
                half = len(chunk) // 2
                chunks += [chunk[half:], chunk[:half]]
                continue
            written += len(chunk)
        return written

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with self._db.write_connection() as connection:
            insert_rows(connection, _TABLE, rows)

    def _keep(self, rows: list[dict[str, Any]], err: Exception) -> None:
        log.warning("delivery log not written; will retry", exc_info=err, extra={"rows": len(rows)})
        with self._lock:
            self._pending = (rows + self._pending)[:MAX_BUFFER]

    def recent(
        self, *, limit: int, before_id: int | None = None
    ) -> tuple[list[Delivery], int | None]:
        """One page newest first and the cursor of the next, for ``GET /api/v1/deliveries``."""
        self.flush()
        with self._db.session() as session:
            return newest_first(
                session, Delivery, limit=limit, before_id=before_id, max_page=MAX_PAGE
            )

    def prune(self, *, older_than: datetime) -> int:
        """Delete rows received before ``older_than`` (retention)."""
        with self._db.write_session() as session:
            result = session.execute(delete(Delivery).where(col(Delivery.received_at) < older_than))
            return int(result.rowcount)  # type: ignore[attr-defined]


def _log_dropped(row: dict[str, Any], err: Exception) -> None:
    log.warning(
        "delivery log row dropped: the database refused it",
        extra={
            "dropped_request_id": row.get("request_id"),
            "error": type(err).__name__,
            "detail": str(getattr(err, "orig", err))[:300],
        },
    )
