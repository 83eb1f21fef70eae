"""A hung channel does not hold up the others (issue 11, review D5).

A mail server that accepts connections and never answers made every 20-message batch wait
for it, one timeout per message: another channel's page arrived minutes late and escalation
did not run meanwhile. Now a channel that times out (or cannot be connected to) is left alone
for a cool-down (its other messages wait, not attempted, not counted, not claimed), and no new
send starts once half ``notifications.timeout`` has passed, so a cycle ends within about
one timeout.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.conftest import FakeClock
from tests.integration.escalation.support import Receiver, fire, notifications, run

pytestmark = pytest.mark.anyio
INCIDENTS = 12  # 24 messages: more than one claimed batch (20)


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A TCP server that accepts every connection and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # the listening socket was shut down
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.shutdown(socket.SHUT_RDWR)
    server.close()
    thread.join()
    for connection in held:
        connection.close()


@pytest.fixture(params=["webhook", "email"])
def rr_config(
    request: pytest.FixtureRequest, rr_config: dict[str, Any], hung_port: int
) -> dict[str, Any]:
    """Every incident pages ``hung`` (a peer that never answers) and ``secondary`` at once."""
    if request.param == "email":
        hung = {"type": "email", "to": ["x@example.test"], "smtp_host": "127.0.0.1"}
        rr_config["channels"]["hung"] = hung | {"smtp_port": hung_port, "tls": "none"}
    else:
        rr_config["channels"]["hung"] = {"type": "webhook", "url_env": "RR_TEST_HUNG_URL"}
    rr_config["escalation"]["default"]["steps"] = [{"after": "0s", "notify": ["hung", "secondary"]}]
    rr_config["escalation"]["default"]["notify_on"] = []
    rr_config["notifications"]["timeout"] = "2s"
    return rr_config


@pytest.fixture
def rr_env(rr_env: dict[str, str], hung_port: int) -> dict[str, str]:
    return rr_env | {"RR_TEST_HUNG_URL": f"http://127.0.0.1:{hung_port}/hook"}


async def test_the_other_channel_is_served_in_the_same_or_next_cycle(
    app: FastAPI, client: AsyncClient, clock: FakeClock, receiver: Receiver
) -> None:
    for n in range(INCIDENTS):
        await fire(client, f"f{n}", clock.now)
    first = await run(app, clock.now)
    assert first.escalations == INCIDENTS  # escalation ran, whatever the channels do
    assert (first.failed, first.sent) == (1, len(receiver.accepted("/secondary")))
    second = await run(app, clock.advance(seconds=1))
    assert len(receiver.accepted("/secondary")) == INCIDENTS
    assert second.failed == 0  # the hung channel cools down (backoff) instead of costing a timeout
    hung = [n for n in await notifications(client) if n["channel"] == "hung"]
    assert sorted(n["attempts"] for n in hung) == [0] * (INCIDENTS - 1) + [1]
    assert {n["state"] for n in hung} == {"pending"}
    assert all(n["last_error"] == "" for n in hung if n["attempts"] == 0)


BACKLOG = 22  # more than one claimed batch (20) of the hung channel's messages alone


@pytest.fixture
def backlog_config(rr_config: dict[str, Any]) -> dict[str, Any]:
    """``hung`` is paged at once, ``secondary`` 10 s later: the hung channel's backlog is older."""
    rr_config["escalation"]["default"]["steps"] = [
        {"after": "0s", "notify": ["hung"]},
        {"after": "10s", "notify": ["secondary"]},
    ]
    return rr_config


@pytest.mark.usefixtures("backlog_config")
async def test_a_hung_channels_backlog_does_not_starve_the_others(
    app: FastAPI, client: AsyncClient, clock: FakeClock, receiver: Receiver
) -> None:
    """Review round 2: deferred messages kept their place at the head of the queue, so every
    cycle claimed 20 of them, waited one timeout on the first and ended with the others'
    messages never claimed. The channel now stays down for a cool-down (backoff, 30 s here)."""
    for n in range(BACKLOG):
        await fire(client, f"b{n}", clock.now)
    first = await run(app, clock.now)
    assert first.failed == 1  # the hung channel was tried once, then left for the cool-down
    second = await run(app, clock.advance(seconds=10))
    assert second.escalations == BACKLOG
    assert len(receiver.accepted("/secondary")) == BACKLOG  # in this cycle, not behind the hung
    assert second.failed == 0  # the hung channel is cooling down: not tried, not counted
    third = await run(app, clock.advance(seconds=30))  # cool-down over: tried once again
    assert third.failed == 1
