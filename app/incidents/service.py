"""Responder actions and queries on incidents."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from app.alerts.models import Alert
from app.db import newest_first
from app.errors import InvalidTransition, NotFound
from app.escalation.hooks import Signal, on_incident_event
from app.incidents.lifecycle import Event, next_step
from app.incidents.models import ChecklistStep, Incident, IncidentStatus, TimelineEvent
from app.incidents.timeline import Kind, record
from app.metrics import aggregates as kpi

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    status: IncidentStatus | None = None
    runbook_class: str | None = None
    team: str | None = None
    since: datetime | None = None


def get(session: Session, *, incident_id: int, lock: bool = False) -> Incident:
    """The incident, or NotFound naming the id."""
    incident = session.get(Incident, incident_id, with_for_update=lock)
    if incident is None:
        raise NotFound(
            f"incident {incident_id} does not exist", hint="list incidents at GET /api/v1/incidents"
        )
    return incident


def list_page(
    session: Session, *, filters: IncidentFilter, limit: int, before_id: int | None
) -> tuple[list[Incident], int | None]:
    """Newest first; returns the page and the cursor of the next one (or None)."""
    where = [
        col(column) == value
        for column, value in (
            (Incident.status, filters.status),
            (Incident.runbook_class, filters.runbook_class),
            (Incident.team, filters.team),
        )
        if value is not None
    ]
    if filters.since is not None:
        where.append(col(Incident.started_at) >= filters.since)
    return newest_first(session, Incident, where=where, limit=limit, before_id=before_id)


def alerts_of(session: Session, *, incident_id: int) -> list[Alert]:
    query = select(Alert).where(Alert.incident_id == incident_id).order_by(col(Alert.starts_at))
    return list(session.exec(query).all())


def timeline_of(session: Session, *, incident_id: int) -> list[TimelineEvent]:
    query = (
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident_id)
        .order_by(col(TimelineEvent.at), col(TimelineEvent.id))
    )
    return list(session.exec(query).all())


def acknowledge(session: Session, *, incident_id: int, actor: str, now: datetime) -> Incident:
    """triggered -> acknowledged, recording who and when."""
    incident = get(session, incident_id=incident_id, lock=True)
    step = next_step(IncidentStatus(incident.status), Event.ACK)
    if incident.acknowledged_at is None:
        incident.acknowledged_at, incident.acknowledged_by = now, actor
        kpi.observe_between(
            session, kpi.ACKNOWLEDGE, incident.runbook_class, incident.started_at, now
        )
    incident.status = step.status
    incident.updated_at = now
    record(
        session,
        incident_id=incident_id,
        kind=Kind.ACKNOWLEDGED,
        at=now,
        actor=actor,
        rule=step.rule,
    )
    on_incident_event(session, incident=incident, event=Signal.ACKNOWLEDGED, now=now)
    log.info(
        "incident acknowledged",
        extra={"incident_id": incident_id, "actor": actor, "rule": step.rule},
    )
    return incident


def resolve(
    session: Session, *, incident_id: int, actor: str, note: str | None, now: datetime
) -> Incident:
    """Resolve by hand; alerts that still fire are named in the timeline."""
    incident = get(session, incident_id=incident_id, lock=True)
    step = next_step(IncidentStatus(incident.status), Event.RESOLVE)
    still_firing = [
        a.fingerprint for a in alerts_of(session, incident_id=incident_id) if a.status == "firing"
    ]
    incident.status = step.status
    incident.open_key = None
    incident.resolved_at = now
    incident.resolved_by = actor
    incident.resolution_note = note
    incident.updated_at = now
    kpi.observe_between(session, kpi.RESOLUTION, incident.runbook_class, incident.started_at, now)
    record(
        session,
        incident_id=incident_id,
        kind=Kind.RESOLVED,
        at=now,
        actor=actor,
        rule=step.rule,
        note=note,
        alerts_still_firing=still_firing,
    )
    on_incident_event(session, incident=incident, event=Signal.RESOLVED, now=now)
    log.info(
        "incident resolved",
        extra={
            "incident_id": incident_id,
            "actor": actor,
            "rule": step.rule,
            "still_firing": len(still_firing),
        },
    )
    return incident


def add_note(
    session: Session, *, incident_id: int, actor: str, text: str, now: datetime
) -> Incident:
    incident = get(session, incident_id=incident_id, lock=True)
    incident.updated_at = now
    record(session, incident_id=incident_id, kind=Kind.NOTE, at=now, actor=actor, text=text)
    return incident


def tick_step(
    session: Session,
    *,
    incident_id: int,
    step_id: str,
    known_steps: list[str],
    actor: str,
    now: datetime,
) -> Incident:
    """Mark a runbook checklist step done on this incident (once; who and when)."""
    incident = get(session, incident_id=incident_id, lock=True)
    if step_id not in known_steps:
        raise NotFound(
            f"the runbook has no checklist step {step_id!r}",
            hint=f"steps: {', '.join(known_steps) or 'none'}",
        )
    done = session.exec(
        select(ChecklistStep).where(
            ChecklistStep.incident_id == incident_id, ChecklistStep.step_id == step_id
        )
    ).first()
    if done is not None:
        raise InvalidTransition(
            f"step {step_id!r} was already done by {done.done_by}", current="done"
        )
    session.add(ChecklistStep(incident_id=incident_id, step_id=step_id, done_at=now, done_by=actor))
    incident.updated_at = now
    record(session, incident_id=incident_id, kind=Kind.STEP_DONE, at=now, actor=actor, step=step_id)
    return incident
