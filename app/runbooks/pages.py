"""Assemble a rendered runbook: context from the database, live enrichment, then Jinja.

Database work runs in a worker thread; enrichment runs on the event loop within its budget.
A template error becomes ``Rendered.error`` (shown in place of the body), never a 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio

from app.classification.catalog import Runbook
from app.config import AppConfig
from app.durations import format_duration
from app.escalation.policy import path_for
from app.incidents import service as incidents
from app.runbooks.context import LinkSettings, RunbookContext
from app.runbooks.enrichment import Plan, Result
from app.runbooks.renderer import TEMPLATE_ERRORS, Renderer, RenderError
from app.runbooks.service import build_context, open_incident_for, record_first_view, runbook_named
from app.settings import Settings
from app.state import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rendered:
    context: RunbookContext
    markdown: str
    html: str
    error: RenderError | None


def link_settings(settings: Settings, config: AppConfig) -> LinkSettings:
    enrichment = config.enrichment
    return LinkSettings(
        base_url=settings.base_url,
        grafana_url=settings.grafana_url or enrichment.grafana_url,
        alertmanager_url=settings.alertmanager_url or enrichment.alertmanager_url,
        logs_url=enrichment.logs_url,
        recurrence_window=config.windows.recurrence,
    )


def plan_enrichment(
    renderer: Renderer, runbook: Runbook, variables: dict[str, Any]
) -> tuple[Plan, dict[str, str]]:
    """Render each declared query with the context (labels quoted by the filters)."""
    queries: dict[str, str] = {}
    failed: dict[str, str] = {}
    for item in runbook.meta.enrich.prometheus:
        try:
            queries[item.name] = renderer.env.from_string(item.query).render(**variables)
        except TEMPLATE_ERRORS as err:  # shown on the page, not raised
            failed[item.name] = f"unavailable: query template failed: {err}"
    probes = {probe.name: probe for probe in runbook.meta.enrich.probes}
    return Plan(queries=queries, probes=probes), failed


def escalation_vars(config: AppConfig, policy: str) -> dict[str, Any]:
    """The runbook's escalation path in the shape the templates use."""
    path = path_for(config, policy)
    if path is None:
        return {"policy": policy, "steps": [], "text": f"unknown escalation policy {policy!r}"}
    steps = [
        {
            "after": format_duration(timedelta(seconds=step.offset_seconds)),
            "channels": list(step.channels),
            "titles": list(step.titles),
            "level": step.level,
            "final": step.final,
            "text": f"{step.when}: {', '.join(step.titles)}",
        }
        for step in path.steps
    ]
    return {"policy": path.policy, "steps": steps, "text": path.text}


async def render(services: Services, context: RunbookContext) -> Rendered:
    """Enrich and render ``context``; template problems come back in ``error``."""
    context.escalation = escalation_vars(services.config, context.runbook.meta.escalation)
    variables = context.template_vars()
    queries, failed = plan_enrichment(services.renderer, context.runbook, variables)
    context.enrichment = await services.enricher.run(queries)
    for name, reason in failed.items():
        context.enrichment["prometheus"][name] = Result(ok=False, error=reason)
    variables = context.template_vars()
    try:
        markdown = services.renderer.render_markdown(context.runbook.path.name, variables)
    except RenderError as err:
        log.error(
            "runbook failed to render",
            extra={"file": err.file, "line": err.line, "error": err.detail},
        )
        return Rendered(context, "", "", err)
    return Rendered(context, markdown, services.renderer.to_html(markdown), None)


async def for_labels(
    services: Services,
    *,
    runbook_class: str,
    labels: dict[str, str],
    viewer: str | None,
    timezone: str,
) -> Rendered:
    """A runbook for an alert's labels, linked to the open incident they match (if any)."""

    def load() -> RunbookContext:
        with services.db.session() as session:
            runbook = runbook_named(services.catalog, runbook_class)
            incident = open_incident_for(session, runbook_class=runbook.name, labels=labels)
            return build_context(
                session,
                runbook=runbook,
                incident=incident,
                labels=labels,
                links=link_settings(services.settings, services.config),
                now=services.clock(),
                timezone=timezone,
            )

    return await render(
        services, await _viewed(services, await anyio.to_thread.run_sync(load), viewer)
    )


async def for_incident(
    services: Services, *, incident_id: int, viewer: str | None, timezone: str
) -> Rendered:
    """The runbook of one incident, recording the first view by a signed-in person."""

    def load() -> RunbookContext:
        with services.db.session() as session:
            incident = incidents.get(session, incident_id=incident_id)
            runbook = runbook_named(services.catalog, incident.runbook_class)
            return build_context(
                session,
                runbook=runbook,
                incident=incident,
                labels={},
                links=link_settings(services.settings, services.config),
                now=services.clock(),
                timezone=timezone,
            )

    return await render(
        services, await _viewed(services, await anyio.to_thread.run_sync(load), viewer)
    )


async def _viewed(
    services: Services, context: RunbookContext, viewer: str | None
) -> RunbookContext:
    """Record the first view of the context's incident (one write, only the first time)."""
    incident = context.incident
    if not viewer or incident is None or incident.id is None or incident.first_viewed_at:
        return context
    incident_id = incident.id

    def write() -> None:
        with services.db.write_session() as session:
            record_first_view(session, incident_id=incident_id, actor=viewer, now=services.clock())

    await anyio.to_thread.run_sync(write)
    return context
