"""Who may change post-mortems and action items over the API: roles and teams.

Every mutating post-mortem endpoint is tried by every kind of caller, on both databases,
against a post-mortem of ``workflow-500`` (team platform) and one of ``generic`` (no team).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from app.auth import registry
from tests.conftest import WEBHOOK, FakeClock, admin_headers, ingest_headers
from tests.factories import alert, payload
from tests.integration.test_roles import CALLERS, services_of

pytestmark = pytest.mark.anyio

ENDPOINTS = {  # name: (method, path with {pm} / {item}, JSON body, status on success)
    "edit-postmortem": ("PATCH", "/api/v1/postmortems/{pm}", {"title": "Checkout 500s"}, 200),
    "add-action-item": (
        "POST",
        "/api/v1/postmortems/{pm}/action-items",
        {"title": "Alert on 5xx ratio", "owner": "ana", "due_date": "2026-12-05"},
        201,
    ),
    "edit-action-item": ("PATCH", "/api/v1/action-items/{item}", {"status": "done"}, 200),
}
CASES = [  # caller, post-mortem, allowed, words the error message must contain
    pytest.param(None, "workflow", 401, "not signed in", id="no-token"),
    pytest.param("vera-viewer", "workflow", 403, "responder role", id="viewer"),
    pytest.param("pat-platform", "workflow", None, "", id="responder-own-team"),
    pytest.param("dora-documents", "workflow", 403, "team 'platform'", id="responder-other-team"),
    pytest.param("dora-documents", "generic", None, "", id="responder-runbook-without-team"),
    pytest.param("ada-admin", "workflow", None, "", id="admin"),
]


@dataclass(frozen=True)
class Drafted:
    incident: int
    postmortem: int
    item: int  # an open action item added by the admin


@dataclass(frozen=True)
class World:
    tokens: dict[str, str]
    workflow: Drafted  # runbook workflow-500, team platform
    generic: Drafted  # the generic runbook, no team

    def bearer(self, name: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"} if name else {}


async def api(client: AsyncClient, method: str, url: str, status: int = 200, **kw: Any) -> Any:
    """An admin call that must answer ``status``."""
    response = await client.request(method, url, headers=admin_headers(), **kw)
    assert response.status_code == status, response.text
    return response.json()


async def drafted(
    app: FastAPI, client: AsyncClient, clock: FakeClock, alertname: str, service: str
) -> Drafted:
    """A critical incident, resolved by hand; the worker's pass drafts its post-mortem."""
    started = clock() - timedelta(minutes=3)
    body = payload(
        alert(f"fp-{alertname}", starts_at=started, alertname=alertname, service=service)
    )
    answer = await client.post(WEBHOOK, json=body, headers=ingest_headers())
    assert answer.status_code == 200, answer.text
    incident = int(answer.json()["incidents"][0])
    await api(client, "POST", f"/api/v1/incidents/{incident}/resolve", json={"note": "fixed"})
    await services_of(app).worker.run_once(clock())
    pm = await api(client, "GET", f"/api/v1/incidents/{incident}/postmortem")
    item = {"title": "Write the runbook step", "owner": "bo", "due_date": "2026-12-01"}
    added = await api(
        client, "POST", f"/api/v1/postmortems/{pm['id']}/action-items", 201, json=item
    )
    return Drafted(incident=incident, postmortem=pm["id"], item=added["id"])


async def make_world(app: FastAPI, client: AsyncClient, clock: FakeClock) -> World:
    with services_of(app).db.write_session() as session:
        tokens = {
            name: registry.issue(session, name=name, role=role, team=team, now=clock())[1]
            for name, (role, team) in CALLERS.items()
        }
    workflow = await drafted(app, client, clock, "Workflow500", "workflow-api")
    generic = await drafted(app, client, clock, "DiskAlmostFull", "node-3")
    for one, runbook_class in ((workflow, "workflow-500"), (generic, "generic")):
        pm = await api(client, "GET", f"/api/v1/postmortems/{one.postmortem}")
        assert (pm["runbook_class"], pm["status"]) == (runbook_class, "draft")
    return World(tokens=tokens, workflow=workflow, generic=generic)


@pytest.fixture
async def world(app: FastAPI, client: AsyncClient, clock: FakeClock) -> World:
    return await make_world(app, client, clock)


def changed(endpoint: str, caller: str, answer: dict[str, Any], after: dict[str, Any]) -> None:
    """What a successful call must have done, as the post-mortem now reads."""
    if endpoint == "edit-postmortem":
        assert (after["title"], after["updated_by"]) == ("Checkout 500s", caller)
        assert answer["title"] == "Checkout 500s"
    elif endpoint == "add-action-item":
        [new] = [i for i in after["action_items"] if i["id"] == answer["id"]]
        assert (new["title"], new["created_by"], new["status"]) == (
            "Alert on 5xx ratio",
            caller,
            "open",
        )
        assert len(after["action_items"]) == 2
    else:
        assert [i["status"] for i in after["action_items"]] == ["done"]
        assert answer["done_at"] is not None


@pytest.mark.parametrize(("caller", "target", "refused", "says"), CASES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_mutating_postmortem_endpoint_by_caller(
    client: AsyncClient,
    world: World,
    endpoint: str,
    caller: str | None,
    target: str,
    refused: int | None,
    says: str,
) -> None:
    method, path, body, succeeded = ENDPOINTS[endpoint]
    one: Drafted = getattr(world, target)
    url = path.format(pm=one.postmortem, item=one.item)
    before = await api(client, "GET", f"/api/v1/postmortems/{one.postmortem}")
    answer = await client.request(method, url, json=body, headers=world.bearer(caller))
    after = await api(client, "GET", f"/api/v1/postmortems/{one.postmortem}")
    if refused is None:
        assert caller is not None
        assert answer.status_code == succeeded, answer.text
        changed(endpoint, caller, answer.json(), after)
        return
    assert answer.status_code == refused, answer.text
    error = answer.json()["error"]
    assert says in error["message"]
    assert error["code"] == ("unauthorized" if refused == 401 else "forbidden")
    assert error["hint"]
    assert after == before
    if refused == 401:
        assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_another_teams_responder_is_refused_before_a_missing_or_invalid_change(
    client: AsyncClient, world: World, endpoint: str
) -> None:
    """The team check comes first: a 409-worthy change is still a 403 for another team."""
    method, path, _, _ = ENDPOINTS[endpoint]
    url = path.format(pm=world.workflow.postmortem, item=world.workflow.item)
    invalid = {
        "edit-postmortem": {"status": "published"},  # draft -> published is a 409 for pat
        "add-action-item": {"title": "x", "owner": "y", "due_date": "2026-12-01"},
        "edit-action-item": {"status": "open"},
    }[endpoint]
    dora = await client.request(method, url, json=invalid, headers=world.bearer("dora-documents"))
    assert dora.status_code == 403, dora.text
    assert "team 'platform'" in dora.json()["error"]["message"]
    if endpoint == "edit-postmortem":
        pat = await client.request(method, url, json=invalid, headers=world.bearer("pat-platform"))
        assert pat.status_code == 409, pat.text
    missing = path.format(pm=999999, item=999999)
    for caller in ("dora-documents", "pat-platform"):
        gone = await client.request(method, missing, json=invalid, headers=world.bearer(caller))
        assert gone.status_code == 404, gone.text
