"""Escalation driven by the database and an injected clock: timing, restarts, catch-up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from app.settings import Settings
from tests.conftest import FakeClock, admin_headers
from tests.integration.escalation.support import (
    Receiver,
    detail,
    end,
    escalated,
    fire,
    notifications,
    run,
)

pytestmark = pytest.mark.anyio
W = "workflow-500"


async def escalations_total(client: AsyncClient, level: str) -> float:
    text = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "runbook_escalations_total" and sample.labels == {
                "class": W,
                "level": level,
            }:
                return sample.value
    return 0.0


def paths(receiver: Receiver) -> list[str]:
    return [r.path for r in receiver.accepted()]


async def test_steps_fall_due_on_the_injected_clock(
    app: FastAPI, client: AsyncClient, clock: FakeClock, receiver: Receiver
) -> None:
    t0 = clock.now
    incident = await fire(client, "a", t0)
    assert (await run(app, t0)).escalations == 1
    assert paths(receiver) == ["/primary"]
    assert (await run(app, t0 + timedelta(minutes=9, seconds=59))).escalations == 0
    report = await run(app, t0 + timedelta(minutes=10))
    assert (report.escalations, report.sent) == (1, 1)
    assert paths(receiver) == ["/primary", "/secondary"]
    level2 = receiver.accepted("/secondary")[0].body
    assert level2["level"] == 2
    assert level2["subject"].startswith(f"Incident #{incident} unacknowledged for 10 min (level 2)")
    assert level2["incident"]["runbook_url"].startswith("https://rr.example.test/runbooks/" + W)
    assert f"Acknowledge: https://rr.example.test/incidents/{incident}" in level2["text"]

    clock.now = t0 + timedelta(minutes=29)
    ack = await client.post(f"/api/v1/incidents/{incident}/ack", headers=admin_headers())
    assert ack.status_code == 200
    assert (await run(app, t0 + timedelta(hours=2))).escalations == 0
    # The ack message reaches everyone paged so far; level 3 never happens.
    assert sorted(paths(receiver)[2:]) == ["/primary", "/secondary"]
    assert {r.body["event"] for r in receiver.accepted()[2:]} == {"ack"}
    assert "acknowledged by admin" in receiver.accepted()[2].body["subject"]
    got = await detail(client, incident)
    assert escalated(got) == [1, 2]
    assert [e["rule"] for e in got["timeline"] if e["kind"] == "escalated"] == ["ESCALATE-1"] * 2
    assert await escalations_total(client, "1") == 1
    assert await escalations_total(client, "2") == 1
    assert await escalations_total(client, "3") == 0


async def test_a_restart_between_two_steps_resumes_at_the_right_step(
    app: FastAPI, client: AsyncClient, clock: FakeClock, receiver: Receiver, settings: Settings
) -> None:
    t0 = clock.now
    incident = await fire(client, "a", t0)
    await run(app, t0)
    restarted = create_app(settings, registry=CollectorRegistry(), clock=clock)
    async with (
        LifespanManager(restarted),
        AsyncClient(transport=ASGITransport(app=restarted), base_url="http://b") as other,
    ):
        assert (await run(restarted, t0 + timedelta(minutes=5))).escalations == 0
        report = await run(restarted, t0 + timedelta(minutes=10))
        assert report.escalations == 1
        assert (await run(restarted, t0 + timedelta(minutes=10))).escalations == 0
        assert escalated(await detail(other, incident)) == [1, 2]
    assert paths(receiver) == ["/primary", "/secondary"]


async def test_a_worker_that_was_down_sends_every_missed_step_once(
    app: FastAPI, client: AsyncClient, clock: FakeClock, receiver: Receiver
) -> None:
    t0 = clock.now
    incident = await fire(client, "a", t0)
    late = t0 + timedelta(minutes=45)  # nothing ran for 45 minutes
    assert (await run(app, late)).escalations == 3
    assert (await run(app, late)).escalations == 0
    assert sorted(paths(receiver)) == ["/lead", "/primary", "/secondary"]  # channels in parallel
    timeline = (await detail(client, incident))["timeline"]
    steps = [e["detail"] for e in timeline if e["kind"] == "escalated"]
    assert [(s["level"], s["after"]) for s in steps] == [(1, "0s"), (2, "10m"), (3, "30m")]
    assert steps[2]["due_at"] == (t0 + timedelta(minutes=30)).isoformat()


async def test_reopen_restarts_escalation_and_resolve_notifies_the_paged(
    app: FastAPI, client: AsyncClient, clock: FakeClock, receiver: Receiver
) -> None:
    t0 = clock.now
    incident = await fire(client, "a", t0)
    await run(app, t0 + timedelta(minutes=10))  # levels 1 and 2
    clock.now = t0 + timedelta(minutes=12)
    await end(client, "a", t0, clock.now)  # Alertmanager resolves it
    await run(app, clock.now)
    resolved = receiver.accepted()[2:]
    assert sorted(r.path for r in resolved) == ["/primary", "/secondary"]
    assert all(r.body["event"] == "resolve" for r in resolved)
    assert "resolved by alertmanager after 12 min" in resolved[0].body["subject"]
    # A firing alert within the flap window reopens it: escalation starts again at level 1.
    clock.now = t0 + timedelta(minutes=14)
    assert await fire(client, "a", clock.now) == incident
    assert (await run(app, clock.now + timedelta(minutes=9))).escalations == 1
    first, again = [r.body for r in receiver.accepted("/primary") if r.body["level"] == 1]
    assert again["subject"] == first["subject"].replace("opened", "reopened")
    assert escalated(await detail(client, incident)) == [1, 2, 1]
    kinds = [n["kind"] for n in await notifications(client, incident)]
    assert kinds == ["escalation", "escalation", "resolve", "resolve", "escalation"]


async def test_manual_resolve_stops_escalation(
    app: FastAPI, client: AsyncClient, clock: FakeClock, receiver: Receiver
) -> None:
    t0 = clock.now
    incident = await fire(client, "a", t0)
    await run(app, t0)
    clock.now = t0 + timedelta(minutes=5)
    response = await client.post(
        f"/api/v1/incidents/{incident}/resolve",
        json={"note": "rolled back"},
        headers=admin_headers(),
    )
    assert response.status_code == 200
    assert (await run(app, t0 + timedelta(hours=3))).escalations == 0
    assert paths(receiver) == ["/primary", "/primary"]
    assert receiver.accepted()[1].body["event"] == "resolve"
    assert escalated(await detail(client, incident)) == [1]


class TestOpenMessage:
    """``notify_on: open`` goes to ``notify`` less the channels an immediate step pages."""

    @pytest.fixture
    def rr_config(self, rr_config: dict[str, object]) -> dict[str, object]:
        policy = rr_config["escalation"]["default"]  # type: ignore[index]
        policy["notify"] = ["primary", "lead"]
        return rr_config

    async def test_open_goes_to_notify_channels_not_paged_at_once(
        self, app: FastAPI, client: AsyncClient, clock: FakeClock, receiver: Receiver
    ) -> None:
        incident = await fire(client, "a", clock.now)
        await run(app, clock.now)
        got = sorted((r.path, r.body["event"]) for r in receiver.accepted())
        assert got == [("/lead", "open"), ("/primary", "escalation")]
        assert (
            receiver.accepted("/lead")[0].body["subject"].startswith(f"Incident #{incident} opened")
        )
