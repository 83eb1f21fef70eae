"""A NUL character in any user-supplied text is a 422 naming the parameter or field.

PostgreSQL cannot store (or even compare with) a NUL, SQLite can: without one check for
every route, the same request answered 200 on SQLite and a 503 "transient" on PostgreSQL, and
a note holding a NUL was stored on SQLite and later stopped the post-mortem draft. Query
parameters (``%00``), JSON bodies (``\\u0000``) and form fields (``%00``) are all covered,
on both databases.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from tests.conftest import FakeClock, admin_headers
from tests.integration.test_postmortem_roles import World, make_world
from tests.integration.test_roles import CSRF, HTML, sign_in

pytestmark = pytest.mark.anyio

QUERY_CASES = [
    pytest.param("/api/v1/incidents?class=%00", "class", id="incidents-class"),
    pytest.param("/api/v1/incidents?team=a%00", "team", id="incidents-team"),
    pytest.param("/api/v1/incidents?status=open%00", "status", id="incidents-status"),
    pytest.param("/api/v1/incidents?since=%00", "since", id="incidents-since"),
    pytest.param("/api/v1/postmortems?class=%00", "class", id="postmortems-class"),
    pytest.param("/api/v1/action-items?owner=%00", "owner", id="items-owner"),
    pytest.param("/api/v1/action-items?class=%00", "class", id="items-class"),
    pytest.param("/api/v1/runbooks/generic?service=a%00b", "service", id="runbook-label"),
    pytest.param("/api/v1/runbooks/generic?a%00=b", "a%00", id="runbook-label-name"),
    pytest.param("/api/v1/runbooks/gen%00eric", "runbook_class", id="runbook-path"),
]
PAGE_CASES = [
    pytest.param("/?class=%00", "class", id="board-class"),
    pytest.param("/?team=%00", "team", id="board-team"),
    pytest.param("/postmortems?class=%00", "class", id="postmortems-class"),
    pytest.param("/runbooks/generic?service=%00", "service", id="runbook-label"),
]


def assert_refused(answer: Response, name: str) -> None:
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_payload"
    assert (
        f"'{name}': holds a NUL" in error["message"] or f"'{name}': has a name" in error["message"]
    )
    assert error["hint"]


def assert_refused_page(answer: Response, name: str) -> None:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert "<h1>Invalid request</h1>" in answer.text
    assert f"&#39;{name}&#39;: holds a NUL character" in answer.text


@pytest.mark.parametrize(("path", "name"), QUERY_CASES)
async def test_a_nul_in_an_api_parameter_is_422_naming_it(
    client: AsyncClient, path: str, name: str
) -> None:
    answer = await client.get(path, headers=admin_headers())
    assert_refused(answer, name)


@pytest.mark.parametrize(("path", "name"), PAGE_CASES)
async def test_a_nul_in_a_page_parameter_is_a_readable_422_page(
    client: AsyncClient, path: str, name: str
) -> None:
    answer = await client.get(path, headers={**admin_headers(), **HTML})
    assert_refused_page(answer, name)


@pytest.fixture
async def world(app: FastAPI, client: AsyncClient, clock: FakeClock) -> World:
    return await make_world(app, client, clock)


def json_cases(world: World) -> list[tuple[str, str, dict[str, Any], str]]:
    pm, item, incident = world.workflow.postmortem, world.workflow.item, world.workflow.incident
    return [
        ("POST", f"/api/v1/incidents/{incident}/notes", {"text": "x\x00"}, "text"),
        ("POST", f"/api/v1/incidents/{incident}/resolve", {"note": "x\x00"}, "note"),
        ("PATCH", f"/api/v1/postmortems/{pm}", {"title": "t\x00"}, "title"),
        ("PATCH", f"/api/v1/postmortems/{pm}", {"body": "# b\x00"}, "body"),
        (
            "POST",
            f"/api/v1/postmortems/{pm}/action-items",
            {"title": "a\x00", "owner": "o"},
            "title",
        ),
        (
            "POST",
            f"/api/v1/postmortems/{pm}/action-items",
            {"title": "a", "owner": "\x00"},
            "owner",
        ),
        ("PATCH", f"/api/v1/action-items/{item}", {"title": "\x00"}, "title"),
    ]


async def test_a_nul_in_a_json_field_is_422_naming_it_and_nothing_changes(
    client: AsyncClient, world: World
) -> None:
    before = (
        await client.get(
            f"/api/v1/postmortems/{world.workflow.postmortem}", headers=admin_headers()
        )
    ).json()
    for method, path, body, name in json_cases(world):
        answer = await client.request(method, path, json=body, headers=admin_headers())
        assert_refused(answer, name)
    after = (
        await client.get(
            f"/api/v1/postmortems/{world.workflow.postmortem}", headers=admin_headers()
        )
    ).json()
    assert after == before
    incident = await client.get(
        f"/api/v1/incidents/{world.workflow.incident}", headers=admin_headers()
    )
    assert "\\u0000" not in incident.text


async def test_a_nul_in_a_form_field_is_a_readable_422_page(
    client: AsyncClient, app: FastAPI, clock: FakeClock, world: World
) -> None:
    await sign_in(client, world.tokens["ada-admin"])
    page = await client.get(f"/postmortems/{world.workflow.postmortem}", headers=HTML)
    found = CSRF.search(page.text)
    assert found, page.text
    csrf = found.group(1)
    incident, pm = world.workflow.incident, world.workflow.postmortem
    forms = [
        (f"/incidents/{incident}/notes", {"text": "web\x00note"}, "text"),
        (f"/incidents/{incident}/resolve", {"note": "res\x00olve"}, "note"),
        (f"/postmortems/{pm}/edit", {"title": "t\x00", "body": "b"}, "title"),
        (
            f"/postmortems/{pm}/action-items",
            {"title": "a", "owner": "o\x00", "due_date": "2026-12-09"},
            "owner",
        ),
    ]
    for path, fields, name in forms:
        answer = await client.post(path, data={"csrf_token": csrf, **fields}, headers=HTML)
        assert_refused_page(answer, name)
    # the form body was read for the check; a clean form is still parsed and applied after it
    answer = await client.post(
        f"/incidents/{incident}/notes", data={"csrf_token": csrf, "text": "clean"}, headers=HTML
    )
    assert answer.status_code == 303, answer.text
    shown = await client.get(f"/api/v1/incidents/{incident}", headers=admin_headers())
    assert "clean" in shown.text
