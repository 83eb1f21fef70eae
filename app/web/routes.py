"""HTML pages engineers land on: the runbook for an alert, an incident, the catalog."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from app.auth.permissions import may_act
from app.durations import parse_duration
from app.escalation import outbox
from app.http.actions import runbook_team
from app.http.deps import PrincipalDep, ServicesDep
from app.http.params import Id
from app.http.viewer import viewer_timezone
from app.http.views import templates
from app.incidents import service as incidents
from app.incidents.models import Incident, IncidentStatus
from app.metrics import kpis as kpi_report
from app.runbooks import pages
from app.runbooks.catalog_view import label_params
from app.runbooks.service import runbook_named
from app.web import charts
from app.web.postmortems import incident_followups

router = APIRouter(include_in_schema=False)


KPI_WINDOWS = ("24h", "7d", "30d", "90d")


@router.get("/", response_class=HTMLResponse)
async def board(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    status: IncidentStatus | None = None,
    runbook_class: str | None = None,
    team: str | None = None,
) -> HTMLResponse:
    """Open incidents first (oldest change first), filtered by state, class and team."""
    runbook_class = request.query_params.get("class") or runbook_class
    wanted = [status] if status else [IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED]

    def load() -> dict[str, object]:
        with services.db.session() as session:

            def page(state: IncidentStatus, limit: int) -> list[Incident]:
                filters = incidents.IncidentFilter(
                    status=state, runbook_class=runbook_class or None, team=team or None
                )
                return incidents.list_page(session, filters=filters, limit=limit, before_id=None)[0]

            open_ = [
                i for state in wanted if state != IncidentStatus.RESOLVED for i in page(state, 200)
            ]
            done = (
                page(IncidentStatus.RESOLVED, 20)
                if status in (None, IncidentStatus.RESOLVED)
                else []
            )
            return {"open": sorted(open_, key=lambda i: i.updated_at), "resolved": done}

    data = await run_in_threadpool(load)
    return templates.TemplateResponse(
        request,
        "board.html",
        {
            "principal": principal,
            "timezone": viewer_timezone(request, services, principal),
            "now": services.clock(),
            "classes": services.catalog.classes,
            "teams": sorted(
                {r.meta.team for r in services.catalog.runbooks.values() if r.meta.team}
            ),
            "unreachable": services.worker.unreachable,  # policy steps that reach nobody
            "filters": {
                "status": status.value if status else "",
                "class": runbook_class or "",
                "team": team or "",
            },
            **data,
        },
    )


@router.get("/kpis", response_class=HTMLResponse)
async def kpi_page(
    request: Request, services: ServicesDep, principal: PrincipalDep, window: str = "30d"
) -> HTMLResponse:
    """The KPI numbers with small server-rendered SVG charts."""
    span = parse_duration(window if window in KPI_WINDOWS else "30d")

    def build() -> kpi_report.KpiReport:
        with services.db.session() as session:
            return kpi_report.report(
                session, classes=services.catalog.classes, window=span, now=services.clock()
            )

    data = await run_in_threadpool(build)
    return templates.TemplateResponse(
        request,
        "kpis.html",
        {
            "principal": principal,
            "timezone": viewer_timezone(request, services, principal),
            "report": data,
            "window": window,
            "windows": KPI_WINDOWS,
            "charts": charts.for_report(data),
        },
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
        timezone=viewer_timezone(request, services, principal),
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
    incident_id: Id, request: Request, services: ServicesDep, principal: PrincipalDep
) -> HTMLResponse:
    """The incident beside its runbook; the first view by a person is recorded."""
    rendered = await pages.for_incident(
        services,
        incident_id=incident_id,
        viewer=principal.name,
        timezone=viewer_timezone(request, services, principal),
    )

    def timeline() -> dict[str, object]:
        with services.db.session() as session:
            return {
                "timeline": list(incidents.timeline_of(session, incident_id=incident_id)),
                "skipped": outbox.skipped_channels(session, incident_id=incident_id),
            }

    incident = rendered.context.incident
    assert incident is not None
    return templates.TemplateResponse(
        request,
        "incident.html",
        {
            "principal": principal,
            "incident": incident,
            "can_act": may_act(principal, runbook_team(services, incident.runbook_class)),
            "runbook": rendered.context.runbook,
            "rendered": rendered,
            "vars": rendered.context.template_vars(),
            **await run_in_threadpool(timeline),
            **await run_in_threadpool(incident_followups, services, incident_id),
        },
    )
