"""Retention run by the worker: old alerts of resolved incidents, and the delivery log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.conftest import FakeClock, admin_headers
from tests.integration.escalation.support import detail, end, fire, worker_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def rr_config(rr_config: dict[str, Any]) -> dict[str, Any]:
    return rr_config | {"retention": {"alerts": "30d", "deliveries": "7d"}}


async def deliveries(client: AsyncClient) -> int:
    response = await client.get("/api/v1/deliveries", headers=admin_headers())
    assert response.status_code == 200
    return len(response.json()["items"])


async def test_retention_keeps_alerts_of_open_incidents_and_prunes_the_rest(
    app: FastAPI, client: AsyncClient, clock: FakeClock
) -> None:
    t0 = clock.now
    resolved = await fire(client, "old", t0)
    await end(client, "old", t0, t0 + timedelta(minutes=5))
    still_open = await fire(client, "open", t0)
    by_hand = await fire(client, "hand", t0)  # resolved by a person while it still fires
    response = await client.post(
        f"/api/v1/incidents/{by_hand}/resolve", json={}, headers=admin_headers()
    )
    assert response.status_code == 200
    assert await deliveries(client) == 4
    worker = worker_of(app)

    report = await worker.run_once(t0 + timedelta(days=6))  # the first run prunes
    assert (report.pruned_alerts, report.pruned_deliveries) == (0, 0)
    pruned = await worker.housekeep(t0 + timedelta(days=29))
    assert (pruned.alerts, pruned.deliveries) == (0, 4)
    assert await deliveries(client) == 0
    pruned = await worker.housekeep(t0 + timedelta(days=31))
    assert (pruned.alerts, pruned.deliveries) == (1, 0)
    assert (await detail(client, resolved))["alerts"] == []
    assert len((await detail(client, still_open))["alerts"]) == 1
    assert len((await detail(client, by_hand))["alerts"]) == 1
    # The incident and its timeline stay; only the alert rows go.
    assert [e["kind"] for e in (await detail(client, resolved))["timeline"]][:1] == ["opened"]


async def test_the_worker_prunes_at_most_hourly(
    app: FastAPI, client: AsyncClient, clock: FakeClock
) -> None:
    t0 = clock.now
    await fire(client, "a", t0)
    worker = worker_of(app)
    assert (await worker.run_once(t0)).pruned_deliveries == 0
    later = t0 + timedelta(days=8)
    report = await worker.run_once(later)  # more than an hour since the last prune
    assert report.pruned_deliveries == 1
    await fire(client, "b", later - timedelta(days=8))  # a delivery "received" at t0
    clock.now = later
    assert (await worker.run_once(later + timedelta(minutes=59))).pruned_deliveries == 0
    assert (await worker.run_once(later + timedelta(minutes=60))).pruned_deliveries == 1
