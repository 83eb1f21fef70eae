"""The webhook's whole path: authenticate, bound, dedupe by content, parse, ingest, account.

Each request ends in exactly one outcome (``accepted``, ``duplicate``, ``invalid``,
``unauthorized``, ``error``), counted in ``runbook_webhook_requests_total``, written to the
delivery log, and logged once with its counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import ClientDisconnect

from app.alerts.limits import Bounds
from app.alerts.repeats import Remembered
from app.alerts.schemas import WebhookPayload, decode_payload
from app.alerts.service import IngestResult, Job, stored_unchanged
from app.auth.tokens import credential
from app.errors import (
    DomainError,
    PayloadError,
    PayloadTooLarge,
    Unauthorized,
)
from app.logging import request_id_var
from app.state import Services
from app.storage import file_problem, write_failed

log = logging.getLogger(__name__)

_OUTCOME_BY_STATUS = {401: "unauthorized", 413: "invalid", 422: "invalid"}


@dataclass(slots=True)
class _Trace:
    user_agent: str
    payload: WebhookPayload | Remembered | None = None
    result: IngestResult | None = None
    outcome: str = "error"
    status: int = 500
    error: str = ""


async def _read_body(chunks: AsyncIterator[bytes], content_length: str | None, limit: int) -> bytes:
    too_large = PayloadTooLarge(
        f"the body exceeds the limit of {limit} bytes",
        hint="lower max_alerts in the Alertmanager webhook_config or raise "
        "RUNBOOK_ROUTER_MAX_BODY_BYTES",
    )
    if content_length and content_length.isdigit() and int(content_length) > limit:
        raise too_large
    body = bytearray()
    try:
        async for chunk in chunks:
            body += chunk
            if len(body) > limit:
                raise too_large
    except ClientDisconnect as err:  # nobody is left to answer; recorded, not an error of ours
        raise PayloadError(
            "the client disconnected before the whole body arrived",
            hint="Alertmanager sends it again at the next flush",
        ) from err
    return bytes(body)


def _decode(body: bytes, services: Services, now: datetime) -> WebhookPayload:
    settings = services.settings
    bounds = Bounds(now=now, max_alert_bytes=settings.max_alert_bytes)
    return decode_payload(body, max_alerts=settings.max_alerts_per_payload, bounds=bounds)


async def _store(services: Services, payload: WebhookPayload, now: datetime) -> IngestResult:
    """Answer a repeat from one read when it looks like one; else store it (group commit)."""
    job = Job(payload, now)
    if not job.alerts:
        return IngestResult()
    if services.seen.all_known(job.keys):
        unchanged = await anyio.to_thread.run_sync(stored_unchanged, services.db, payload)
        if unchanged is not None:
            return unchanged
    return await services.batcher.submit(job)


async def _process(
    services: Services,
    trace: _Trace,
    authorization: str | None,
    chunks: AsyncIterator[bytes],
    content_length: str | None,
) -> IngestResult:
    if not services.webhook_tokens.accepts(credential(authorization)):
        raise Unauthorized(
            "missing or invalid ingest token",
            hint="set http_config.authorization.credentials in the Alertmanager receiver to "
            "one of RUNBOOK_ROUTER_WEBHOOK_TOKENS",
        )
    lost = file_problem(services.db)  # the SQLite file is gone: never a 200 into nothing
    if lost is not None:
        raise lost
    body = await _read_body(chunks, content_length, services.settings.max_body_bytes)
    key = services.repeats.digest(body)
    now = services.clock()
    cached = services.repeats.get(key, now=now)
    if cached is not None:
        trace.outcome, trace.payload = "duplicate", cached
        return IngestResult(
            alerts=cached.alerts,
            duplicates=cached.alerts,
            incident_ids=list(cached.incident_ids),
        )
    trace.payload = payload = _decode(body, services, now)
    try:
        result = await _store(services, payload, now)
    except SQLAlchemyError as err:
        raise await anyio.to_thread.run_sync(write_failed, services.db, err) from err
    remembered = Remembered(
        alerts=result.alerts,
        incident_ids=tuple(result.incident_ids),
        receiver=payload.receiver_name,
        group_key=payload.group_key,
        status=payload.status,
    )
    services.repeats.put(key, remembered, now=now)
    trace.outcome = (
        "accepted" if result.new or result.resolved or not result.alerts else "duplicate"
    )
    return result


def _delivery_row(services: Services, trace: _Trace, elapsed: float) -> dict[str, Any]:
    payload, result = trace.payload, trace.result or IngestResult()
    full = payload if isinstance(payload, WebhookPayload) else None
    if full is not None:
        receiver, reason, truncated = (
            full.receiver_name,
            full.notification_reason,
            full.truncated_alerts,
        )
    else:
        receiver, reason, truncated = (payload.receiver if payload else ""), "", 0
    return {
        "received_at": services.clock(),
        "request_id": request_id_var.get(),
        "user_agent": trace.user_agent[:256],
        "receiver": receiver[:256],
        "group_key": payload.group_key[:4096] if payload else "",
        "status": payload.status if payload else "",
        "reason": reason[:64],
        "alerts": result.alerts,
        "new": result.new,
        "duplicates": result.duplicates,
        "resolved": result.resolved,
        "truncated_alerts": truncated,
        "outcome": trace.outcome,
        "http_status": trace.status,
        "error": trace.error[:2048],
        "incident_ids": result.incident_ids,
        "duration_ms": round(elapsed * 1000, 3),
    }


_LOGGED = (
    "group_key",
    "receiver",
    "alerts",
    "new",
    "duplicates",
    "resolved",
    "outcome",
    "http_status",
    "error",
    "incident_ids",
    "duration_ms",
    "user_agent",
)


def _account(services: Services, trace: _Trace, started: float) -> None:
    elapsed = time.perf_counter() - started
    services.instruments.webhook_requests.labels(trace.outcome).inc()
    services.instruments.webhook_duration.observe(elapsed)
    row = _delivery_row(services, trace, elapsed)
    services.deliveries.add(**row)
    level = logging.INFO if trace.status < 500 else logging.ERROR
    log.log(level, "webhook %s", trace.outcome, extra={k: row[k] for k in _LOGGED})


async def receive(
    services: Services,
    *,
    authorization: str | None,
    user_agent: str | None,
    chunks: AsyncIterator[bytes],
    content_length: str | None,
) -> IngestResult:
    """Handle one webhook request; DomainErrors propagate to the error handler."""
    started = time.perf_counter()
    trace = _Trace(user_agent=user_agent or "")
    try:
        trace.result = await _process(services, trace, authorization, chunks, content_length)
        trace.status = 200
        return trace.result
    except DomainError as err:
        trace.status = err.status_code
        trace.outcome = _OUTCOME_BY_STATUS.get(err.status_code, "error")
        trace.error = err.message
        raise
    finally:
        _account(services, trace, started)
