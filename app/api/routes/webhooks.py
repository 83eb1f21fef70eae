"""``POST /api/v1/webhooks/alertmanager``: Alertmanager's webhook receiver."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request

from app.alerts.receiver import receive
from app.api.deps import ServicesDep

router = APIRouter(tags=["webhooks"])


@router.post("/api/v1/webhooks/alertmanager")
async def alertmanager_webhook(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    content_length: Annotated[str | None, Header()] = None,
    user_agent: Annotated[str | None, Header()] = None,
) -> dict[str, object]:
    """Store an Alertmanager v4 payload; 200 with counts once it is committed."""
    result = await receive(
        services,
        authorization=authorization,
        user_agent=user_agent,
        chunks=request.stream(),
        content_length=content_length,
    )
    return result.as_response()
