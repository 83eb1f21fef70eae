"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.http.deps import ServicesDep
from app.storage import readiness as storage_readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    """Ready when the database answers with the current schema, the catalog is loaded and the
    worker is not stalled."""

    def ping() -> str | None:
        try:
            with services.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as err:
            return type(err).__name__
        return None

    db_error = await run_in_threadpool(ping)
    if db_error is None:
        schema_ok, schema = await run_in_threadpool(storage_readiness, services.db)
    else:  # one outage, reported once
        schema_ok, schema = False, "unknown: the database is unavailable"
    worker_ok, worker = services.worker.liveness.check()
    checks = {
        "database": "ok" if db_error is None else f"unavailable: {db_error}",
        "schema": schema,
        "catalog": f"ok: {len(services.catalog.runbooks)} runbooks",
        "worker": worker,
    }
    ready = db_error is None and schema_ok and worker_ok
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )
