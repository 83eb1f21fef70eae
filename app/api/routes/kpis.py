"""``GET /api/v1/kpis?window=30d``: KPIs by runbook class for a time window."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from app.auth.principals import Principal
from app.errors import PayloadError
from app.http.deps import ServicesDep, require
from app.http.responses import SIGNED_IN
from app.metrics import kpis

router = APIRouter(tags=["kpis"], responses=SIGNED_IN)


@router.get("/api/v1/kpis")
async def get_kpis(
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("kpis:read"))],
    window: str = "30d",
) -> kpis.KpiReport:
    """MTTA, MTTR, recurrence rate, flaps, time to first view and coverage, per class."""
    try:
        span = kpis.parse_window(window)
    except ValueError as err:
        raise PayloadError(f"window: {err}", hint="for example ?window=30d or ?window=12h") from err

    def build() -> kpis.KpiReport:
        with services.db.session() as session:
            return kpis.report(
                session, classes=services.catalog.classes, window=span, now=services.clock()
            )

    return await run_in_threadpool(build)
