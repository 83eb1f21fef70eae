"""Sessions are re-checked on every request and last ``auth.session_hours``, whatever opened them.

A session opened by the trusted proxy ends when the proxy is turned off, when it is used from
an address that is not the proxy, and when the proxy now names another user; its role follows
the groups the proxy sends today. The cookie's ``Max-Age`` and the signature's age limit are
``auth.session_hours``.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import itsdangerous
import pytest
from httpx import AsyncClient

from app.auth.principals import Role
from app.auth.sessions import session_secret
from app.settings import Settings
from tests.conftest import ADMIN_TOKEN, FakeClock
from tests.integration.auth_support import (
    PROXY_ALICE,
    client_for,
    issue_token,
    sign_in,
    write_config,
)

pytestmark = pytest.mark.anyio

TRUSTED = {"trusted": ["127.0.0.1/32"]}


async def proxy_session(client: AsyncClient) -> str:
    """Sign in through the proxy (GET /login); the session cookie it set."""
    login = await client.get("/login?next=/kpis", headers=PROXY_ALICE)
    assert login.status_code == 303, login.text
    me = (await client.get("/api/v1/me")).json()
    assert (me["name"], me["auth"]) == ("alice", "session")
    return str(client.cookies["rr_session"])


def use_cookie(client: AsyncClient, cookie: str) -> None:
    client.cookies.clear()
    client.cookies.set("rr_session", cookie, domain="test.local")


async def me_with(client: AsyncClient, cookie: str, **headers: str) -> int:
    use_cookie(client, cookie)
    return (await client.get("/api/v1/me", headers=headers)).status_code


async def test_proxy_session_ends_when_the_proxy_is_turned_off(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    async with client_for(settings, clock, config=write_config(tmp_path, proxy=TRUSTED)) as (
        _,
        client,
    ):
        cookie = await proxy_session(client)
    off = write_config(tmp_path, proxy={**TRUSTED, "enabled": False})
    async with client_for(settings, clock, config=off) as (_, client):
        assert await me_with(client, cookie) == 401
        assert "rr_session" not in client.cookies  # cleared by the server


async def test_proxy_session_is_not_valid_from_another_address(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    config = write_config(tmp_path, proxy=TRUSTED)
    async with client_for(settings, clock, config=config) as (_, client):
        cookie = await proxy_session(client)
        assert await me_with(client, cookie) == 200  # the cookie alone, through the proxy
    async with client_for(settings, clock, config=config, peer="192.0.2.7") as (_, client):
        assert await me_with(client, cookie) == 401


async def test_proxy_session_follows_the_user_and_groups_the_proxy_sends(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    config = write_config(tmp_path, proxy=TRUSTED)
    async with client_for(settings, clock, config=config) as (_, client):
        cookie = await proxy_session(client)
        demoted = {**PROXY_ALICE, "X-Forwarded-Groups": "sre-readers"}
        use_cookie(client, cookie)
        me = (await client.get("/api/v1/me", headers=demoted)).json()
        assert (me["name"], me["role"], me["auth"]) == ("alice", "viewer", "session")
        bob = {"X-Forwarded-User": "bob", "X-Forwarded-Groups": "sre-readers"}
        use_cookie(client, cookie)
        now = (await client.get("/api/v1/me", headers=bob)).json()
        assert (now["name"], now["auth"]) == ("bob", "proxy")
        assert (await client.get("/api/v1/me")).status_code == 401  # alice's session ended
        unmapped = {"X-Forwarded-User": "alice", "X-Forwarded-Groups": "nobody"}
        assert await me_with(client, cookie, **unmapped) == 401


async def test_cookie_max_age_is_the_configured_session_hours(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    config = write_config(tmp_path, session_hours=2)
    async with client_for(settings, clock, config=config) as (app, client):
        signed = await sign_in(client, issue_token(app, clock, "vera", Role.VIEWER))
    attributes = [part.strip().lower() for part in signed.headers["set-cookie"].split(";")]
    assert "max-age=7200" in attributes


class SignedAt(itsdangerous.TimestampSigner):
    """A signer whose clock is set back: a cookie as if it had been signed ``ago`` seconds ago."""

    ago = 0

    def get_timestamp(self) -> int:
        return int(time.time()) - self.ago


def resigned(cookie: str, *, ago_seconds: int) -> str:
    """The same session data, signed with the server's secret ``ago_seconds`` in the past."""
    data = json.loads(base64.b64decode(cookie.split(".")[0]))
    signer = SignedAt(session_secret("", ADMIN_TOKEN))
    signer.ago = ago_seconds
    return signer.sign(base64.b64encode(json.dumps(data).encode())).decode()


@pytest.mark.parametrize(("ago_hours", "status"), [(1, 200), (3, 401)])
async def test_session_older_than_session_hours_is_refused(
    settings: Settings, clock: FakeClock, tmp_path: Path, ago_hours: int, status: int
) -> None:
    config = write_config(tmp_path, session_hours=2)
    async with client_for(settings, clock, config=config) as (app, client):
        await sign_in(client, issue_token(app, clock, "vera", Role.VIEWER))
        cookie = resigned(client.cookies["rr_session"], ago_seconds=ago_hours * 3600)
        assert await me_with(client, cookie) == status


async def test_a_session_of_an_unknown_source_is_refused(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    async with client_for(settings, clock) as (app, client):
        await sign_in(client, issue_token(app, clock, "vera", Role.VIEWER))
        data: dict[str, Any] = json.loads(
            base64.b64decode(client.cookies["rr_session"].split(".")[0])
        )
        data["who"]["source"] = "made-up"
        signer = itsdangerous.TimestampSigner(session_secret("", ADMIN_TOKEN))
        forged = signer.sign(base64.b64encode(json.dumps(data).encode())).decode()
        assert await me_with(client, forged) == 401
