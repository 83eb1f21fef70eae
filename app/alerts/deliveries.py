"""The webhook delivery log: what arrived, when, and what came of it.

Rows are buffered in memory and written in batches by a background flush, so logging a
delivery never adds a transaction to the webhook's path. The log is for troubleshooting; the
alerts themselves are committed before the answer goes out.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from app.alerts.models import Delivery
from app.bulk import insert_rows
from app.db import Database

log = logging.getLogger(__name__)

_TABLE = Delivery.__table__  # type: ignore[attr-defined]
MAX_BUFFER = 50_000


class DeliveryLog:
    """Collects delivery rows and writes them in one statement per flush."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, **row: Any) -> None:
        with self._lock:
            if len(self._pending) < MAX_BUFFER:
                self._pending.append(row)

    def flush(self) -> int:
        """Write what is buffered; on a database error keep it for the next flush."""
        with self._lock:
            rows, self._pending = self._pending, []
        if not rows:
            return 0
        try:
            with self._db.write_connection() as connection:
                insert_rows(connection, _TABLE, rows)
        except SQLAlchemyError:
            log.warning(
                "delivery log not written; will retry", exc_info=True, extra={"rows": len(rows)}
            )
            with self._lock:
                self._pending = (rows + self._pending)[:MAX_BUFFER]
            return 0
        return len(rows)

    def recent(self, *, limit: int, before_id: int | None = None) -> list[Delivery]:
        """Newest first, for ``GET /api/v1/deliveries``."""
        self.flush()
        with self._db.session() as session:
            query = select(Delivery).order_by(col(Delivery.id).desc()).limit(limit)
            if before_id is not None:
                query = query.where(col(Delivery.id) < before_id)
            return list(session.exec(query).all())

    def prune(self, *, older_than: datetime) -> int:
        """Delete rows received before ``older_than`` (retention)."""
        with self._db.write_session() as session:
            result = session.execute(delete(Delivery).where(col(Delivery.received_at) < older_than))
            return int(result.rowcount)  # type: ignore[attr-defined]
