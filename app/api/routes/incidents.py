"""Incident API: list, get, acknowledge, resolve, notes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from app.auth.principals import Principal
from app.db import MAX_PAGE
from app.http import actions
from app.http.deps import ServicesDep, require
from app.http.params import Id, Time
from app.http.responses import SIGNED_IN, errors
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
from app.postmortems.actions import open_items_of_predecessors
from app.postmortems.schemas import ActionItemOut
from app.state import Services

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"], responses=SIGNED_IN)
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
            predecessor_action_items=[
                ActionItemOut.of(i, today=services.clock().date())
                for i in open_items_of_predecessors(session, incident_id=incident_id)
            ],
        )


@router.get("")
def list_incidents(
    services: ServicesDep,
    _: Reader,
    status: IncidentStatus | None = None,
    runbook_class: Annotated[str | None, Query(alias="class")] = None,
    team: str | None = None,
    since: Time | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    before: Id | None = None,
) -> IncidentPage:
    """Newest first; pass ``before=<next>`` for the following page."""
    filters = service.IncidentFilter(status, runbook_class, team, since)
    with services.db.session() as session:
        page, cursor = service.list_page(session, filters=filters, limit=limit, before_id=before)
        public = services.settings.base_url
        return IncidentPage(items=[IncidentOut.of(i, public_url=public) for i in page], next=cursor)


@router.get("/{incident_id}", responses=errors(404))
def get_incident(incident_id: Id, services: ServicesDep, _: Reader) -> IncidentDetail:
    return _detail(services, incident_id)


async def _act(
    services: Services, incident_id: int, who: Principal, change: actions.Change
) -> IncidentDetail:
    def run() -> IncidentDetail:
        scope = actions.incident(incident_id)
        actions.scoped_write(services, who=who, scope=scope, change=change)
        return _detail(services, incident_id)

    return await run_in_threadpool(run)


@router.post("/{incident_id}/ack", responses=errors(404, 409))
async def acknowledge(incident_id: Id, services: ServicesDep, who: Actor) -> IncidentDetail:
    return await _act(services, incident_id, who, actions.acknowledge(who, incident_id))


@router.post("/{incident_id}/resolve", responses=errors(404, 409))
async def resolve(
    incident_id: Id, services: ServicesDep, who: Actor, body: ResolveIn | None = None
) -> IncidentDetail:
    note = body.note if body else None
    return await _act(services, incident_id, who, actions.resolve(who, incident_id, note))


@router.post("/{incident_id}/notes", responses=errors(404))
async def add_note(
    incident_id: Id, body: NoteIn, services: ServicesDep, who: Actor
) -> IncidentDetail:
    return await _act(services, incident_id, who, actions.note(who, incident_id, body.text))


@router.post("/{incident_id}/steps/{step_id}", responses=errors(404, 409))
async def tick_step(
    incident_id: Id, step_id: str, services: ServicesDep, who: Actor
) -> IncidentDetail:
    """Tick one checklist step of the incident's runbook (recorded with who and when)."""
    return await _act(services, incident_id, who, actions.tick(services, who, incident_id, step_id))
