"""Retention, run by the worker at most hourly; every period is ``retention.*`` in the config.

=================  ==============================================================  =========
what               which rows                                                      period
=================  ==============================================================  =========
alerts             resolved alerts of resolved incidents, and the ``alerts_added``  ``alerts``
                   timeline rows of resolved incidents that list them
deliveries         the webhook delivery log                                        ``deliveries``
notifications      outbox rows of resolved incidents that are done (sent, failed,  ``notifications``
                   skipped), with their attempts and last error
=================  ==============================================================  =========

Incidents, the rest of their timelines, post-mortems and KPI aggregates are kept.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial

import anyio
from sqlmodel import col, select

from app.alerts.deliveries import DeliveryLog
from app.alerts.retention import delete_batches, prune_alert_events, prune_alerts
from app.config import Retention
from app.db import Database
from app.escalation.models import Notification, NotificationState
from app.incidents.models import Incident, IncidentStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pruned:
    alerts: int = 0
    alert_events: int = 0  # timeline rows
    deliveries: int = 0
    notifications: int = 0


def prune_notifications(db: Database, *, older_than: datetime) -> int:
    """Delete done outbox rows of resolved incidents last changed before ``older_than``
    (pending ones are kept whatever their age)."""
    query = (
        select(Notification.id)
        .join(Incident, col(Notification.incident_id) == col(Incident.id))
        .where(
            col(Notification.updated_at) < older_than,
            col(Notification.state) != NotificationState.PENDING,
            Incident.status == IncidentStatus.RESOLVED,
        )
    )
    return delete_batches(db, query, Notification)


async def housekeep(
    *, db: Database, deliveries: DeliveryLog, retention: Retention, now: datetime
) -> Pruned:
    """Flush the delivery log, then delete what each retention period has let go."""
    await anyio.to_thread.run_sync(deliveries.flush)
    before = now - retention.alerts
    pruned = Pruned(
        alerts=await anyio.to_thread.run_sync(partial(prune_alerts, db, older_than=before)),
        alert_events=await anyio.to_thread.run_sync(
            partial(prune_alert_events, db, older_than=before)
        ),
        deliveries=await anyio.to_thread.run_sync(
            partial(deliveries.prune, older_than=now - retention.deliveries)
        ),
        notifications=await anyio.to_thread.run_sync(
            partial(prune_notifications, db, older_than=now - retention.notifications)
        ),
    )
    if any(asdict(pruned).values()):
        log.info("retention pruned rows", extra=asdict(pruned))
    return pruned
