"""The application factory: ``create_app(settings, registry, clock)``.

Nothing is built at import time. The lifespan opens the database, loads the catalog and the
configuration, and runs the escalation worker (outbox delivery, retention, and the
background flush of the delivery log).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, disable_created_metrics
from starlette.types import Receive, Scope, Send

from app import __version__
from app.alerts.batcher import IngestBatcher
from app.alerts.deliveries import DeliveryLog
from app.alerts.repeats import RepeatCache, SeenOccurrences
from app.alerts.service import ingest_batch
from app.api import docs as api_docs
from app.api.routes import (
    deliveries,
    health,
    incidents,
    kpis,
    me,
    metrics,
    notifications,
    postmortems,
    runbooks,
    webhooks,
)
from app.auth.proxy import AuthConfig
from app.auth.sessions import SessionCookies, session_secret
from app.auth.tokens import TokenSet
from app.classification.catalog import load_catalog
from app.classification.classifier import Classifier
from app.config import load_config
from app.db import Database, make_engine
from app.escalation.worker import Worker
from app.http.errors import install_error_handlers
from app.http.forwarded import ForwardedMiddleware
from app.http.middleware import RequestIdMiddleware, SecurityHeadersMiddleware
from app.http.nul import refuse_nul
from app.http.views import STATIC
from app.incidents.grouping import Windows
from app.metrics.collectors import KpiCollector
from app.metrics.instruments import create_instruments
from app.runbooks.enrichment import Enricher
from app.runbooks.renderer import Renderer
from app.settings import Settings
from app.state import Clock, Services, utcnow
from app.web import auth as web_auth
from app.web import forms as web_forms
from app.web import postmortems as web_postmortems
from app.web import routes as web_routes

log = logging.getLogger(__name__)

USER_AGENT = f"runbook-router/{__version__}"


def build_services(
    settings: Settings, registry: CollectorRegistry, clock: Clock, http: httpx.AsyncClient
) -> Services:
    """Open the database and load everything the request handlers need."""
    db = Database(make_engine(settings.database_url, pool_size=settings.db_pool_size))
    config = load_config(settings.config)
    instruments = create_instruments(registry)
    catalog, deliveries = load_catalog(settings.catalog_dir), DeliveryLog(db)
    renderer = Renderer(settings.catalog_dir)
    seen, classifier = SeenOccurrences(), Classifier(catalog)
    windows = Windows(flap=config.windows.flap, recurrence=config.windows.recurrence)
    batcher = IngestBatcher(
        lambda jobs: ingest_batch(
            db=db, classifier=classifier, windows=windows, jobs=jobs, seen=seen
        )
    )
    return Services(
        settings=settings,
        config=config,
        catalog=catalog,
        db=db,
        registry=registry,
        instruments=instruments,
        repeats=RepeatCache(),
        seen=seen,
        batcher=batcher,
        deliveries=deliveries,
        webhook_tokens=TokenSet(settings.webhook_token_list()),
        admin_tokens=TokenSet([settings.admin_token.get_secret_value()]),
        clock=clock,
        renderer=renderer,
        enricher=Enricher(
            client=http,
            config=config.enrichment,
            prometheus_url=settings.prometheus_url or config.enrichment.prometheus_url,
            instruments=instruments,
        ),
        worker=Worker(
            db=db,
            config=config,
            catalog=catalog,
            renderer=renderer,
            instruments=instruments,
            deliveries=deliveries,
            http=http,
            public_url=settings.base_url,
            clock=clock,
            environ=os.environ,
            config_path=settings.config,
        ),
    )


class RunbookRouterApp(FastAPI):
    """FastAPI, with Alertmanager's webhook served in front of its middleware and router."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.webhook = webhooks.WebhookApp(lambda: self.state.services)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if webhooks.WebhookApp.handles(scope):
            await self.webhook.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _session_seconds(app: FastAPI) -> int:
    """``auth.session_hours`` of the loaded configuration, in seconds."""
    services: Services | None = getattr(app.state, "services", None)
    config = services.config.auth if services is not None else AuthConfig()
    return config.session_hours * 3600


def create_app(
    settings: Settings | None = None,
    registry: CollectorRegistry | None = None,
    clock: Clock = utcnow,
) -> FastAPI:
    """Build the ASGI app; tests pass their own settings, registry and clock."""
    settings = settings or Settings()
    # *_created series only add noise to every scrape.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = registry if registry is not None else CollectorRegistry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        http = httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": USER_AGENT})
        services = build_services(settings, registry, clock, http)
        app.state.services = services
        collector = KpiCollector(
            services.db,
            services.catalog.classes,
            {name: rb.meta.severity for name, rb in services.catalog.runbooks.items()},
            clock=clock,
        )
        registry.register(collector)
        await services.worker.start()
        log.info(
            "runbook router started",
            extra={"version": __version__, "classes": services.catalog.classes},
        )
        try:
            yield
        finally:
            await services.worker.stop()
            services.deliveries.flush()
            registry.unregister(collector)
            await http.aclose()
            services.db.dispose()

    app = RunbookRouterApp(
        title="Runbook Router",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(refuse_nul)],  # every route, now and later: no NUL in any text
    )
    secret = session_secret(
        settings.session_secret.get_secret_value(), settings.admin_token.get_secret_value()
    )
    app.add_middleware(
        SessionCookies,
        lifetime=lambda: _session_seconds(app),
        secret_key=secret,
        session_cookie="rr_session",
        https_only=settings.base_url.startswith("https://"),
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(ForwardedMiddleware, trusted=settings.forwarded_allow_ips)
    install_error_handlers(app)
    for module in (webhooks, incidents, kpis, runbooks, deliveries, me, health, metrics):
        app.include_router(module.router)
    app.include_router(postmortems.router)
    app.include_router(notifications.router)
    app.include_router(web_auth.router)
    app.include_router(web_forms.router)
    app.include_router(web_postmortems.router)
    app.include_router(web_routes.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    api_docs.install(app)
    return app
