"""``POST /api/v1/webhooks/alertmanager``: Alertmanager's webhook receiver."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.alerts.receiver import receive
from app.api.deps import ServicesDep

router = APIRouter(tags=["webhooks"])


@router.post("/api/v1/webhooks/alertmanager")
async def alertmanager_webhook(request: Request, services: ServicesDep) -> Response:
    """Store an Alertmanager v4 payload; 200 with counts once it is committed.

    Headers are read directly and the answer serialised with orjson: this is the hot path.
    """
    headers = request.headers
    result = await receive(
        services,
        authorization=headers.get("authorization"),
        user_agent=headers.get("user-agent"),
        chunks=request.stream(),
        content_length=headers.get("content-length"),
    )
    return Response(orjson.dumps(result.as_response()), media_type="application/json")
