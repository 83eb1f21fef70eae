"""What one running app holds: built once in the lifespan, reached through ``http.deps``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from app.alerts.batcher import IngestBatcher
from app.alerts.deliveries import DeliveryLog
from app.alerts.repeats import RepeatCache, SeenOccurrences
from app.auth.tokens import TokenSet
from app.classification.catalog import Catalog
from app.config import AppConfig
from app.db import Database
from app.escalation.worker import Worker
from app.metrics.instruments import Instruments
from app.runbooks.enrichment import Enricher
from app.runbooks.renderer import Renderer
from app.settings import Settings

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Services:
    settings: Settings
    config: AppConfig
    catalog: Catalog
    db: Database
    registry: CollectorRegistry
    instruments: Instruments
    repeats: RepeatCache
    seen: SeenOccurrences
    batcher: IngestBatcher
    deliveries: DeliveryLog
    webhook_tokens: TokenSet
    admin_tokens: TokenSet
    clock: Clock
    renderer: Renderer
    enricher: Enricher
    worker: Worker
