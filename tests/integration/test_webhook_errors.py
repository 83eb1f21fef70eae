"""Bad input gets a clear 4xx naming the problem; storage faults get 503; nothing leaks."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import make_url

from app.settings import Settings
from tests.conftest import WEBHOOK, FakeClock, admin_headers, ingest_headers, load_fixture
from tests.factories import alert, payload

pytestmark = pytest.mark.anyio

GOOD = load_fixture("firing.json")


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


def alert_with(**changes: Any) -> dict[str, Any]:
    return {**GOOD, "alerts": [{**GOOD["alerts"][0], **changes}]}


BAD_INPUTS = [
    pytest.param(b"{not json", 422, "not valid JSON", id="not-json"),
    pytest.param(b"[]", 422, "must be a JSON object", id="array"),
    pytest.param(without("version"), 422, "field 'version'", id="no-version"),
    pytest.param({**GOOD, "version": "3"}, 422, "field 'version'", id="old-version"),
    pytest.param(without("groupKey"), 422, "field 'groupKey'", id="no-group-key"),
    pytest.param({**GOOD, "alerts": "x"}, 422, "field 'alerts'", id="alerts-not-list"),
    pytest.param(alert_with(status="pending"), 422, "field 'alerts.0.status'", id="bad-status"),
    pytest.param(alert_with(startsAt="yesterday"), 422, "field 'alerts.0.startsAt'", id="bad-time"),
    pytest.param(alert_with(startsAt="2026-11-28T11:06:01"), 422, "time zone", id="naive-time"),
    pytest.param(
        alert_with(fingerprint=""), 422, "field 'alerts.0.fingerprint'", id="empty-fingerprint"
    ),
    pytest.param(alert_with(labels={"a": 1}), 422, "field 'alerts.0.labels.a'", id="label-int"),
    pytest.param(alert_with(labels={"a": "x" * 20000}), 422, "bytes of UTF-8", id="huge-label"),
    pytest.param(
        alert_with(labels={"alertname": "X", "fire": "\N{FIRE}" * 10_000}),
        422,
        "field 'alerts.0.labels': Value error, label 'fire' takes 40004 bytes",
        id="emoji-label-counted-in-bytes",
    ),
    pytest.param(
        alert_with(annotations={f"a{i}": "d" * 10_000 for i in range(7)}),
        422,
        "field 'alerts.0': its labels and annotations take",
        id="alert-over-64KiB",
    ),
    pytest.param(
        alert_with(startsAt="9999-12-31T23:59:59Z"), 422, "'alerts.0.startsAt'", id="year-9999"
    ),
    pytest.param(
        alert_with(startsAt="9999-12-31T23:00:00-05:00"),
        422,
        "'alerts.0.startsAt'",
        id="year-9999-west-of-utc",
    ),
    pytest.param(
        alert_with(startsAt="0001-01-01T00:00:00Z"), 422, "'alerts.0.startsAt'", id="zero-start"
    ),
    pytest.param(
        alert_with(status="resolved", endsAt="2026-11-28T10:00:00Z"),
        422,
        "'alerts.0.endsAt': 2026-11-28T10:00:00+00:00 is before startsAt",
        id="ends-before-start",
    ),
    pytest.param(
        alert_with(status="resolved", endsAt="4000-01-01T00:00:00Z"),
        422,
        "'alerts.0.endsAt'",
        id="ends-far-future",
    ),
    pytest.param(
        {**GOOD, "groupKey": '{}:{alertname="\x00"}'}, 422, "'groupKey'", id="nul-group-key"
    ),
    pytest.param(
        alert_with(annotations={"summary": "\x00"}),
        422,
        "'alerts.0.annotations.summary': holds a NUL",
        id="nul-summary",
    ),
    pytest.param(
        alert_with(labels={"alertname": "W\x00", "severity": "critical"}),
        422,
        "'alerts.0.labels.alertname'",
        id="nul-alertname",
    ),
    pytest.param(
        alert_with(labels={"alertname": "X", "severity\x00": "critical"}),
        422,
        "'alerts.0.labels': has a name that holds a NUL",
        id="nul-label-name",
    ),
    pytest.param(alert_with(fingerprint="f\x00"), 422, "'alerts.0.fingerprint'", id="nul-fp"),
    pytest.param(
        alert_with(generatorURL="http://x/\x00"), 422, "'alerts.0.generatorURL'", id="nul-url"
    ),
    pytest.param(
        alert_with(labels={"alertname": "X", "a\nb": "c"}),
        422,
        "control character",
        id="newline-in-label-name",
    ),
    pytest.param(
        {**GOOD, "truncatedAlerts": -1}, 422, "field 'truncatedAlerts'", id="negative-truncated"
    ),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_INPUTS)
async def test_bad_input_is_a_clear_4xx(
    client: AsyncClient, body: bytes | dict[str, Any], status: int, message: str
) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await client.post(WEBHOOK, content=raw, headers=ingest_headers())
    assert response.status_code == status
    error = response.json()["error"]
    assert message in error["message"]
    assert error["hint"]
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param({"Authorization": "Bearer wrong"}, id="wrong-bearer"),
        pytest.param({"Authorization": "Basic !!!"}, id="garbage-basic"),
        pytest.param({"Authorization": "Token ingest-token-for-tests"}, id="wrong-scheme"),
    ],
)
async def test_missing_or_wrong_token_is_401(client: AsyncClient, headers: dict[str, str]) -> None:
    response = await client.post(WEBHOOK, json=GOOD, headers=headers)
    assert response.status_code == 401
    assert "RUNBOOK_ROUTER_WEBHOOK_TOKENS" in response.json()["error"]["hint"]
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_non_ascii_basic_header_is_401_on_every_route(client: AsyncClient) -> None:
    headers = {b"Authorization": b"Basic \xff\xfe"}  # base64 would raise ValueError on it
    for path in ("/api/v1/me", "/api/v1/incidents"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 401, (path, response.text)
    response = await client.post(WEBHOOK, json=GOOD, headers=headers)
    assert response.status_code == 401, response.text


async def test_body_over_the_limit_is_413(client: AsyncClient, settings: Settings) -> None:
    big = b" " * (settings.max_body_bytes + 1)
    response = await client.post(WEBHOOK, content=big, headers=ingest_headers())
    assert response.status_code == 413
    assert str(settings.max_body_bytes) in response.json()["error"]["message"]


async def test_too_many_alerts_is_422(
    client: AsyncClient, clock: FakeClock, settings: Settings
) -> None:
    many = [alert(f"f{i}", starts_at=clock.now) for i in range(settings.max_alerts_per_payload + 1)]
    response = await client.post(WEBHOOK, json=payload(*many), headers=ingest_headers())
    assert response.status_code == 422
    assert "exceed the limit" in response.json()["error"]["message"]


@contextmanager
def outage(database_url: str, tmp_path: Path) -> Iterator[None]:
    """Make the real database refuse every new connection, then bring it back."""
    if database_url.startswith("sqlite"):
        db_file = Path(database_url.removeprefix("sqlite:///"))
        moved = tmp_path / "moved.db"
        db_file.rename(moved)
        db_file.mkdir()  # a folder where the database file was: connections fail
        yield
        db_file.rmdir()
        moved.rename(db_file)
        return
    url = make_url(database_url)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)
    name = url.database
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        yield
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


async def test_database_unavailable_is_503_and_recovers(
    client: AsyncClient, app: FastAPI, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    engine = app.state.services.db.engine
    body = payload(alert("down", starts_at=clock.now))
    engine.dispose()
    with outage(settings.database_url, tmp_path):
        response = await client.post(WEBHOOK, json=body, headers=ingest_headers())
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "storage_unavailable"
        assert (await client.get("/readyz")).status_code == 503
    engine.dispose()
    retried = await client.post(WEBHOOK, json=body, headers=ingest_headers())
    assert (retried.status_code, retried.json()["new"]) == (200, 1)
    assert (await client.get("/readyz")).status_code == 200


async def test_outcomes_are_counted_and_logged_once(
    client: AsyncClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = payload(alert("c", starts_at=clock.now))
    await client.post(WEBHOOK, json=body, headers=ingest_headers())
    await client.post(WEBHOOK, json=body, headers=ingest_headers())
    await client.post(WEBHOOK, json=body)
    await client.post(WEBHOOK, content=b"x", headers=ingest_headers())
    text = (await client.get("/metrics")).text
    for outcome, count in (
        ("accepted", 1),
        ("duplicate", 1),
        ("unauthorized", 1),
        ("invalid", 1),
        ("error", 0),
    ):
        assert f'runbook_webhook_requests_total{{outcome="{outcome}"}} {count}.0' in text
    webhook_lines = [r for r in caplog.records if r.getMessage().startswith("webhook ")]
    assert [r.getMessage() for r in webhook_lines] == [
        "webhook accepted",
        "webhook duplicate",
        "webhook unauthorized",
        "webhook invalid",
    ]
    decisions = [r for r in caplog.records if r.getMessage() == "alert classified"]
    assert len(decisions) == 1
    assert decisions[0].__dict__["matcher"] == '{alertname="Workflow500"}'
    assert all("ingest-token-for-tests" not in r.getMessage() for r in caplog.records)


async def test_a_refused_payload_is_in_the_delivery_log_and_the_next_one_is_stored(
    client: AsyncClient, app: FastAPI, clock: FakeClock
) -> None:
    """A NUL once wedged PostgreSQL (503 forever) and the delivery log (retried every second)."""
    bad = payload(alert("nul", starts_at=clock.now), group_key="g\x00k")
    refused = await client.post(WEBHOOK, json=bad, headers=ingest_headers())
    assert refused.status_code == 422
    good = await client.post(
        WEBHOOK, json=payload(alert("fine", starts_at=clock.now)), headers=ingest_headers()
    )
    assert (good.status_code, good.json()["new"]) == (200, 1)
    log = await client.get("/api/v1/deliveries", headers=admin_headers())
    rows = log.json()["items"]
    assert [(r["http_status"], r["outcome"]) for r in rows] == [(200, "accepted"), (422, "invalid")]
    assert "groupKey" in rows[1]["error"]
    assert app.state.services.deliveries.flush() == 0  # nothing left behind


async def test_a_firing_alert_with_a_future_end_is_stored_and_only_a_resolved_end_counts(
    client: AsyncClient, clock: FakeClock
) -> None:
    """Alertmanager's endsAt of a firing alert is its guess (now + resolve_timeout)."""
    start = clock.now
    firing = alert("guess", starts_at=start)
    firing["endsAt"] = "2026-11-28T11:05:00Z"  # in the future, while firing
    first = await client.post(WEBHOOK, json=payload(firing), headers=ingest_headers())
    assert first.status_code == 200
    [incident_id] = first.json()["incidents"]
    clock.advance(minutes=2)
    resolved = alert("guess", starts_at=start, ends_at=start + timedelta(minutes=1))
    second = await client.post(WEBHOOK, json=payload(resolved), headers=ingest_headers())
    assert second.status_code == 200
    incident = (
        await client.get(f"/api/v1/incidents/{incident_id}", headers=admin_headers())
    ).json()
    assert incident["status"] == "resolved"
    assert incident["resolved_at"].startswith("2026-11-28T11:01:00")
    metrics = (await client.get("/metrics")).text
    assert 'runbook_incident_resolution_seconds_sum{class="workflow-500"} 60.0' in metrics
