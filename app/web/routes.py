"""HTML pages engineers land on: the runbook for an alert, an incident, the catalog."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from app.api.deps import PrincipalDep, ServicesDep
from app.incidents import service as incidents
from app.incidents.models import IncidentStatus
from app.runbooks import pages
from app.runbooks.catalog_view import label_params
from app.runbooks.service import runbook_named
from app.web.views import templates

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def board(request: Request, services: ServicesDep, principal: PrincipalDep) -> HTMLResponse:
    """Open incidents first, then the latest resolved ones."""

    def load() -> dict[str, object]:
        with services.db.session() as session:
            filters = incidents.IncidentFilter
            open_ = [
                i
                for status in (IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED)
                for i in incidents.list_page(
                    session, filters=filters(status=status), limit=100, before_id=None
                )[0]
            ]
            done = incidents.list_page(
                session, filters=filters(status=IncidentStatus.RESOLVED), limit=20, before_id=None
            )[0]
            return {"open": sorted(open_, key=lambda i: -(i.id or 0)), "resolved": done}

    data = await run_in_threadpool(load)
    return templates.TemplateResponse(
        request,
        "board.html",
        {"principal": principal, "timezone": services.config.timezone, **data},
    )


@router.get("/runbooks", response_class=HTMLResponse)
def catalog(request: Request, services: ServicesDep, principal: PrincipalDep) -> HTMLResponse:
    runbooks = sorted(services.catalog.runbooks.values(), key=lambda r: (r.meta.priority, r.name))
    return templates.TemplateResponse(
        request, "catalog.html", {"principal": principal, "runbooks": runbooks}
    )


@router.get("/runbooks/{runbook_class}", response_class=HTMLResponse)
async def runbook_page(
    runbook_class: str, request: Request, services: ServicesDep, principal: PrincipalDep
) -> HTMLResponse:
    """What ``runbook_url`` points at: rendered for the labels in the query string."""
    runbook = runbook_named(services.catalog, runbook_class)
    rendered = await pages.for_labels(
        services,
        runbook_class=runbook.name,
        labels=label_params(request),
        viewer=principal.name,
        timezone=request.query_params.get("tz") or services.config.timezone,
    )
    return templates.TemplateResponse(
        request,
        "runbook.html",
        {
            "principal": principal,
            "runbook": runbook,
            "rendered": rendered,
            "vars": rendered.context.template_vars(),
        },
    )


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def incident_page(
    incident_id: int, request: Request, services: ServicesDep, principal: PrincipalDep
) -> HTMLResponse:
    """The incident beside its runbook; the first view by a person is recorded."""
    rendered = await pages.for_incident(
        services,
        incident_id=incident_id,
        viewer=principal.name,
        timezone=request.query_params.get("tz") or services.config.timezone,
    )

    def timeline() -> list[object]:
        with services.db.session() as session:
            return list(incidents.timeline_of(session, incident_id=incident_id))

    return templates.TemplateResponse(
        request,
        "incident.html",
        {
            "principal": principal,
            "incident": rendered.context.incident,
            "runbook": rendered.context.runbook,
            "rendered": rendered,
            "vars": rendered.context.template_vars(),
            "timeline": await run_in_threadpool(timeline),
        },
    )
