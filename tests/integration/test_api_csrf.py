"""Cookie-authenticated JSON API writes need the session's CSRF token in ``X-CSRF-Token``.

A page on another site can make the browser send the session cookie with a form-encoded
POST; without the header such a write is refused (403) and changes nothing. Bearer tokens
are never sent by a browser on its own, so calls with one need no header. A user signed in
by the trusted proxy is in the same position as a cookie (the proxy adds its headers to any
request the browser makes), so the header is needed there too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from app.auth.principals import Role
from app.settings import Settings
from tests.conftest import FakeClock, admin_headers
from tests.factories import by_people
from tests.integration.auth_support import (
    PROXY_ALICE,
    client_for,
    issue_token,
    open_incident,
    sign_in,
    write_config,
)

pytestmark = pytest.mark.anyio

ENDPOINTS = {  # name: (path after /api/v1/incidents/{id}/, JSON body, timeline kind)
    "ack": ("ack", None, "acknowledged"),
    "resolve": ("resolve", {"note": "restarted"}, "resolved"),
    "notes": ("notes", {"text": "looking"}, "note"),
    "steps": ("steps/confirm-scope", None, "step_done"),
}
FORGED = {  # how a write without the right header is sent
    "cross-site-form": {"data": {"note": "x", "text": "x"}, "headers": {"Origin": "https://evil"}},
    "json-without-header": {},
    "json-with-a-wrong-header": {"headers": {"X-CSRF-Token": "forged-value"}},
}


async def detail(client: AsyncClient, incident_id: int) -> dict[str, Any]:
    answer = await client.get(f"/api/v1/incidents/{incident_id}", headers=admin_headers())
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


async def post(client: AsyncClient, incident: int, endpoint: str, **kwargs: Any) -> Response:
    path, body = ENDPOINTS[endpoint][:2]
    if "data" not in kwargs and body is not None:
        kwargs["json"] = body
    return await client.post(f"/api/v1/incidents/{incident}/{path}", **kwargs)


def assert_refused(answer: Response) -> None:
    assert answer.status_code == 403, answer.text
    error = answer.json()["error"]
    assert error["code"] == "csrf_failed"
    assert "X-CSRF-Token" in error["hint"]


async def signed_in_responder(app: FastAPI, client: AsyncClient, clock: FakeClock) -> int:
    await sign_in(client, issue_token(app, clock, "pat", Role.RESPONDER, "platform"))
    return await open_incident(client, clock)


@pytest.mark.parametrize("forged", FORGED)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_cookie_write_without_the_csrf_header_changes_nothing(
    app: FastAPI, client: AsyncClient, clock: FakeClock, endpoint: str, forged: str
) -> None:
    incident = await signed_in_responder(app, client, clock)
    before = await detail(client, incident)
    assert_refused(await post(client, incident, endpoint, **FORGED[forged]))
    assert by_people(await detail(client, incident)) == by_people(before)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_cookie_write_with_the_csrf_header_acts(
    app: FastAPI, client: AsyncClient, clock: FakeClock, endpoint: str
) -> None:
    incident = await signed_in_responder(app, client, clock)
    me = (await client.get("/api/v1/me")).json()  # the cookie alone: a same-site read
    assert me["auth"] == "session"
    answer = await post(client, incident, endpoint, headers={"X-CSRF-Token": me["csrf_token"]})
    assert answer.status_code == 200, answer.text
    assert ENDPOINTS[endpoint][2] in [e["kind"] for e in answer.json()["timeline"]]


async def test_postmortem_edits_by_cookie_need_the_header_too(
    app: FastAPI, client: AsyncClient, clock: FakeClock
) -> None:
    await signed_in_responder(app, client, clock)
    for method, path in (("PATCH", "postmortems/1"), ("POST", "postmortems/1/action-items")):
        answer = await client.request(method, f"/api/v1/{path}", json={})
        assert_refused(answer)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_bearer_writes_need_no_csrf_header(
    app: FastAPI, client: AsyncClient, clock: FakeClock, endpoint: str
) -> None:
    bearer = {
        "Authorization": f"Bearer {issue_token(app, clock, 'pat', Role.RESPONDER, 'platform')}"
    }
    incident = await open_incident(client, clock)
    answer = await post(client, incident, endpoint, headers=bearer)
    assert answer.status_code == 200, answer.text
    assert "csrf_token" not in (await client.get("/api/v1/me", headers=bearer)).json()


async def test_proxy_user_writes_need_the_header(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    config = write_config(tmp_path, proxy={"trusted": ["127.0.0.1/32"]})
    async with client_for(settings, clock, config=config) as (_, client):
        incident = await open_incident(client, clock)
        assert_refused(await post(client, incident, "ack", headers=PROXY_ALICE))
        me = (await client.get("/api/v1/me", headers=PROXY_ALICE)).json()
        assert me["auth"] == "proxy"
        headers = {**PROXY_ALICE, "X-CSRF-Token": me["csrf_token"]}
        answer = await post(client, incident, "ack", headers=headers)
        assert answer.status_code == 200, answer.text
