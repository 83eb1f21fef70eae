"""``GET /api/v1/notifications``: the outbox, for troubleshooting (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.auth.principals import Principal
from app.db import MAX_PAGE
from app.escalation import outbox
from app.escalation.schemas import NotificationOut, NotificationPage
from app.http.deps import ServicesDep, require
from app.http.params import Id
from app.http.responses import SIGNED_IN

router = APIRouter(tags=["notifications"], responses=SIGNED_IN)


@router.get("/api/v1/notifications")
def list_notifications(
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("notifications:read"))],
    incident: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    before: Id | None = None,
) -> NotificationPage:
    """Newest first: each message, its channel, attempts, state and last error."""
    with services.db.session() as session:
        rows, cursor = outbox.list_page(
            session, incident_id=incident, limit=limit, before_id=before
        )
        return NotificationPage(items=[NotificationOut.of(r) for r in rows], next=cursor)
