"""Runbook catalog and rendering API: ``/api/v1/runbooks[/{class}]``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response

from app.auth.principals import Principal
from app.http.deps import ServicesDep, require
from app.http.errors import error_response
from app.http.responses import SIGNED_IN, errors
from app.runbooks import pages
from app.runbooks.catalog_view import catalog_entry, label_params, rendered_json

router = APIRouter(prefix="/api/v1/runbooks", tags=["runbooks"], responses=SIGNED_IN)
Reader = Annotated[Principal, Depends(require("runbooks:read"))]


@router.get("")
def list_runbooks(services: ServicesDep, _: Reader) -> dict[str, Any]:
    """Every runbook with its matchers, checklist and review date."""
    base = services.settings.base_url
    return {"items": [catalog_entry(r, base) for r in services.catalog.runbooks.values()]}


@router.get("/{runbook_class}", response_model=None, responses=errors(404))
async def get_runbook(
    runbook_class: str,
    request: Request,
    services: ServicesDep,
    _: Reader,
    format: Literal["json", "md", "html"] = "json",
) -> Response | dict[str, Any]:
    """Render for the alert labels given as query parameters (``?service=x&...``)."""
    rendered = await pages.for_labels(
        services,
        runbook_class=runbook_class,
        labels=label_params(request),
        viewer=None,
        timezone=services.config.timezone,
    )
    if rendered.error is not None and format != "json":
        error = rendered.error
        return error_response(500, error.code, error.message, error.hint)
    if format == "md":
        return PlainTextResponse(rendered.markdown, media_type="text/markdown; charset=utf-8")
    if format == "html":
        return Response(rendered.html, media_type="text/html; charset=utf-8")
    return rendered_json(rendered)
