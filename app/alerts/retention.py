"""Retention of alert occurrences: old rows of resolved incidents are deleted in batches,
with the timeline rows that list them (``alerts_added``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select

from app.alerts.models import Alert, AlertStatus
from app.db import Database
from app.incidents.models import Incident, IncidentStatus, TimelineEvent
from app.incidents.timeline import Kind

BATCH = 1000


def delete_batches(db: Database, query: Any, table: Any, *, batch: int = BATCH) -> int:
    """Delete the rows whose ids ``query`` (a ``select`` of ids) finds, ``batch`` per short
    transaction, until none is left; return how many."""
    total = 0
    while True:
        with db.write_session() as session:
            ids = session.exec(query.limit(batch)).all()
            if ids:
                session.execute(delete(table).where(col(table.id).in_(ids)))
        total += len(ids)
        if len(ids) < batch:
            return total


def prune_alerts(db: Database, *, older_than: datetime, batch: int = BATCH) -> int:
    """Delete resolved alerts received before ``older_than`` whose incident is resolved.

    Alerts of open incidents, and alerts still firing, are kept whatever their age (they
    are what deduplicates Alertmanager's repeats). One short transaction per batch.
    """
    query = (
        select(Alert.id)
        .join(Incident, col(Alert.incident_id) == col(Incident.id))
        .where(
            col(Alert.received_at) < older_than,
            Alert.status == AlertStatus.RESOLVED,
            Incident.status == IncidentStatus.RESOLVED,
        )
    )
    return delete_batches(db, query, Alert, batch=batch)


def prune_alert_events(db: Database, *, older_than: datetime, batch: int = BATCH) -> int:
    """Delete the ``alerts_added`` timeline rows of resolved incidents written before
    ``older_than``: they list alerts that ``prune_alerts`` removes after the same period.
    What people did (acknowledge, notes, steps, escalations, resolution) stays."""
    query = (
        select(TimelineEvent.id)
        .join(Incident, col(TimelineEvent.incident_id) == col(Incident.id))
        .where(
            col(TimelineEvent.at) < older_than,
            TimelineEvent.kind == Kind.ALERTS_ADDED,
            Incident.status == IncidentStatus.RESOLVED,
        )
    )
    return delete_batches(db, query, TimelineEvent, batch=batch)
