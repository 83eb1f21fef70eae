"""Fixtures shared by every test layer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from prometheus_client import CollectorRegistry

from app.main import create_app
from app.migrate import migrate
from app.settings import Settings
from harness import server as harness_server
from harness.postgres import Cluster
from tests.postgres import cluster_or_reason
from tests.services import REQUIRED

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
INGEST_TOKEN = "ingest-token-for-tests"
ADMIN_TOKEN = "admin-token-for-tests"
WEBHOOK = "/api/v1/webhooks/alertmanager"


def server_env(database_url: str, data_dir: Path, **overrides: str) -> dict[str, str]:
    """Environment for a real ``runbook-router serve`` process in an end-to-end test."""
    return harness_server.server_env(
        database_url, data_dir, ingest_token=INGEST_TOKEN, admin_token=ADMIN_TOKEN, **overrides
    )


@contextmanager
def configured_server(tmp: Path, config: str, **env: str) -> Iterator[harness_server.ServerProcess]:
    """A real ``serve`` on SQLite in ``tmp`` with ``config`` (YAML text) as its configuration."""
    path = tmp / "runbook-router.yaml"
    path.write_text(config)
    overrides = {"RUNBOOK_ROUTER_CONFIG": str(path), "PYTHONPATH": str(ROOT), **env}
    process = harness_server.ServerProcess(
        server_env(f"sqlite:///{tmp}/rr.db", tmp / "data", **overrides),
        tmp / "runbook-router.log",
    )
    try:
        yield process.start()
    finally:
        process.stop()


def load_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


class FakeClock:
    """An injected clock that tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 28, 11, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster | str]:
    """One private PostgreSQL cluster for the session (or why there is none)."""
    yield from cluster_or_reason()


def postgres_database(pg_cluster: Cluster | str) -> str:
    """A fresh database URL; skips (fails under REQUIRE_REAL_SERVICES=1) without a server."""
    if isinstance(pg_cluster, str):
        if REQUIRED:
            pytest.fail(f"{pg_cluster} [REQUIRE_REAL_SERVICES=1]")
        pytest.skip(pg_cluster)
    return pg_cluster.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Database-facing tests run on a real SQLite file and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/rr.db"
    return postgres_database(request.getfixturevalue("pg_cluster"))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        webhook_tokens=INGEST_TOKEN,
        admin_token=ADMIN_TOKEN,
        catalog_dir=ROOT / "runbook_templates",
        config=ROOT / "config" / "runbook-router.yaml",
        data_dir=tmp_path / "data",
        log_format="console",
    )


@pytest.fixture
def app(settings: Settings, clock: FakeClock) -> FastAPI:
    migrate(settings.database_url)
    return create_app(settings, registry=CollectorRegistry(), clock=clock)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c,
    ):
        yield c


def ingest_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {INGEST_TOKEN}"}


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
