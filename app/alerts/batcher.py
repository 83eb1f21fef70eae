"""Group commit for the webhook: payloads that arrive while a batch is being stored wait
together and are stored by the next one, in one transaction.

Under light load each payload is a batch of one and waits for nothing; in a storm the
batch grows with the queue, so the database work per payload falls as load rises, and every
request is answered once its own payload is committed (never before).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import anyio

from app.alerts.service import IngestResult, Job, Outcome

log = logging.getLogger(__name__)

Store = Callable[[Sequence[Job]], list[Outcome]]


LINGER = 0.003  # seconds a batch may wait for the requests of the last one to come back
POLL = 0.0002
QUIET = 0.0008  # ... but not once no request has come for this long
DECAY = 0.98  # per request: how fast the remembered concurrency forgets a past peak


class IngestBatcher:
    """Queue jobs; one task stores them in batches of up to ``max_alerts`` alerts.

    Under load, the clients answered by one batch send their next request at once; a batch
    started the moment the previous one ends would hold only some of them (batches then
    settle into two halves that alternate, each paying the fixed cost of a transaction). So
    while the queue holds fewer jobs than were recently in flight together, the next batch
    waits up to ``LINGER`` for them; the thread is idle then, but the event loop is busy
    reading those very requests. At low load one job is in flight and nothing waits.
    """

    def __init__(self, store: Store, *, max_alerts: int = 2000) -> None:
        self._store = store
        self._max_alerts = max_alerts
        self._queue: list[tuple[Job, asyncio.Future[Outcome]]] = []
        self._runner: asyncio.Task[None] | None = None
        self._inflight = 0
        self._peak = 0.0

    async def submit(self, job: Job) -> IngestResult:
        """Store ``job``; return its result once committed, or raise its own error."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append((job, future))
        self._inflight += 1
        self._peak = max(self._peak * DECAY, float(self._inflight))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run())
        try:
            outcome = await asyncio.shield(future)  # a client that hangs up does not cancel it
        finally:
            self._inflight -= 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _take(self) -> list[tuple[Job, asyncio.Future[Outcome]]]:
        taken: list[tuple[Job, asyncio.Future[Outcome]]] = []
        alerts = 0
        while self._queue:
            size = len(self._queue[0][0].payload.alerts)
            if taken and alerts + size > self._max_alerts:
                break
            taken.append(self._queue.pop(0))
            alerts += size
        return taken

    async def _fill(self) -> None:
        loop = asyncio.get_running_loop()
        start = grew = loop.time()
        size = len(self._queue)
        while size < self._peak - 1 and grew - start < LINGER and loop.time() - grew < QUIET:
            await asyncio.sleep(POLL)
            if len(self._queue) > size:
                size, grew = len(self._queue), loop.time()

    async def _run(self) -> None:
        while self._queue:
            await self._fill()
            batch = self._take()
            jobs = [job for job, _ in batch]
            try:
                outcomes = await anyio.to_thread.run_sync(self._store, jobs)
            except Exception as err:  # the store itself failed: each request fails with it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            except BaseException:  # cancelled: shutting down
                for _, future in batch:
                    future.cancel()
                raise
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)
