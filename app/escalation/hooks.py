"""The one call incident code makes on each state change, inside its own transaction.

It needs no configuration: it queues the change for the worker and starts or stops the
escalation clock. Everything that depends on policies and channels happens in the worker,
so a crash after the commit loses nothing and a second replica repeats nothing.

The ingest path applies the same changes in bulk (``incidents.unit``) from the rows and
statements defined here.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session

from app.db import dialect_insert
from app.escalation.models import Escalation, EscalationEvent, Signal
from app.incidents.models import Incident, IncidentStatus

__all__ = ["Signal", "on_incident_event"]

_CLOCKS = Escalation.__table__  # type: ignore[attr-defined]
EVENTS = insert(EscalationEvent.__table__)  # type: ignore[attr-defined]
STOP = (
    update(_CLOCKS)
    .where(_CLOCKS.c.incident_id == bindparam("iid"), _CLOCKS.c.next_at.is_not(None))
    .values(next_at=None, stopped=bindparam("why"), updated_at=bindparam("at"))
)


@cache
def start_statement(dialect: str) -> Insert:
    """Insert or restart an incident's escalation clock (an upsert on ``incident_id``)."""
    statement = dialect_insert(_CLOCKS, dialect)
    return statement.on_conflict_do_update(
        index_elements=["incident_id"],
        set_={
            name: statement.excluded[name]
            for name in ("started_at", "sent", "next_at", "stopped", "updated_at")
        },
    )


def starts_clock(event: Signal, status: str) -> bool:
    """Opening or reopening a triggered incident (re)starts escalation; the rest stop it."""
    return event in (Signal.OPENED, Signal.REOPENED) and status == IncidentStatus.TRIGGERED


def event_row(incident_id: int, event: Signal, actor: str, now: datetime) -> dict[str, Any]:
    return {"incident_id": incident_id, "event": event.value, "actor": actor, "at": now}


def clock_row(incident_id: int, now: datetime) -> dict[str, Any]:
    """A clock started at ``now``: the first step is due at once (the worker applies delays)."""
    return {
        "incident_id": incident_id,
        "started_at": now,
        "sent": 0,
        "next_at": now,
        "stopped": "",
        "updated_at": now,
    }


def stop_params(incident_id: int, event: Signal, now: datetime) -> dict[str, Any]:
    return {"iid": incident_id, "why": event.value, "at": now}


def actor_of(event: Signal, acknowledged_by: str | None, resolved_by: str | None) -> str:
    if event is Signal.ACKNOWLEDGED:
        return acknowledged_by or ""
    if event is Signal.RESOLVED:
        return resolved_by or ""
    return ""


def on_incident_event(
    session: Session, *, incident: Incident, event: Signal, now: datetime
) -> None:
    """Queue ``event`` for the worker; (re)start escalation on open, stop it otherwise."""
    assert incident.id is not None
    actor = actor_of(event, incident.acknowledged_by, incident.resolved_by)
    session.execute(EVENTS, event_row(incident.id, event, actor, now))
    if starts_clock(event, incident.status):
        dialect = session.get_bind().dialect.name
        session.execute(start_statement(dialect), clock_row(incident.id, now))
        return
    session.execute(STOP, stop_params(incident.id, event, now))
