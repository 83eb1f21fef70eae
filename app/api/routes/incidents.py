"""Incident API: list, get, acknowledge, resolve, notes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from app.api.deps import ServicesDep, require
from app.auth.permissions import check_can_act
from app.auth.principals import Principal
from app.incidents import service
from app.incidents.models import IncidentStatus
from app.incidents.schemas import (
    AlertOut,
    IncidentDetail,
    IncidentOut,
    IncidentPage,
    NoteIn,
    ResolveIn,
    TimelineOut,
)
from app.state import Services

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
Reader = Annotated[Principal, Depends(require("incidents:read"))]
Actor = Annotated[Principal, Depends(require("incidents:act"))]


def _detail(services: Services, incident_id: int) -> IncidentDetail:
    with services.db.session() as session:
        incident = service.get(session, incident_id=incident_id)
        out = IncidentOut.of(incident, public_url=services.settings.base_url)
        return IncidentDetail(
            **out.model_dump(),
            alerts=[AlertOut.of(a) for a in service.alerts_of(session, incident_id=incident_id)],
            timeline=[
                TimelineOut.of(e) for e in service.timeline_of(session, incident_id=incident_id)
            ],
        )


@router.get("")
def list_incidents(
    services: ServicesDep,
    _: Reader,
    status: IncidentStatus | None = None,
    runbook_class: Annotated[str | None, Query(alias="class")] = None,
    team: str | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
    before: int | None = None,
) -> IncidentPage:
    """Newest first; pass ``before=<next>`` for the following page."""
    filters = service.IncidentFilter(status, runbook_class, team, since)
    with services.db.session() as session:
        page, cursor = service.list_page(session, filters=filters, limit=limit, before_id=before)
        public = services.settings.base_url
        return IncidentPage(items=[IncidentOut.of(i, public_url=public) for i in page], next=cursor)


@router.get("/{incident_id}")
def get_incident(incident_id: int, services: ServicesDep, _: Reader) -> IncidentDetail:
    return _detail(services, incident_id)


async def _act(
    services: Services,
    incident_id: int,
    who: Principal,
    change: Callable[[Session, datetime], object],
) -> IncidentDetail:
    """Check the team scope and apply one action in one transaction, then answer."""

    def run() -> IncidentDetail:
        with services.db.write_session() as session:
            incident = service.get(session, incident_id=incident_id, lock=True)
            check_can_act(who, runbook_team=runbook_team(services, incident.runbook_class))
            change(session, services.clock())
        return _detail(services, incident_id)

    return await run_in_threadpool(run)


def runbook_team(services: Services, runbook_class: str) -> str:
    runbook = services.catalog.runbooks.get(runbook_class)
    return runbook.meta.team if runbook else ""


@router.post("/{incident_id}/ack")
async def acknowledge(incident_id: int, services: ServicesDep, who: Actor) -> IncidentDetail:
    return await _act(
        services,
        incident_id,
        who,
        lambda s, now: service.acknowledge(s, incident_id=incident_id, actor=who.name, now=now),
    )


@router.post("/{incident_id}/resolve")
async def resolve(
    incident_id: int, services: ServicesDep, who: Actor, body: ResolveIn | None = None
) -> IncidentDetail:
    note = body.note if body else None
    return await _act(
        services,
        incident_id,
        who,
        lambda s, now: service.resolve(
            s, incident_id=incident_id, actor=who.name, note=note, now=now
        ),
    )


@router.post("/{incident_id}/notes")
async def add_note(
    incident_id: int, body: NoteIn, services: ServicesDep, who: Actor
) -> IncidentDetail:
    return await _act(
        services,
        incident_id,
        who,
        lambda s, now: service.add_note(
            s, incident_id=incident_id, actor=who.name, text=body.text, now=now
        ),
    )


@router.post("/{incident_id}/steps/{step_id}")
async def tick_step(
    incident_id: int, step_id: str, services: ServicesDep, who: Actor
) -> IncidentDetail:
    """Tick one checklist step of the incident's runbook (recorded with who and when)."""

    def steps_of(session: Session) -> list[str]:
        incident = service.get(session, incident_id=incident_id)
        runbook = services.catalog.runbooks.get(incident.runbook_class)
        return [item.id for item in runbook.meta.checklist] if runbook else []

    return await _act(
        services,
        incident_id,
        who,
        lambda s, now: service.tick_step(
            s,
            incident_id=incident_id,
            step_id=step_id,
            known_steps=steps_of(s),
            actor=who.name,
            now=now,
        ),
    )
