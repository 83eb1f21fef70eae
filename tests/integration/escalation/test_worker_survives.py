"""One bad message, or one bad cycle, never stops the worker (issue 11, item 1).

* A newline in an incident title (from the alert's ``summary``) used to raise ``ValueError``
  while composing the e-mail, outside the delivery ``try``: the worker task ended for good.
* Any unexpected exception while sending fails that message only, recorded with its reason
  and retried with backoff like any failure.
* Any exception in a cycle is logged with its traceback, counted in
  ``runbook_worker_errors_total``, and the loop carries on after a pause; meanwhile
  ``/readyz`` says the worker is stalled (503).
* A channel URL that does not parse is refused at start-up, naming the file and the channel.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import AsyncClient
from prometheus_client import CollectorRegistry

from app.errors import ConfigError
from app.escalation.outbox import Outgoing
from app.main import create_app
from app.settings import Settings
from tests.conftest import WEBHOOK, FakeClock, ingest_headers
from tests.factories import alert, payload
from tests.integration.escalation.support import (
    Mailbox,
    Receiver,
    fire,
    notifications,
    run,
    worker_of,
)
from tests.integration.escalation.test_background import until

pytestmark = pytest.mark.anyio
HOSTILE = "Disk full\r\nBcc: everyone@example.test\x1b"  # NUL: item 8


async def fire_titled(client: AsyncClient, fingerprint: str, clock: FakeClock, title: str) -> int:
    """Post a firing alert whose ``summary`` (the incident title) is ``title``."""
    firing = alert(fingerprint, starts_at=clock.now)
    firing["annotations"]["summary"] = title
    body = payload(firing, group_key=f"{{}}:{fingerprint}")
    response = await client.post(WEBHOOK, json=body, headers=ingest_headers())
    assert response.status_code == 200, response.text
    return int(response.json()["incidents"][0])


class TestHostileTitleByEmail:
    @pytest.fixture
    def rr_config(
        self, rr_config: dict[str, Any], smtp: tuple[Mailbox, Controller]
    ) -> dict[str, Any]:
        rr_config["channels"]["mail"] = {
            "type": "email",
            "to": ["lead@example.test"],
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp[1].port,
            "tls": "none",
        }
        rr_config["escalation"]["default"]["steps"] = [{"after": "0s", "notify": ["mail"]}]
        return rr_config

    async def test_a_newline_in_the_title_is_sent_as_a_one_line_subject(
        self, app: FastAPI, client: AsyncClient, clock: FakeClock, smtp: tuple[Mailbox, Controller]
    ) -> None:
        hostile = await fire_titled(client, "a", clock, HOSTILE)
        plain = await fire_titled(client, "b", clock, "Queue stuck")
        report = await run(app, clock.now)
        assert (report.sent, report.failed) == (2, 0)
        subjects = sorted(str(m["Subject"]) for _, m in smtp[0].messages)
        assert subjects == [
            f"Incident #{hostile} opened: Disk full Bcc: everyone@example.test",
            f"Incident #{plain} opened: Queue stuck",
        ]
        assert all(m["Bcc"] is None for _, m in smtp[0].messages)
        assert [n["state"] for n in await notifications(client)] == ["sent", "sent"]


class Broken:
    """A sender with a bug: every call raises something no channel anticipates."""

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, message: Outgoing) -> None:
        self.calls += 1
        raise RuntimeError(f"bug while composing message {message.id}")


class TestUnexpectedSenderError:
    @pytest.fixture
    def rr_config(self, rr_config: dict[str, Any]) -> dict[str, Any]:
        steps = [{"after": "0s", "notify": ["primary", "secondary"]}]
        rr_config["escalation"]["default"]["steps"] = steps
        rr_config["escalation"]["default"]["notify_on"] = []
        return rr_config

    async def test_it_fails_that_message_only_then_gives_up_per_backoff(
        self,
        app: FastAPI,
        client: AsyncClient,
        clock: FakeClock,
        receiver: Receiver,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        worker_of(app).channels.senders["primary"] = Broken()
        incident = await fire(client, "a", clock.now)
        report = await run(app, clock.now)
        assert (report.sent, report.failed) == (1, 1)
        assert [r.path for r in receiver.accepted()] == ["/secondary"]
        rows = {n["channel"]: n for n in await notifications(client, incident)}
        assert rows["secondary"]["state"] == "sent"
        primary = rows["primary"]
        assert (primary["state"], primary["attempts"]) == ("pending", 1)
        assert primary["last_error"] == f"RuntimeError: bug while composing message {primary['id']}"
        [logged] = [r for r in caplog.records if r.getMessage() == "notification attempt failed"]
        assert logged.exc_info is not None  # the traceback, for whoever fixes the bug
        for seconds in (30, 60, 120):  # backoff 30 s, doubled; max_attempts 4
            assert (await run(app, clock.advance(seconds=seconds))).failed == 1
        [row] = [n for n in await notifications(client, incident) if n["channel"] == "primary"]
        assert (row["state"], row["attempts"]) == ("failed", 4)


class TestLoopSurvives:
    @pytest.fixture
    def rr_config(self, rr_config: dict[str, Any]) -> dict[str, Any]:
        rr_config["notifications"]["timeout"] = "1s"
        return rr_config | {"worker": {"interval": "100ms"}}

    async def test_a_failing_cycle_is_counted_reported_and_survived(
        self,
        app: FastAPI,
        client: AsyncClient,
        clock: FakeClock,
        receiver: Receiver,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.INFO)
        worker = worker_of(app)
        advance = worker.advance
        broken = {"yes": True}

        async def failing(now: Any) -> tuple[int, int]:
            if broken["yes"]:
                raise RuntimeError("unexpected bug in a cycle")
            return await advance(now)

        worker.advance = failing  # type: ignore[method-assign]
        incident = await fire(client, "a", clock.now)

        async def stalled() -> bool:
            response = await client.get("/readyz")
            worker_check = response.json()["checks"]["worker"]
            return response.status_code == 503 and worker_check.startswith("stalled: ")

        await until(stalled, what="/readyz to report the stalled worker")
        body = (await client.get("/readyz")).json()
        assert body["status"] == "unavailable"
        assert body["checks"]["worker"].endswith("expected every 100ms")
        assert await errors_total(client) >= 2
        failed = [r for r in caplog.records if r.name == "app.escalation.worker"]
        tracebacks = [r for r in failed if r.exc_info and "cycle failed" in r.getMessage()]
        assert len(tracebacks) == 1  # once per run of the same error, not every cycle
        assert any(r.getMessage() == "worker cycle failed again" for r in failed)

        broken["yes"] = False

        async def delivered() -> bool:
            rows = await notifications(client, incident)
            return [n["state"] for n in rows] == ["sent"]

        await until(delivered, what="the recovered worker to deliver")

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await until(ready, what="/readyz to recover")
        assert (await client.get("/readyz")).json()["checks"]["worker"].startswith("ok: ")
        assert any(r.getMessage() == "worker recovered" for r in caplog.records)
        assert await last_cycle(client) == clock.now.timestamp()


async def sample(client: AsyncClient, name: str) -> float:
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


async def errors_total(client: AsyncClient) -> float:
    return await sample(client, "runbook_worker_errors_total")


async def last_cycle(client: AsyncClient) -> float:
    return await sample(client, "runbook_worker_last_cycle_timestamp_seconds")


async def test_worker_metrics_are_exported_from_the_start(client: AsyncClient) -> None:
    assert await errors_total(client) == 0


class TestUnparsableChannelUrl:
    @pytest.fixture
    def rr_env(self, rr_env: dict[str, str]) -> dict[str, str]:
        return rr_env | {"RR_TEST_SECONDARY_URL": "http://127.0.0.1:abc/slack"}

    async def test_start_up_is_refused_naming_the_file_and_the_channel(
        self, settings: Settings, clock: FakeClock
    ) -> None:
        app = create_app(settings, registry=CollectorRegistry(), clock=clock)
        with pytest.raises(ConfigError) as refused:
            async with LifespanManager(app):
                pytest.fail("the app started with an unusable channel URL")
        message = refused.value.message
        assert message.startswith(f"{settings.config}: channel 'secondary': RR_TEST_SECONDARY_URL")
        assert "Invalid port: 'abc'" in message
