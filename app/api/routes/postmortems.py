"""Post-mortem and action-item API: viewers read, responders edit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session

from app.auth.principals import Principal
from app.db import MAX_PAGE
from app.http.actions import action_item, postmortem, scoped_write
from app.http.deps import ServicesDep, require
from app.http.params import Id
from app.http.responses import SIGNED_IN, errors
from app.postmortems import actions
from app.postmortems import service as postmortems
from app.postmortems.models import ActionStatus, Postmortem, PostmortemStatus
from app.postmortems.schemas import (
    ActionItemIn,
    ActionItemOut,
    ActionItemPage,
    ActionItemPatch,
    PostmortemOut,
    PostmortemPage,
    PostmortemPatch,
    PostmortemSummary,
)
from app.state import Services

router = APIRouter(prefix="/api/v1", tags=["postmortems"], responses=SIGNED_IN)
Reader = Annotated[Principal, Depends(require("postmortems:read"))]
Editor = Annotated[Principal, Depends(require("postmortems:edit"))]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def _out(services: Services, session: Session, postmortem: Postmortem) -> PostmortemOut:
    assert postmortem.id is not None
    items = actions.items_of(session, postmortem_id=postmortem.id)
    return PostmortemOut.full(postmortem, items, today=services.clock().date())


@router.get("/postmortems")
def list_postmortems(
    services: ServicesDep,
    _: Reader,
    status: PostmortemStatus | None = None,
    runbook_class: Annotated[str | None, Query(alias="class")] = None,
    limit: Limit = 50,
    before: Id | None = None,
) -> PostmortemPage:
    """Newest first; pass ``before=<next>`` for the following page."""
    with services.db.session() as session:
        page, cursor = postmortems.list_page(
            session, status=status, runbook_class=runbook_class, limit=limit, before_id=before
        )
        return PostmortemPage(items=[PostmortemSummary.of(p) for p in page], next=cursor)


@router.get("/postmortems/{postmortem_id}", responses=errors(404))
def get_postmortem(postmortem_id: Id, services: ServicesDep, _: Reader) -> PostmortemOut:
    with services.db.session() as session:
        return _out(services, session, postmortems.get(session, postmortem_id=postmortem_id))


@router.get("/incidents/{incident_id}/postmortem", responses=errors(404))
def incident_postmortem(incident_id: Id, services: ServicesDep, _: Reader) -> PostmortemOut:
    with services.db.session() as session:
        return _out(services, session, postmortems.of_incident(session, incident_id=incident_id))


@router.patch("/postmortems/{postmortem_id}", responses=errors(404, 409))
def edit_postmortem(
    postmortem_id: Id, body: PostmortemPatch, services: ServicesDep, who: Editor
) -> PostmortemOut:
    changes = postmortems.PostmortemChanges(**body.model_dump(exclude_unset=True))

    def change(session: Session, now: datetime) -> PostmortemOut:
        edited = postmortems.update(
            session, postmortem_id=postmortem_id, changes=changes, actor=who.name, now=now
        )
        return _out(services, session, edited)

    return scoped_write(services, who=who, scope=postmortem(postmortem_id), change=change)


@router.post("/postmortems/{postmortem_id}/action-items", status_code=201, responses=errors(404))
def add_action_item(
    postmortem_id: Id, body: ActionItemIn, services: ServicesDep, who: Editor
) -> ActionItemOut:
    def change(session: Session, now: datetime) -> ActionItemOut:
        item = actions.add(
            session, postmortem_id=postmortem_id, **body.model_dump(), actor=who.name, now=now
        )
        return ActionItemOut.of(item, today=now.date())

    return scoped_write(services, who=who, scope=postmortem(postmortem_id), change=change)


@router.patch("/action-items/{item_id}", responses=errors(404, 409))
def edit_action_item(
    item_id: Id, body: ActionItemPatch, services: ServicesDep, who: Editor
) -> ActionItemOut:
    changes = actions.ItemChanges(**body.model_dump(exclude_unset=True))

    def change(session: Session, now: datetime) -> ActionItemOut:
        item = actions.update(session, item_id=item_id, changes=changes, now=now)
        return ActionItemOut.of(item, today=now.date())

    return scoped_write(services, who=who, scope=action_item(item_id), change=change)


@router.get("/action-items")
def list_action_items(
    services: ServicesDep,
    _: Reader,
    status: ActionStatus | None = None,
    runbook_class: Annotated[str | None, Query(alias="class")] = None,
    owner: str | None = None,
    limit: Limit = 50,
    before: Id | None = None,
) -> ActionItemPage:
    """Newest first; ``?status=open`` for the open ones."""
    today = services.clock().date()
    with services.db.session() as session:
        page, cursor = actions.list_page(
            session,
            status=status,
            runbook_class=runbook_class,
            owner=owner,
            limit=limit,
            before_id=before,
        )
        return ActionItemPage(items=[ActionItemOut.of(i, today=today) for i in page], next=cursor)
