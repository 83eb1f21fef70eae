"""The in-process worker: one asyncio task per replica, restart-safe by construction.

Each run (``run_once(now)``; tests call it directly with a fake clock):

1. queued incident changes -> notifications and post-mortem drafts  (``dispatch``)
2. due escalation levels   -> notifications, timeline events, KPIs   (``dispatch``)
3. due outbox rows         -> channels, with bounded retries          (``outbox``, ``channels``)
4. hourly retention                                                 (``housekeeping``)

Nothing is kept in memory between runs: what is due is computed from the database, so a
restart resumes where the last committed run stopped, and replicas on PostgreSQL share the
work through ``FOR UPDATE SKIP LOCKED``. Blocking database work runs in threads.

Failures stay small: any exception while composing or sending one message fails that
message (recorded with its reason, retried with backoff, then given up); a hung channel is
left alone for the rest of the cycle (``sending``); a batch of incident changes or
escalations that fails is retried item by item and a failing item given up (``itemwise``);
outcomes the database refuses are written one by one (``recording``); any exception in a
cycle is logged with its traceback, counted (``runbook_worker_errors_total``) and followed by
a pause that doubles per consecutive failure (capped), after which the loop carries on.
``liveness`` tells readiness when no cycle has completed for too long.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import anyio
import httpx

from app.alerts.deliveries import DeliveryLog
from app.classification.catalog import Catalog
from app.config import AppConfig
from app.db import Database
from app.errors import ConfigError
from app.escalation import checks, itemwise, outbox
from app.escalation.channels import build_channels
from app.escalation.dispatch import Context
from app.escalation.housekeeping import Pruned, housekeep
from app.escalation.itemwise import Queue, Step
from app.escalation.liveness import Liveness, Streak
from app.escalation.outbox import Outcome, Outgoing
from app.escalation.recording import record_outcomes
from app.escalation.sending import Breaker, Round, Sending
from app.metrics.instruments import NOTIFICATION_OUTCOMES, Instruments
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
MAX_ERROR_PAUSE = 60.0  # seconds; the pause after a failed cycle doubles up to this


@dataclass(slots=True)
class RunReport:
    events: int = 0
    escalations: int = 0  # levels sent
    sent: int = 0
    failed: int = 0  # failed attempts
    pruned: Pruned | None = None  # when retention ran

    @property
    def pruned_alerts(self) -> int:
        return self.pruned.alerts if self.pruned else 0

    @property
    def pruned_deliveries(self) -> int:
        return self.pruned.deliveries if self.pruned else 0


class Worker:
    """Escalation, outbox delivery and housekeeping for one replica."""

    def __init__(
        self,
        *,
        db: Database,
        config: AppConfig,
        catalog: Catalog,
        renderer: Renderer,
        instruments: Instruments,
        deliveries: DeliveryLog,
        http: httpx.AsyncClient,
        public_url: str,
        clock: Callable[[], datetime],
        environ: Mapping[str, str],
        config_path: Path,
    ) -> None:
        """Refuse (``ConfigError``) a channel variable that holds no usable URL."""
        errors = checks.channel_errors(config, environ, source=config_path)
        if errors:
            raise ConfigError("; ".join(errors))
        self._db, self._deliveries, self._clock = db, deliveries, clock
        self._counter, self._instruments = instruments.notifications, instruments
        self._config = config
        self.channels = build_channels(
            config.channels, environ=environ, client=http, timeout=config.notifications.timeout
        )
        self._ctx = Context(config, catalog, self.channels.disabled, renderer, public_url)
        for problem in checks.warnings(config, catalog, environ):
            if not problem.startswith("channel "):  # build_channels warned about those
                log.warning("escalation problem", extra={"problem": problem})
        self.unreachable = checks.unreachable_steps(config, self.channels.disabled)
        for problem in self.unreachable:
            log.warning("escalation step reaches nobody", extra={"problem": problem})
        for channel in config.channels:
            for outcome in NOTIFICATION_OUTCOMES:
                self._counter.labels(channel, outcome)
        self.liveness = Liveness(config.worker.interval, config.notifications.timeout)
        self._sending = Sending(self.channels, self._counter, self.liveness.progress)
        policy = config.notifications
        self._breaker = Breaker(cooldown=max(policy.backoff, policy.timeout))
        self._task: asyncio.Task[None] | None = None
        self._last_prune: datetime | None = None

    @property
    def lease(self) -> timedelta:
        """How long a claimed message is left alone before another attempt may take it."""
        return max(self._config.notifications.timeout * 6, timedelta(seconds=60))

    async def start(self) -> None:
        self.liveness.start()
        self._instruments.worker_last_cycle.set(self._clock().timestamp())
        self._task = asyncio.create_task(self._loop(), name="escalation-worker")
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """Only ``stop()`` should end the task; anything else is reported by readiness."""
        if task.cancelled():
            self.liveness.stopped = "cancelled"
            return
        error = task.exception()
        self.liveness.stopped = f"ended: {type(error).__name__ if error else 'returned'}"
        log.critical("escalation worker ended", exc_info=error)

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
            report.pruned = await self.housekeep(now)
        return report

    async def housekeep(self, now: datetime) -> Pruned:
        """Retention (see ``housekeeping``), at most hourly from ``run_once``."""
        pruned = await housekeep(
            db=self._db, deliveries=self._deliveries, retention=self._config.retention, now=now
        )
        self._last_prune = now
        return pruned

    async def advance(self, now: datetime) -> tuple[int, int]:
        """Queue what is due at ``now`` in the outbox; return (events, escalation levels)."""
        events = await self._drain(itemwise.EVENTS, now)
        return events, await self._drain(itemwise.ESCALATIONS, now)

    async def _drain(self, queue: Queue, now: datetime) -> int:
        """Run ``step`` until nothing is left; between full batches, pause twice as long as
        the batch took, so a backlog (a storm's incidents) takes at most a third of the CPU
        the webhook needs, and drains in seconds rather than stalling requests."""
        total = 0
        while True:
            started = time.monotonic()
            claimed, done = await anyio.to_thread.run_sync(self._batch, queue, now)
            self.liveness.progress()
            total += done
            if claimed < BATCH:
                return total
            await asyncio.sleep((time.monotonic() - started) * BACKLOG_PAUSE)

    def _batch(self, queue: Queue, now: datetime) -> tuple[int, int]:
        """One batch in one transaction; if that fails, its items one by one (``itemwise``)."""
        try:
            return self._transaction(queue.step, now)
        except Exception as err:
            if itemwise.transient(err):
                raise
            log.warning(
                "worker batch failed; handling its items one by one",
                extra={"queue": queue.name, "error": f"{type(err).__name__}: {err}"[:500]},
            )
        return itemwise.one_by_one(
            self._db,
            queue,
            now=now,
            limit=BATCH,
            run=lambda item: self._transaction(queue.step, now, only=item),
            errors=self._instruments.worker_errors,
        )

    def _transaction(self, step: Step, now: datetime, only: int | None = None) -> tuple[int, int]:
        skipped: collections.Counter[str] = collections.Counter()
        with self._db.write_session() as session:
            result = step(session, self._ctx, now=now, limit=BATCH, skipped=skipped, only=only)
        for channel, n in skipped.items():  # committed: count the messages nobody will get
            self._counter.labels(channel, "skipped").inc(n)
        return result

    async def deliver(self, now: datetime) -> tuple[int, int]:
        """Send due outbox rows for about one timeout at most (see ``sending``); return
        (sent, failed attempts)."""
        budget = self._config.notifications.timeout.total_seconds() / 2
        cooling = self._breaker.down(now)
        round_ = Round(deadline=time.monotonic() + budget, down=set(cooling))
        sent = failed = 0
        while True:
            batch = await anyio.to_thread.run_sync(self._claim, now, frozenset(round_.down))
            outcomes = await self._sending.batch(batch, round_)
            await anyio.to_thread.run_sync(self._record, outcomes, now)
            sent += sum(o.ok for o in outcomes)
            failed += sum(bool(o.error) for o in outcomes)
            if len(batch) < SEND_BATCH or round_.over:
                break
        self._breaker.trip(round_.down - cooling, now)
        if round_.deferred:
            log.info(
                "notifications left for the next cycle",
                extra={"deferred": round_.deferred, "down": sorted(round_.down)},
            )
        return sent, failed

    def _claim(self, now: datetime, down: frozenset[str]) -> list[Outgoing]:
        with self._db.write_session() as session:
            return outbox.claim(session, now=now, lease=self.lease, limit=SEND_BATCH, skip=down)

    def _record(self, outcomes: list[Outcome], now: datetime) -> None:
        record_outcomes(
            self._db,
            outcomes,
            now=now,
            policy=self._config.notifications,
            errors=self._instruments.worker_errors,
        )

    async def _loop(self) -> None:
        """Flush the delivery log every second; run every ``worker.interval``; survive errors."""
        interval = max(self._config.worker.interval.total_seconds(), 0.05)
        streak = Streak(base=min(FLUSH_EVERY.total_seconds(), interval), cap=MAX_ERROR_PAUSE)
        next_run = time.monotonic() + interval
        while True:
            await asyncio.sleep(streak.pause)
            try:
                await anyio.to_thread.run_sync(self._deliveries.flush)
                if time.monotonic() >= next_run:
                    await self._cycle()
                    next_run = time.monotonic() + interval
            except Exception as err:  # the loop's boundary: log, count, back off, carry on
                self._failed_cycle(err, streak)
                continue
            if failed := streak.reset():
                log.info("worker recovered", extra={"failed_cycles": failed})

    async def _cycle(self) -> None:
        now = self._clock()
        await self.run_once(now)
        self.liveness.cycle_done()
        self._instruments.worker_last_cycle.set(now.timestamp())

    def _failed_cycle(self, err: Exception, streak: Streak) -> None:
        """Count the failure; log its traceback once per run of the same error."""
        self._instruments.worker_errors.inc()
        error = f"{type(err).__name__}: {err}"[:500]
        new = streak.failed(error)
        extra = {"error": error, "failed_cycles": streak.count, "pause_seconds": streak.pause}
        if new:
            log.error("worker cycle failed; carrying on after a pause", exc_info=err, extra=extra)
        else:
            log.warning("worker cycle failed again", extra=extra)
