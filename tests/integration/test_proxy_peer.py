"""Proxy sign-in rests on the socket peer; ``X-Forwarded-For`` only ever names the client.

The real-server counterpart (uvicorn's own defaults and variable) is
``tests/e2e/test_proxy_peer.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from httpx import ASGITransport, AsyncClient

from app.http.forwarded import ForwardedMiddleware, socket_peer
from app.settings import Settings
from tests.conftest import ADMIN_TOKEN, INGEST_TOKEN, ROOT, FakeClock
from tests.integration.auth_support import client_for, write_config

pytestmark = pytest.mark.anyio

ADMIN_GROUP = {"X-Forwarded-User": "mallory", "X-Forwarded-Groups": "sre-admins"}


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/rr.db",
        webhook_tokens=INGEST_TOKEN,
        admin_token=ADMIN_TOKEN,
        catalog_dir=ROOT / "runbook_templates",
        data_dir=tmp_path / "data",
        forwarded_allow_ips="127.0.0.1",  # loopback's X-Forwarded-For names the client
    )


@pytest.mark.parametrize("claimed", ["10.1.2.3", "198.51.100.1, 10.1.2.3"])
async def test_forwarded_for_naming_a_trusted_proxy_signs_nobody_in(
    sqlite_settings: Settings, clock: FakeClock, tmp_path: Path, claimed: str
) -> None:
    config = write_config(tmp_path, proxy={"trusted": ["10.0.0.0/8"]})
    async with client_for(sqlite_settings, clock, config=config) as (_, client):
        headers = {**ADMIN_GROUP, "X-Forwarded-For": claimed}
        assert (await client.get("/api/v1/me", headers=headers)).status_code == 401
        assert (await client.get("/api/v1/deliveries", headers=headers)).status_code == 401
        assert (await client.get("/login", headers=headers)).status_code == 200  # the form


async def test_a_trusted_proxy_peer_is_believed(
    sqlite_settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    config = write_config(tmp_path, proxy={"trusted": ["10.0.0.0/8"]})
    async with client_for(sqlite_settings, clock, config=config, peer="10.1.2.3") as (_, client):
        me = await client.get("/api/v1/me", headers=ADMIN_GROUP)
    assert me.status_code == 200, me.text
    assert (me.json()["name"], me.json()["role"]) == ("mallory", "admin")


def echo_app() -> FastAPI:
    app = FastAPI()

    @app.get("/")
    def who(request: Request) -> dict[str, str | None]:
        return {
            "client": request.client.host if request.client else None,
            "peer": socket_peer(request),
        }

    return app


@pytest.mark.parametrize(
    ("trusted", "client"),
    [("", "127.0.0.1"), ("127.0.0.1", "10.1.2.3"), ("10.0.0.0/8, 127.0.0.1", "10.1.2.3")],
)
async def test_forwarded_allow_ips_names_the_client_but_never_the_peer(
    trusted: str, client: str
) -> None:
    app = ForwardedMiddleware(echo_app(), trusted=trusted)
    transport = ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with AsyncClient(transport=transport, base_url="http://test") as http:
        answer = await http.get("/", headers={"X-Forwarded-For": "10.1.2.3"})
    assert answer.json() == {"client": client, "peer": "127.0.0.1"}
