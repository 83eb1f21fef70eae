"""``GET /metrics``: Prometheus exposition of this app's registry."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.http.deps import ServicesDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics")
def metrics(services: ServicesDep) -> Response:
    return Response(generate_latest(services.registry), media_type=CONTENT_TYPE_LATEST)
