"""Runbook data from the database: the incident a page is about, its context, first views."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session, col, select

from app.alerts.models import Alert
from app.classification.catalog import Catalog, Runbook
from app.errors import NotFound
from app.incidents import service as incidents
from app.incidents.models import ChecklistStep, Incident, IncidentStatus
from app.incidents.timeline import Kind, record
from app.metrics import aggregates as kpi
from app.runbooks.context import (
    LinkSettings,
    RunbookContext,
    build_links,
    history_of,
    recurrences_of,
)

log = logging.getLogger(__name__)

OPEN_SCAN = 200


def runbook_named(catalog: Catalog, name: str) -> Runbook:
    runbook = catalog.runbooks.get(name)
    if runbook is None:
        raise NotFound(
            f"no runbook named {name!r}",
            hint=f"known runbooks: {', '.join(catalog.classes)}; see /runbooks",
        )
    return runbook


def open_incident_for(
    session: Session, *, runbook_class: str, labels: dict[str, str]
) -> Incident | None:
    """The newest open incident of the class whose common labels all appear in ``labels``."""
    if not labels:
        return None
    query = (
        select(Incident)
        .where(
            Incident.runbook_class == runbook_class,
            col(Incident.status).in_([IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED]),
        )
        .order_by(col(Incident.id).desc())
        .limit(OPEN_SCAN)
    )
    for incident in session.exec(query):
        if incident.labels and all(labels.get(k) == v for k, v in incident.labels.items()):
            return incident
    return None


def _representative_alert(session: Session, incident: Incident) -> Alert | None:
    alerts = incidents.alerts_of(session, incident_id=incident.id or 0)
    firing = [a for a in alerts if a.status == "firing"]
    chosen = firing or alerts
    return chosen[-1] if chosen else None


def _steps(session: Session, incident: Incident | None) -> dict[str, ChecklistStep]:
    if incident is None:
        return {}
    query = select(ChecklistStep).where(ChecklistStep.incident_id == incident.id)
    return {step.step_id: step for step in session.exec(query)}


def build_context(
    session: Session,
    *,
    runbook: Runbook,
    incident: Incident | None,
    labels: dict[str, str],
    links: LinkSettings,
    now: datetime,
    timezone: str,
) -> RunbookContext:
    """Everything the template needs except enrichment (fetched outside the session)."""
    alert = _representative_alert(session, incident) if incident else None
    if alert is not None:
        labels = {**alert.labels, **labels} if labels else dict(alert.labels)
    annotations = dict(alert.annotations) if alert else {}
    return RunbookContext(
        runbook=runbook,
        labels=labels,
        annotations=annotations,
        alert=alert,
        incident=incident,
        history=history_of(session, incident) if incident else [],
        recurrences=recurrences_of(session, incident, window=links.recurrence_window)
        if incident
        else 0,
        links=build_links(
            settings=links, runbook=runbook, labels=labels, alert=alert, incident=incident, now=now
        ),
        checklist_done=_steps(session, incident),
        now=now,
        timezone=timezone,
    )


def record_first_view(session: Session, *, incident_id: int, actor: str, now: datetime) -> bool:
    """Set ``first_viewed_at`` once (time to diagnose); True if this was the first view."""
    incident = incidents.get(session, incident_id=incident_id, lock=True)
    if incident.first_viewed_at is not None:
        return False
    incident.first_viewed_at = now
    kpi.observe_between(session, kpi.FIRST_VIEW, incident.runbook_class, incident.started_at, now)
    record(session, incident_id=incident_id, kind=Kind.FIRST_VIEWED, at=now, actor=actor)
    log.info("runbook first viewed", extra={"incident_id": incident_id, "actor": actor})
    return True
