"""Retention of alert occurrences: old rows of resolved incidents are deleted in batches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select

from app.alerts.models import Alert, AlertStatus
from app.db import Database
from app.incidents.models import Incident, IncidentStatus

BATCH = 1000


def prune_alerts(db: Database, *, older_than: datetime, batch: int = BATCH) -> int:
    """Delete resolved alerts received before ``older_than`` whose incident is resolved.

    Alerts of open incidents, and alerts still firing, are kept whatever their age (they
    are what deduplicates Alertmanager's repeats). One short transaction per batch.
    """
    total = 0
    while True:
        with db.write_session() as session:
            ids = session.exec(
                select(Alert.id)
                .join(Incident, col(Alert.incident_id) == col(Incident.id))
                .where(
                    col(Alert.received_at) < older_than,
                    Alert.status == AlertStatus.RESOLVED,
                    Incident.status == IncidentStatus.RESOLVED,
                )
                .limit(batch)
            ).all()
            if ids:
                session.execute(delete(Alert).where(col(Alert.id).in_(ids)))
        total += len(ids)
        if len(ids) < batch:
            return total
