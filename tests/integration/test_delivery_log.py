"""The webhook delivery log keeps every request it can, and never wedges on one row.

It records even refused requests, so its text may hold anything a client sent: a NUL is
stored escaped (PostgreSQL refuses it in text; SQLite would keep it), a row the database
refuses is dropped with a log line while the others are written, and a database that is
down keeps every row for the next flush. On a real SQLite file and a real PostgreSQL server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from sqlmodel import select

from app.alerts.deliveries import DeliveryLog
from app.alerts.models import Delivery
from app.db import Database, make_engine
from app.migrate import migrate
from tests.conftest import WEBHOOK, FakeClock, admin_headers, ingest_headers
from tests.factories import alert, payload
from tests.integration.test_webhook_errors import outage

T0 = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)


def row(request_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "received_at": T0,
        "request_id": request_id,
        "user_agent": "Alertmanager/0.28.1",
        "receiver": "runbook-router",
        "group_key": '{}:{alertname="Workflow500"}',
        "status": "firing",
        "reason": "",
        "alerts": 1,
        "new": 1,
        "duplicates": 0,
        "resolved": 0,
        "truncated_alerts": 0,
        "outcome": "accepted",
        "http_status": 200,
        "error": "",
        "incident_ids": [1],
        "duration_ms": 1.5,
        **changes,
    }


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    migrate(database_url)
    database = Database(make_engine(database_url))
    yield database
    database.dispose()


def stored(db: Database) -> dict[str, Delivery]:
    with db.session() as session:
        return {d.request_id: d for d in session.exec(select(Delivery)).all()}


def test_a_nul_is_stored_escaped(db: Database) -> None:
    log = DeliveryLog(db)
    log.add(**row("nul", group_key="g\x00k", receiver="r\x00", error="bad \x00", user_agent="\x00"))
    assert log.flush() == 1
    saved = stored(db)["nul"]
    assert (saved.group_key, saved.receiver, saved.error, saved.user_agent) == (
        "g\\u0000k",
        "r\\u0000",
        "bad \\u0000",
        "\\u0000",
    )


def test_a_refused_row_is_dropped_with_a_log_line_and_the_others_are_written(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    log = DeliveryLog(db)
    for i in range(5):
        log.add(**row(f"ok-{i}"))
    log.add(**row("refused", received_at=None))  # NOT NULL: refused by both databases
    for i in range(5, 9):
        log.add(**row(f"ok-{i}"))
    with caplog.at_level(logging.WARNING):
        assert log.flush() == 9
    assert sorted(stored(db)) == [f"ok-{i}" for i in range(9)]
    dropped = [r for r in caplog.records if r.getMessage().startswith("delivery log row dropped")]
    assert [r.__dict__["dropped_request_id"] for r in dropped] == ["refused"]
    assert log.flush() == 0  # nothing left to retry


def test_rows_are_kept_while_the_database_is_down(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    log = DeliveryLog(db)
    log.add(**row("kept-1"))
    log.add(**row("kept-2"))
    db.engine.dispose()
    with outage(database_url, tmp_path):
        assert log.flush() == 0
    db.engine.dispose()
    assert log.flush() == 2
    assert sorted(stored(db)) == ["kept-1", "kept-2"]


@pytest.mark.anyio
async def test_the_api_pages_the_log_newest_first_without_an_empty_last_page(
    client: AsyncClient, clock: FakeClock
) -> None:
    for i in range(3):
        body = payload(alert(f"page-{i}", starts_at=clock.now))
        assert (await client.post(WEBHOOK, json=body, headers=ingest_headers())).status_code == 200

    async def page(**params: int) -> tuple[list[int], int | None]:
        response = await client.get("/api/v1/deliveries", params=params, headers=admin_headers())
        assert response.status_code == 200, response.text
        data = response.json()
        return [item["id"] for item in data["items"]], data["next"]

    everything, last = await page(limit=3)
    assert last is None  # exactly ``limit`` rows: there is no next page
    assert len(everything) == 3
    assert everything == sorted(everything, reverse=True)
    first, cursor = await page(limit=2)
    assert (first, cursor) == (everything[:2], everything[1])
    assert await page(limit=2, before=everything[1]) == (everything[2:], None)
