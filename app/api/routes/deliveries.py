"""``GET /api/v1/deliveries``: the webhook delivery log, for troubleshooting (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from app.alerts.deliveries import MAX_PAGE
from app.auth.principals import Principal
from app.http.deps import ServicesDep, require
from app.http.params import Id
from app.http.responses import SIGNED_IN

router = APIRouter(tags=["deliveries"], responses=SIGNED_IN)


@router.get("/api/v1/deliveries")
async def list_deliveries(
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("deliveries:read"))],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    before: Id | None = None,
) -> dict[str, Any]:
    """Newest first: time, receiver, group key, counts, outcome and error of each request."""
    rows, cursor = await run_in_threadpool(
        services.deliveries.recent, limit=limit, before_id=before
    )
    return {"items": [r.as_dict() for r in rows], "next": cursor}
