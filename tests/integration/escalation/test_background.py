"""The worker the lifespan starts runs by itself every ``worker.interval``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from httpx import AsyncClient

from tests.conftest import FakeClock
from tests.integration.escalation.support import Receiver, fire, notifications

pytestmark = pytest.mark.anyio


@pytest.fixture
def rr_config(rr_config: dict[str, Any]) -> dict[str, Any]:
    return rr_config | {"worker": {"interval": "100ms"}}


async def until(
    condition: Callable[[], Awaitable[bool]], *, what: str, timeout: float = 15
) -> None:
    """Poll ``condition`` without blocking the event loop the app runs on."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await anyio.sleep(0.02)


async def test_the_lifespan_worker_escalates_and_delivers_on_its_own(
    client: AsyncClient, clock: FakeClock, receiver: Receiver
) -> None:
    incident = await fire(client, "a", clock.now)

    async def sent() -> bool:
        return [n["state"] for n in await notifications(client, incident)] == ["sent"]

    await until(sent, what="the background worker to escalate and deliver")
    [row] = await notifications(client, incident)
    assert (row["level"], row["attempts"]) == (1, 1)
    assert [r.path for r in receiver.accepted()] == ["/primary"]
