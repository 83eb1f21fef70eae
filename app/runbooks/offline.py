"""A runbook's context without a database, for authors: ``check`` and ``render``.

No incident, no history, no checklist ticks: the labels (and the alert, when there is one), the
links and the escalation path from the configuration. Enrichment is off unless asked for;
then every declared query and probe says so, as a failed source does on the page.
"""

from __future__ import annotations

from datetime import datetime

import httpx
from prometheus_client import CollectorRegistry

from app import __version__
from app.alerts.models import Alert
from app.classification.catalog import Runbook
from app.config import AppConfig
from app.metrics.instruments import create_instruments
from app.runbooks.context import RunbookContext, build_links
from app.runbooks.enrichment import Enricher, Result
from app.runbooks.pages import escalation_vars, link_settings, plan_enrichment
from app.runbooks.renderer import Renderer
from app.settings import Settings

ENRICHMENT_OFF = "unavailable: enrichment off (`runbook-router render --enrich` fetches it)"


def offline_context(
    *,
    runbook: Runbook,
    labels: dict[str, str],
    annotations: dict[str, str],
    alert: Alert | None,
    config: AppConfig,
    settings: Settings,
    now: datetime,
) -> RunbookContext:
    """The context a runbook page would have for these labels, with no incident open."""
    links = build_links(
        settings=link_settings(settings, config),
        runbook=runbook,
        labels=labels,
        alert=alert,
        incident=None,
        now=now,
    )
    return RunbookContext(
        runbook=runbook,
        labels=labels,
        annotations=annotations,
        alert=alert,
        incident=None,
        history=[],
        recurrences=0,
        links=links,
        checklist_done={},
        now=now,
        timezone=config.timezone,
        enrichment=enrichment_off(runbook),
        escalation=escalation_vars(config, runbook.meta.escalation),
    )


def enrichment_off(runbook: Runbook) -> dict[str, dict[str, Result]]:
    """Every declared query and probe, unavailable because enrichment did not run."""
    off = Result(ok=False, error=ENRICHMENT_OFF)
    enrich = runbook.meta.enrich
    return {
        "prometheus": {q.name: off for q in enrich.prometheus},
        "probes": {p.name: off for p in enrich.probes},
    }


async def enrich(
    context: RunbookContext, *, renderer: Renderer, config: AppConfig, settings: Settings
) -> None:
    """Fetch the runbook's queries and probes as the page would (timeouts, budget)."""
    queries, failed = plan_enrichment(renderer, context.runbook, context.template_vars())
    headers = {"User-Agent": f"runbook-router/{__version__}"}
    async with httpx.AsyncClient(follow_redirects=False, headers=headers) as client:
        enricher = Enricher(
            client=client,
            config=config.enrichment,
            prometheus_url=settings.prometheus_url or config.enrichment.prometheus_url,
            instruments=create_instruments(CollectorRegistry()),
        )
        context.enrichment = await enricher.run(queries)
    for name, reason in failed.items():
        context.enrichment["prometheus"][name] = Result(ok=False, error=reason)
