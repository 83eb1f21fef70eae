"""The in-process worker: one asyncio task per replica, restart-safe by construction.

Each run (``run_once(now)``; tests call it directly with a fake clock):

1. queued incident changes -> notifications and post-mortem drafts  (``dispatch``)
2. due escalation levels   -> notifications, timeline events, KPIs   (``dispatch``)
3. due outbox rows         -> channels, with bounded retries          (``outbox``, ``channels``)
4. hourly retention of alerts and of the webhook delivery log

Nothing is kept in memory between runs: what is due is computed from the database, so a
restart resumes where the last committed run stopped, and replicas on PostgreSQL share the
work through ``FOR UPDATE SKIP LOCKED``. Blocking database work runs in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import anyio
import httpx
from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError

from app.alerts.deliveries import DeliveryLog
from app.alerts.retention import prune_alerts
from app.classification.catalog import Catalog
from app.config import AppConfig
from app.db import Database
from app.errors import DomainError
from app.escalation import checks, dispatch, outbox
from app.escalation.channels import DeliveryError, build_channels
from app.escalation.dispatch import Context
from app.escalation.models import NotificationState
from app.escalation.outbox import Outcome, Outgoing
from app.runbooks.renderer import Renderer

log = logging.getLogger(__name__)

FLUSH_EVERY = timedelta(seconds=1)
PRUNE_EVERY = timedelta(hours=1)
# Incident changes or escalations per transaction. Small, because on SQLite each transaction
# holds the writer lock that webhook ingest waits for: 100 held it for about 130 ms in an
# alert storm (one new incident per ten requests), 10 for about 10 ms.
BATCH = 10
BACKLOG_PAUSE = 2.0
SEND_BATCH = 20
Step = Callable[..., tuple[int, int]]


@dataclass(slots=True)
class RunReport:
    events: int = 0
    escalations: int = 0  # levels sent
    sent: int = 0
    failed: int = 0  # failed attempts
    pruned_alerts: int = 0
    pruned_deliveries: int = 0


class Worker:
    """Escalation, outbox delivery and housekeeping for one replica."""

    def __init__(
        self,
        *,
        db: Database,
        config: AppConfig,
        catalog: Catalog,
        renderer: Renderer,
        counter: Counter,
        deliveries: DeliveryLog,
        http: httpx.AsyncClient,
        public_url: str,
        clock: Callable[[], datetime],
        environ: Mapping[str, str],
    ) -> None:
        self._db, self._deliveries, self._clock, self._counter = db, deliveries, clock, counter
        self._config = config
        self.channels = build_channels(
            config.channels, environ=environ, client=http, timeout=config.notifications.timeout
        )
        self._ctx = Context(config, catalog, self.channels.disabled, renderer, public_url)
        for problem in checks.warnings(config, catalog, environ):
            if not problem.startswith("channel "):  # build_channels warned about those
                log.warning("escalation problem", extra={"problem": problem})
        for channel in config.channels:
            for outcome in ("sent", "failed"):
                counter.labels(channel, outcome)
        self._task: asyncio.Task[None] | None = None
        self._last_prune: datetime | None = None

    @property
    def lease(self) -> timedelta:
        """How long a claimed message is left alone before another attempt may take it."""
        return max(self._config.notifications.timeout * 6, timedelta(seconds=60))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="escalation-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self, now: datetime) -> RunReport:
        """One full pass at ``now``; safe to run concurrently on several replicas."""
        report = RunReport()
        report.events, report.escalations = await self.advance(now)
        report.sent, report.failed = await self.deliver(now)
        if self._last_prune is None or now - self._last_prune >= PRUNE_EVERY:
            report.pruned_alerts, report.pruned_deliveries = await self.housekeep(now)
        return report

    async def housekeep(self, now: datetime) -> tuple[int, int]:
        """Retention: alerts of resolved incidents, and the webhook delivery log."""
        retention = self._config.retention
        await anyio.to_thread.run_sync(self._deliveries.flush)
        alerts = await anyio.to_thread.run_sync(
            partial(prune_alerts, self._db, older_than=now - retention.alerts)
        )
        deliveries = await anyio.to_thread.run_sync(
            partial(self._deliveries.prune, older_than=now - retention.deliveries)
        )
        self._last_prune = now
        if alerts or deliveries:
            log.info("retention pruned rows", extra={"alerts": alerts, "deliveries": deliveries})
        return alerts, deliveries

    async def advance(self, now: datetime) -> tuple[int, int]:
        """Queue what is due at ``now`` in the outbox; return (events, escalation levels)."""
        events = await self._drain(dispatch.route_events, now)
        return events, await self._drain(dispatch.escalate_due, now)

    async def _drain(self, step: Step, now: datetime) -> int:
        """Run ``step`` until nothing is left; between full batches, pause twice as long as
        the batch took, so a backlog (a storm's incidents) takes at most a third of the CPU
        the webhook needs, and drains in seconds rather than stalling requests."""
        total = 0
        while True:
            started = time.monotonic()
            claimed, done = await anyio.to_thread.run_sync(self._transaction, step, now)
            total += done
            if claimed < BATCH:
                return total
            await asyncio.sleep((time.monotonic() - started) * BACKLOG_PAUSE)

    def _transaction(self, step: Step, now: datetime) -> tuple[int, int]:
        with self._db.write_session() as session:
            return step(session, self._ctx, now=now, limit=BATCH)

    async def deliver(self, now: datetime) -> tuple[int, int]:
        """Send every due outbox row; return (sent, failed attempts)."""
        sent = failed = 0
        while True:
            batch = await anyio.to_thread.run_sync(self._claim, now)
            by_channel: dict[str, list[Outgoing]] = {}
            for message in batch:
                by_channel.setdefault(message.channel, []).append(message)
            groups = await asyncio.gather(*(self._in_order(m) for m in by_channel.values()))
            outcomes = [outcome for group in groups for outcome in group]
            await anyio.to_thread.run_sync(self._record, outcomes, now)
            sent += sum(o.ok for o in outcomes)
            failed += sum(not o.ok for o in outcomes)
            if len(batch) < SEND_BATCH:
                return sent, failed

    def _claim(self, now: datetime) -> list[Outgoing]:
        with self._db.write_session() as session:
            return outbox.claim(session, now=now, lease=self.lease, limit=SEND_BATCH)

    async def _in_order(self, messages: list[Outgoing]) -> list[Outcome]:
        """One channel's messages one after the other, so each receiver sees them in order."""
        return [await self._attempt(message) for message in messages]

    async def _attempt(self, message: Outgoing) -> Outcome:
        sender = self.channels.senders.get(message.channel)
        try:
            if sender is None:
                reason = self.channels.disabled.get(message.channel, "channel is not configured")
                raise DeliveryError(reason, retryable=False)
            await sender.send(message)
        except DeliveryError as err:
            self._counter.labels(message.channel, "failed").inc()
            log.warning(
                "notification attempt failed",
                extra={
                    "channel": message.channel,
                    "notification_id": message.id,
                    "key": message.key,
                    "attempt": message.attempts,
                    "reason": err.reason,
                    "retryable": err.retryable,
                },
            )
            return Outcome(message.id, message.channel, message.attempts, err.reason, err.retryable)
        self._counter.labels(message.channel, "sent").inc()
        log.info(
            "notification sent",
            extra={"channel": message.channel, "notification_id": message.id, "kind": message.kind},
        )
        return Outcome(message.id, message.channel, message.attempts)

    def _record(self, outcomes: list[Outcome], now: datetime) -> None:
        policy = self._config.notifications
        with self._db.write_session() as session:
            for outcome in outcomes:
                state = outbox.record(session, outcome, now=now, policy=policy)
                if state == NotificationState.FAILED:
                    log.error(
                        "notification given up",
                        extra={
                            "channel": outcome.channel,
                            "notification_id": outcome.id,
                            "attempts": outcome.attempts,
                            "reason": outcome.error,
                        },
                    )

    async def _loop(self) -> None:
        """Flush the delivery log every second; run every ``worker.interval``."""
        interval = max(self._config.worker.interval.total_seconds(), 0.05)
        tick = min(FLUSH_EVERY.total_seconds(), interval)
        next_run = time.monotonic() + interval
        while True:
            await asyncio.sleep(tick)
            await anyio.to_thread.run_sync(self._deliveries.flush)
            if time.monotonic() >= next_run:
                await self._run_safely()
                next_run = time.monotonic() + interval

    async def _run_safely(self) -> None:
        try:
            await self.run_once(self._clock())
        except (SQLAlchemyError, DomainError, OSError):
            log.warning("worker run failed; retrying at the next interval", exc_info=True)
