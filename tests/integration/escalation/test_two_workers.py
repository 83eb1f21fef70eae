"""Two replicas' workers on one PostgreSQL database send each step exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import AsyncClient
from prometheus_client import CollectorRegistry
from sqlmodel import select

from app.escalation.models import Notification
from app.incidents.models import TimelineEvent
from app.main import create_app
from app.settings import Settings
from tests.conftest import FakeClock, postgres_database
from tests.integration.escalation.support import Receiver, fire, worker_of

pytestmark = pytest.mark.anyio
INCIDENTS = 30  # more than one claim batch (SEND_BATCH), so both workers send


@pytest.fixture
def database_url(pg_cluster: object) -> str:
    """PostgreSQL only: SQLite is the single-process store."""
    return postgres_database(pg_cluster)  # type: ignore[arg-type]


async def test_two_workers_send_each_step_exactly_once(
    app: FastAPI, client: AsyncClient, clock: FakeClock, receiver: Receiver, settings: Settings
) -> None:
    t0 = clock.now
    ids = [await fire(client, f"fp{i}", t0) for i in range(INCIDENTS)]
    async with AsyncExitStack() as stack:
        second = create_app(settings, registry=CollectorRegistry(), clock=clock)
        await stack.enter_async_context(LifespanManager(second))
        workers = [worker_of(app), worker_of(second)]
        for minutes in (0, 0, 10, 10, 30, 45):
            now = t0 + timedelta(minutes=minutes)
            reports = await asyncio.gather(*(w.run_once(now) for w in workers))
            await asyncio.gather(*(w.run_once(now) for w in reversed(workers)))
        assert sum(r.escalations for r in reports) == 0  # everything was done by then
    # Every incident got levels 1, 2 and 3 once: one outbox row each, one delivery each.
    accepted = receiver.accepted()
    assert Counter(r.path for r in accepted) == {
        "/primary": INCIDENTS,
        "/secondary": INCIDENTS,
        "/lead": INCIDENTS,
    }
    assert len({r.key for r in receiver.requests}) == len(receiver.requests) == 3 * INCIDENTS
    services = app.state.services
    with services.db.session() as session:
        rows = session.exec(select(Notification)).all()
        steps = session.exec(select(TimelineEvent).where(TimelineEvent.kind == "escalated")).all()
    assert Counter((n.incident_id, n.level) for n in rows) == {
        (i, level): 1 for i in ids for level in (1, 2, 3)
    }
    assert {n.state for n in rows} == {"sent"}
    assert {n.attempts for n in rows} == {1}
    assert Counter((e.incident_id, e.detail["level"]) for e in steps) == {
        (i, level): 1 for i in ids for level in (1, 2, 3)
    }
