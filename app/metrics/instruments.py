"""Process-level metrics (this replica only), registered on an injected registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app import __version__

WEBHOOK_OUTCOMES = ("accepted", "duplicate", "invalid", "unauthorized", "error")
# sent, failed (an attempt that did not deliver), skipped (queued for a disabled channel)
NOTIFICATION_OUTCOMES = ("sent", "failed", "skipped")
# Name prefixes of the series above: each replica reports its own, unlike the KPI series
# read from the database, which are identical on every replica.
PROCESS_PREFIXES = (
    "runbook_webhook_",
    "runbook_notifications_",
    "runbook_enrichment_",
    "runbook_build_info",
    "runbook_worker_",
)


@dataclass(frozen=True, slots=True)
class Instruments:
    webhook_requests: Counter
    webhook_duration: Histogram
    notifications: Counter
    enrichment_requests: Counter
    build_info: Gauge
    worker_errors: Counter
    worker_last_cycle: Gauge


def create_instruments(registry: CollectorRegistry) -> Instruments:
    """Create and pre-initialise every process series on ``registry``."""
    webhook_requests = Counter(
        "runbook_webhook_requests_total",
        "Alertmanager webhook requests by outcome.",
        ["outcome"],
        registry=registry,
    )
    for outcome in WEBHOOK_OUTCOMES:
        webhook_requests.labels(outcome)
    enrichment = Counter(
        "runbook_enrichment_requests_total",
        "Runbook enrichment requests.",
        ["kind", "outcome"],
        registry=registry,
    )
    for kind in ("prometheus", "probe"):
        for outcome in ("ok", "error", "timeout"):
            enrichment.labels(kind, outcome)
    build_info = Gauge("runbook_build_info", "Build information.", ["version"], registry=registry)
    build_info.labels(__version__).set(1)
    return Instruments(
        webhook_requests=webhook_requests,
        webhook_duration=Histogram(
            "runbook_webhook_request_duration_seconds",
            "Webhook handling time.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        ),
        notifications=Counter(
            "runbook_notifications_total",
            "Notification attempts by channel and outcome (sent, failed, skipped).",
            ["channel", "outcome"],
            registry=registry,
        ),
        enrichment_requests=enrichment,
        build_info=build_info,
        worker_errors=Counter(
            "runbook_worker_errors_total",
            "Background worker errors, each logged with a traceback: failed cycles, incident "
            "changes or escalations given up, outcomes the database refused.",
            registry=registry,
        ),
        worker_last_cycle=Gauge(
            "runbook_worker_last_cycle_timestamp_seconds",
            "When the background worker last completed a cycle (its start time before).",
            registry=registry,
        ),
    )
