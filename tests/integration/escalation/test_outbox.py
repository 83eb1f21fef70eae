"""The transactional outbox against a real local HTTP receiver: retries, idempotency keys,
crashes between commit and send, bounded attempts, disabled channels."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import AsyncClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from app.escalation import outbox
from app.main import create_app
from app.settings import Settings
from tests.conftest import FakeClock
from tests.integration.escalation.support import (
    Receiver,
    fire,
    notifications,
    run,
    worker_of,
)

pytestmark = pytest.mark.anyio


async def sent_total(client: AsyncClient, channel: str, outcome: str) -> float:
    text = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "runbook_notifications_total" and sample.labels == {
                "channel": channel,
                "outcome": outcome,
            }:
                return sample.value
    raise AssertionError(f"no runbook_notifications_total for {channel}/{outcome}")


async def test_a_receiver_that_fails_then_recovers_gets_each_message_once(
    app: FastAPI, client: AsyncClient, clock: FakeClock, receiver: Receiver
) -> None:
    t0 = clock.now
    receiver.fail_next(503, 503)
    incident = await fire(client, "a", t0)
    assert (await run(app, t0)).failed == 1
    assert (await run(app, t0 + timedelta(seconds=29))).failed == 0  # backing off: 30 s
    assert (await run(app, t0 + timedelta(seconds=30))).failed == 1
    assert (await run(app, t0 + timedelta(seconds=89))).sent == 0  # then 60 s
    assert (await run(app, t0 + timedelta(seconds=90))).sent == 1
    assert (await run(app, t0 + timedelta(minutes=9))).sent == 0
    assert [r.status for r in receiver.requests] == [503, 503, 200]
    keys = {r.key for r in receiver.requests}
    [row] = await notifications(client, incident)
    assert keys == {row["key"]}
    assert set(receiver.processed) == keys
    assert (row["state"], row["attempts"], row["channel"]) == ("sent", 3, "primary")
    assert row["last_error"] == "HTTP 503: try again later"
    assert await sent_total(client, "primary", "failed") == 2
    assert await sent_total(client, "primary", "sent") == 1
    assert await sent_total(client, "lead", "sent") == 0  # pre-initialised


async def test_a_commit_whose_process_died_before_sending_is_sent_after_restart(
    client: AsyncClient, clock: FakeClock, receiver: Receiver, settings: Settings
) -> None:
    t0 = clock.now
    incident = await fire(client, "a", t0)  # committed; this process never runs its worker
    restarted = create_app(settings, registry=CollectorRegistry(), clock=clock)
    async with LifespanManager(restarted):
        assert (await run(restarted, t0 + timedelta(seconds=3))).sent == 1
    [row] = await notifications(client, incident)
    assert [r.key for r in receiver.requests] == [row["key"]]


async def test_a_claim_whose_process_died_before_the_outcome_is_resent_with_its_key(
    app: FastAPI, client: AsyncClient, clock: FakeClock, receiver: Receiver, settings: Settings
) -> None:
    t0 = clock.now
    incident = await fire(client, "a", t0)
    await run(app, t0)
    receiver.requests.clear()
    clock.now = t0 + timedelta(minutes=10)
    # Level 2 is queued; a worker claims it and dies before it sends or records anything.
    assert await worker_of(app).advance(clock.now) == (0, 1)
    services = app.state.services
    with services.db.write_session() as session:
        [claimed] = outbox.claim(session, now=clock.now, lease=worker_of(app).lease, limit=10)
    restarted = create_app(settings, registry=CollectorRegistry(), clock=clock)
    async with LifespanManager(restarted):
        assert (await run(restarted, clock.now)).sent == 0  # still leased to the dead worker
        later = clock.now + worker_of(restarted).lease
        assert (await run(restarted, later)).sent == 1
        assert (await run(restarted, later + timedelta(minutes=5))).sent == 0
    assert [(r.path, r.key) for r in receiver.requests] == [("/secondary", claimed.key)]
    row = next(n for n in await notifications(client, incident) if n["key"] == claimed.key)
    assert (row["state"], row["attempts"]) == ("sent", 2)


async def test_retries_are_bounded(
    app: FastAPI, client: AsyncClient, clock: FakeClock, receiver: Receiver
) -> None:
    t0 = clock.now
    receiver.fail_next(*[500] * 20)
    incident = await fire(client, "a", t0)
    for seconds in (0, 30, 90, 210, 3600, 7200):  # max_attempts: 4
        await run(app, t0 + timedelta(seconds=seconds))
    assert [r.status for r in receiver.requests if r.path == "/primary"] == [500] * 4
    row = next(n for n in await notifications(client, incident) if n["channel"] == "primary")
    assert (row["state"], row["attempts"], row["next_attempt_at"]) == ("failed", 4, None)
    assert row["last_error"] == "HTTP 500: try again later"


async def test_a_permanent_error_is_not_retried(
    app: FastAPI, client: AsyncClient, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.fail_next(404)
    incident = await fire(client, "a", clock.now)
    await run(app, clock.now)
    await run(app, clock.now + timedelta(minutes=5))
    [row] = await notifications(client, incident)
    assert (row["state"], row["attempts"], row["last_error"]) == (
        "failed",
        1,
        "HTTP 404: try again later",
    )
    assert len(receiver.requests) == 1


async def test_notifications_api_is_for_admins(client: AsyncClient) -> None:
    response = await client.get("/api/v1/notifications")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


class TestDisabledChannel:
    @pytest.fixture
    def rr_env(self, rr_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
        monkeypatch.delenv("RR_TEST_LEAD_URL", raising=False)
        return {k: v for k, v in rr_env.items() if k != "RR_TEST_LEAD_URL"}

    async def test_an_unset_variable_disables_the_channel_with_a_warning(
        self,
        app: FastAPI,
        client: AsyncClient,
        clock: FakeClock,
        receiver: Receiver,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        startup = caplog.get_records("setup")
        [warning] = [r for r in startup if r.getMessage() == "notification channel disabled"]
        assert warning.__dict__["channel"] == "lead"
        assert "RR_TEST_LEAD_URL is unset" in warning.__dict__["reason"]
        incident = await fire(client, "a", clock.now)
        await run(app, clock.now + timedelta(hours=1))
        rows = {n["channel"]: n for n in await notifications(client, incident)}
        assert rows["lead"]["state"] == "skipped"
        assert rows["lead"]["attempts"] == 0
        assert (
            rows["lead"]["last_error"] == "disabled: environment variable RR_TEST_LEAD_URL is unset"
        )
        assert rows["secondary"]["state"] == "sent"
        assert "/lead" not in {r.path for r in receiver.requests}
