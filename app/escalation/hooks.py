"""The one call incident code makes on each state change, inside its own transaction.

It needs no configuration: it queues the change for the worker and starts or stops the
escalation clock. Everything that depends on policies and channels happens in the worker,
so a crash after the commit loses nothing and a second replica repeats nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from app.escalation.models import Escalation, EscalationEvent, Signal
from app.incidents.models import Incident, IncidentStatus

__all__ = ["Signal", "on_incident_event"]


def _actor(incident: Incident, event: Signal) -> str:
    if event is Signal.ACKNOWLEDGED:
        return incident.acknowledged_by or ""
    if event is Signal.RESOLVED:
        return incident.resolved_by or ""
    return ""


def on_incident_event(
    session: Session, *, incident: Incident, event: Signal, now: datetime
) -> None:
    """Queue ``event`` for the worker; (re)start escalation on open, stop it otherwise."""
    assert incident.id is not None
    session.add(
        EscalationEvent(incident_id=incident.id, event=event, actor=_actor(incident, event), at=now)
    )
    if event in (Signal.OPENED, Signal.REOPENED) and incident.status == IncidentStatus.TRIGGERED:
        row = session.get(Escalation, incident.id)
        if row is None:
            row = Escalation(incident_id=incident.id, started_at=now, updated_at=now)
            session.add(row)
        row.started_at, row.sent, row.next_at = now, 0, now
        row.stopped, row.updated_at = "", now
        return
    session.execute(
        update(Escalation)
        .where(col(Escalation.incident_id) == incident.id, col(Escalation.next_at).is_not(None))
        .values(next_at=None, stopped=event.value, updated_at=now)
    )
