"""Retention run by the worker: old alerts of resolved incidents (and the timeline rows that
list them), the delivery log, and done notifications of resolved incidents."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from app.config import load_config
from app.errors import ConfigError
from tests.conftest import ROOT, WEBHOOK, FakeClock, admin_headers, ingest_headers
from tests.factories import alert, payload
from tests.integration.escalation.support import (
    detail,
    end,
    fire,
    notifications,
    run,
    worker_of,
)

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


class TestNotificationsAndAlertEvents:
    """Issue 11, item 17: outbox rows (with their attempts) and the timeline rows that list
    pruned alerts go too, after their own configured periods."""

    @pytest.fixture
    def rr_config(self, rr_config: dict[str, Any]) -> dict[str, Any]:
        retention = {"alerts": "30d", "deliveries": "7d", "notifications": "14d"}
        return rr_config | {"retention": retention}

    async def test_done_notifications_and_alert_rows_of_resolved_incidents_go(
        self, app: FastAPI, client: AsyncClient, clock: FakeClock
    ) -> None:
        t0 = clock.now
        resolved = await fire(client, "old", t0)
        await join(client, "old", "old-2", t0)  # an alerts_added row
        still_open = await fire(client, "open", t0)
        await join(client, "open", "open-2", t0)
        await run(app, t0)
        ended = t0 + timedelta(minutes=5)
        body = payload(
            alert("old", starts_at=t0, ends_at=ended),
            alert("old-2", starts_at=t0, ends_at=ended),
            group_key="{}:old",
        )
        assert (await client.post(WEBHOOK, json=body, headers=ingest_headers())).status_code == 200
        await run(app, t0 + timedelta(minutes=6))
        kept_open = await notifications(client, still_open)
        assert len(await notifications(client, resolved)) == 2  # open (level 1), resolve
        assert len(kept_open) == 1
        worker = worker_of(app)

        pruned = await worker.housekeep(t0 + timedelta(days=13))
        assert (pruned.notifications, pruned.alert_events) == (0, 0)
        pruned = await worker.housekeep(t0 + timedelta(days=15))
        assert (pruned.notifications, pruned.alert_events, pruned.alerts) == (2, 0, 0)
        assert await notifications(client, resolved) == []
        assert await notifications(client, still_open) == kept_open

        pruned = await worker.housekeep(t0 + timedelta(days=31))
        assert (pruned.alerts, pruned.alert_events) == (2, 1)
        kinds = [e["kind"] for e in (await detail(client, resolved))["timeline"]]
        assert "alerts_added" not in kinds
        assert {"opened", "escalated", "resolved"} <= set(kinds)
        open_kinds = [e["kind"] for e in (await detail(client, still_open))["timeline"]]
        assert "alerts_added" in open_kinds


async def join(client: AsyncClient, group: str, fingerprint: str, at: datetime) -> None:
    """Post a second firing alert into the group of ``fire(client, group, ...)``."""
    body = payload(alert(fingerprint, starts_at=at), group_key=f"{{}}:{group}")
    response = await client.post(WEBHOOK, json=body, headers=ingest_headers())
    assert response.status_code == 200, response.text


def test_retention_periods_are_configurable_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "rr.yaml"
    path.write_text("retention: {notifications: 45d}\n")
    retention = load_config(path).retention
    assert (retention.alerts, retention.deliveries, retention.notifications) == (
        timedelta(days=400),
        timedelta(days=30),
        timedelta(days=45),
    )
    shipped = load_config(ROOT / "config" / "runbook-router.yaml").retention
    assert shipped.notifications == timedelta(days=90)
    path.write_text("retention: {notifications: 10m}\n")
    with pytest.raises(ConfigError, match=r"retention\.notifications must be at least 1h"):
        load_config(path)
