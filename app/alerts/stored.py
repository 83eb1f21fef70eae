"""The one read of stored occurrences, shared by the repeat path and the ingest batch."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, bindparam, select

from app.alerts.models import Alert
from app.alerts.occurrences import STATUSES, Stored

Key = tuple[str, datetime]  # an occurrence: (fingerprint, starts_at)

_ALERTS = Alert.__table__  # type: ignore[attr-defined]
_STORED = select(
    _ALERTS.c.incident_id, _ALERTS.c.fingerprint, _ALERTS.c.starts_at, _ALERTS.c.status
).where(_ALERTS.c.fingerprint.in_(bindparam("fingerprints", expanding=True)))


def read_stored(connection: Connection, fingerprints: Iterable[str]) -> dict[Key, Stored]:
    """Every stored occurrence of these fingerprints (all start times), by occurrence."""
    wanted = sorted(set(fingerprints))
    if not wanted:
        return {}
    rows = connection.execute(_STORED, {"fingerprints": wanted})
    return {
        (row.fingerprint, row.starts_at): Stored(row.incident_id, STATUSES[row.status])
        for row in rows
    }
