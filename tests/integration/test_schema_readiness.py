"""A database the server cannot write to for good is unready, and the webhook says why.

The schema missing or behind (readiness: "schema at revision X, expected Y"; the webhook's 503
names ``runbook-router migrate``), and the SQLite file deleted or replaced under the running
server (SQLite would otherwise keep writing into the unlinked file: 200 for alerts that go
nowhere).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, text

from app.main import create_app
from app.migrate import migrate
from app.schema import _scripts, expected_revision
from app.settings import Settings
from tests.conftest import WEBHOOK, FakeClock, ingest_headers, load_fixture

pytestmark = pytest.mark.anyio

GOOD = load_fixture("firing.json")


async def started(settings: Settings, clock: FakeClock) -> AsyncIterator[AsyncClient]:
    """The app as ``serve`` runs it, on whatever schema the database has (no migrate here)."""
    app = create_app(settings, registry=CollectorRegistry(), clock=clock)
    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c,
    ):
        yield c


@pytest.fixture
async def unmigrated(settings: Settings, clock: FakeClock) -> AsyncIterator[AsyncClient]:
    async for c in started(settings, clock):
        yield c


def previous_revision() -> str:
    down = _scripts().get_revision(expected_revision()).down_revision
    assert isinstance(down, str)
    return down


async def readyz(client: AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await client.get("/readyz")
    return response.status_code, response.json()


async def post_alerts(client: AsyncClient, **changes: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post(WEBHOOK, json={**GOOD, **changes}, headers=ingest_headers())
    return response.status_code, response.json()


async def test_unmigrated_database_is_unready_and_the_webhook_names_migrate(
    unmigrated: AsyncClient,
) -> None:
    status, body = await readyz(unmigrated)
    assert status == 503, body
    expected = f"schema at revision none, expected {expected_revision()}"
    assert body["checks"]["schema"] == f"{expected}: run `runbook-router migrate`"
    assert body["status"] == "unavailable"

    status, answer = await post_alerts(unmigrated)
    assert status == 503, answer
    error = answer["error"]
    assert error["code"] == "storage_unavailable"
    assert error["message"].startswith("database schema is missing or behind ("), error
    assert expected in error["message"]
    assert error["message"].endswith("run `runbook-router migrate`"), error


async def test_schema_behind_is_unready(settings: Settings, clock: FakeClock) -> None:
    older = previous_revision()
    migrate(settings.database_url, revision=older)
    async for client in started(settings, clock):
        status, body = await readyz(client)
        assert status == 503, body
        assert body["checks"]["schema"].startswith(
            f"schema at revision {older}, expected {expected_revision()}"
        ), body


async def test_current_schema_is_ready(client: AsyncClient) -> None:
    status, body = await readyz(client)
    assert status == 200, body
    assert body["checks"]["schema"] == f"ok: revision {expected_revision()}"


async def test_a_schema_newer_than_the_code_stays_ready(
    settings: Settings, clock: FakeClock
) -> None:
    """A newer release migrated it (a rolling upgrade): the old replicas keep serving."""
    migrate(settings.database_url)
    engine = create_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'from-the-future'"))
    engine.dispose()
    async for client in started(settings, clock):
        status, body = await readyz(client)
        assert status == 200, body
        assert body["checks"]["schema"].startswith("ok: revision from-the-future, newer"), body


def sqlite_path(settings: Settings) -> Path:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("only SQLite keeps its database in a file the server opens itself")
    return Path(settings.database_url.split("///", 1)[1])


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def test_a_deleted_sqlite_file_is_unready_and_the_webhook_answers_503(
    settings: Settings, client: AsyncClient
) -> None:
    path = sqlite_path(settings)
    status, answer = await post_alerts(client)
    assert status == 200, answer
    remove_database(path)

    status, body = await readyz(client)
    assert status == 503, body
    lost = f"the database file {path.absolute()} was deleted while the server was running"
    assert body["checks"]["schema"] == lost
    # A new alert and a repeat of the first one: neither is acknowledged into nothing.
    for changes in ({"groupKey": "another group"}, {}):
        status, answer = await post_alerts(client, **changes)
        assert status == 503, answer
        assert answer["error"]["message"] == lost
        assert "restart" in answer["error"]["hint"]


async def test_a_replaced_sqlite_file_is_unready(settings: Settings, client: AsyncClient) -> None:
    path = sqlite_path(settings)
    assert (await readyz(client))[0] == 200
    remove_database(path)
    migrate(settings.database_url)  # a new, current database at the same path

    status, body = await readyz(client)
    assert status == 503, body
    assert body["checks"]["schema"] == (
        f"the database file {path.absolute()} was replaced by another file "
        "while the server was running"
    )
    status, answer = await post_alerts(client)
    assert status == 503, answer
