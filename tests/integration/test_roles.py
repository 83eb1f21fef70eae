"""Who may do what over HTTP: roles and teams, sessions, the trusted proxy, CSRF, headers.

Every mutating incident endpoint is tried by every kind of caller, on both databases.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import yaml
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from httpx import ASGITransport, AsyncClient, Response
from prometheus_client import CollectorRegistry
from starlette.routing import BaseRoute

from app.auth import registry
from app.auth.principals import Role
from app.main import create_app
from app.migrate import migrate
from app.settings import Settings
from app.state import Services
from tests.conftest import ROOT, WEBHOOK, FakeClock, admin_headers, ingest_headers
from tests.factories import alert, by_people, payload

pytestmark = pytest.mark.anyio

CALLERS = {  # token name: (role, team)
    "vera-viewer": (Role.VIEWER, ""),
    "pat-platform": (Role.RESPONDER, "platform"),
    "dora-documents": (Role.RESPONDER, "documents"),
    "ada-admin": (Role.ADMIN, ""),
}
ENDPOINTS = {  # name: (path after /incidents/{id}/, JSON body, timeline kind it records)
    "ack": ("ack", None, "acknowledged"),
    "resolve": ("resolve", {"note": "restarted the workers"}, "resolved"),
    "notes": ("notes", {"text": "looking at the 5xx ratio"}, "note"),
    "steps": ("steps/confirm-scope", None, "step_done"),
}
CASES = [  # caller, incident, status, words the error message must contain
    pytest.param(None, "workflow", 401, "not signed in", id="no-token"),
    pytest.param("vera-viewer", "workflow", 403, "responder role", id="viewer"),
    pytest.param("pat-platform", "workflow", 200, "", id="responder-own-team"),
    pytest.param("dora-documents", "workflow", 403, "team 'platform'", id="responder-other-team"),
    pytest.param("dora-documents", "generic", 200, "", id="responder-runbook-without-team"),
    pytest.param("ada-admin", "workflow", 200, "", id="admin"),
]
READ = {"incidents:read", "runbooks:read", "kpis:read", "postmortems:read"}
ACT = {"incidents:act", "postmortems:edit"}
MANAGE = {"deliveries:read", "notifications:read"}
PERMISSIONS = {Role.VIEWER: READ, Role.RESPONDER: READ | ACT, Role.ADMIN: READ | ACT | MANAGE}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HTML = {"Accept": "text/html"}


@dataclass(frozen=True)
class World:
    tokens: dict[str, str]
    workflow: int  # incident of runbook workflow-500 (team platform)
    generic: int  # incident of the generic runbook (no team)

    def bearer(self, name: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"} if name else {}


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


@pytest.fixture
async def world(app: FastAPI, client: AsyncClient, clock: FakeClock) -> World:
    with services_of(app).db.write_session() as session:
        tokens = {
            name: registry.issue(session, name=name, role=role, team=team, now=clock())[1]
            for name, (role, team) in CALLERS.items()
        }
    ids = []
    for name, service in (("Workflow500", "workflow-api"), ("DiskAlmostFull", "node-3")):
        started = clock() - timedelta(minutes=3)
        body = payload(alert(f"fp-{name}", starts_at=started, alertname=name, service=service))
        answer = await client.post(WEBHOOK, json=body, headers=ingest_headers())
        assert answer.status_code == 200, answer.text
        ids.append(answer.json()["incidents"][0])
    world = World(tokens=tokens, workflow=ids[0], generic=ids[1])
    assert (await detail(client, world.workflow))["runbook_class"] == "workflow-500"
    assert (await detail(client, world.generic))["runbook_class"] == "generic"
    return world


async def detail(client: AsyncClient, incident_id: int) -> dict[str, Any]:
    answer = await client.get(f"/api/v1/incidents/{incident_id}", headers=admin_headers())
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


async def sign_in(client: AsyncClient, token: str, next_: str = "/") -> Response:
    form = await client.get("/login")
    found = CSRF.search(form.text)
    assert found, form.text
    data = {"token": token, "csrf_token": found.group(1), "next": next_}
    return await client.post("/login", data=data)


async def page_csrf(client: AsyncClient, path: str) -> str:
    page = await client.get(path, headers=HTML)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


@pytest.mark.parametrize(("caller", "target", "status", "says"), CASES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_mutating_endpoint_by_caller(
    client: AsyncClient,
    world: World,
    endpoint: str,
    caller: str | None,
    target: str,
    status: int,
    says: str,
) -> None:
    path, body, kind = ENDPOINTS[endpoint]
    incident_id = getattr(world, target)
    before = await detail(client, incident_id)
    answer = await client.post(
        f"/api/v1/incidents/{incident_id}/{path}", json=body, headers=world.bearer(caller)
    )
    assert answer.status_code == status, answer.text
    after = await detail(client, incident_id)
    if status == 200:
        last = by_people(after)["timeline"][-1]
        assert (last["kind"], last["actor"]) == (kind, caller)
        assert answer.json()["timeline"] == after["timeline"]
    else:
        error = answer.json()["error"]
        assert says in error["message"]
        assert error["code"] == ("unauthorized" if status == 401 else "forbidden")
        assert error["hint"]
        assert by_people(after) == by_people(before)
    if status == 401:
        assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("caller", CALLERS)
async def test_me_describes_each_token(client: AsyncClient, world: World, caller: str) -> None:
    me = (await client.get("/api/v1/me", headers=world.bearer(caller))).json()
    role, team = CALLERS[caller]
    assert (me["name"], me["role"], me["team"], me["auth"]) == (
        caller,
        role.value,
        team or None,
        "token",
    )
    assert set(me["permissions"]) == PERMISSIONS[role]


def required_permissions(app: FastAPI) -> dict[tuple[str, str], set[str]]:
    """(method, path) -> the permissions its dependencies check (``app.http.deps.require``)."""

    def walk(dependant: Dependant) -> set[str]:
        found = {p for d in dependant.dependencies for p in walk(d)}
        name = getattr(dependant.call, "__qualname__", "")
        if dependant.call is not None and name.startswith("_permission_check."):
            found.add(inspect.getclosurevars(dependant.call).nonlocals["permission"])
        return found

    def routes(within: Sequence[BaseRoute]) -> Iterator[APIRoute]:
        for route in within:
            if isinstance(route, APIRoute):
                yield route
            included = getattr(route, "original_router", None)  # FastAPI >= 0.165
            if included is not None:
                yield from routes(included.routes)

    return {
        (method, route.path): walk(route.dependant)
        for route in routes(app.routes)
        for method in route.methods or ()
    }


def test_every_permission_a_role_holds_is_required_somewhere(app: FastAPI) -> None:
    """``/api/v1/me`` lists no permission that nothing checks, and checks none it omits."""
    required = required_permissions(app)
    granted = {p for permissions in PERMISSIONS.values() for p in permissions}
    assert {p for found in required.values() for p in found} == granted
    reads = [
        path
        for (method, path), found in required.items()
        if method == "GET"
        and path.startswith("/api/")
        and ("postmortem" in path or "action-items" in path)
    ]
    assert reads, "the post-mortem reads were not found"
    assert all(required[("GET", path)] == {"postmortems:read"} for path in reads), required


async def test_me_for_bootstrap_admin_session_and_nobody(client: AsyncClient, world: World) -> None:
    admin = (await client.get("/api/v1/me", headers=admin_headers())).json()
    assert (admin["role"], admin["auth"]) == ("admin", "token")
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (await sign_in(client, world.tokens["pat-platform"])).status_code == 303
    me = (await client.get("/api/v1/me")).json()
    assert (me["name"], me["team"], me["auth"]) == ("pat-platform", "platform", "session")


async def test_revoked_token_is_refused_and_ends_its_session(
    app: FastAPI, client: AsyncClient, world: World, clock: FakeClock
) -> None:
    assert (await sign_in(client, world.tokens["pat-platform"])).status_code == 303
    assert (await client.get("/", headers=HTML)).status_code == 200
    with services_of(app).db.write_session() as session:
        registry.revoke(session, name="pat-platform", now=clock())
    bearer = await client.get("/api/v1/me", headers=world.bearer("pat-platform"))
    assert bearer.status_code == 401
    assert "revoked" in bearer.json()["error"]["message"]
    page = await client.get("/", headers=HTML)  # the session's next request
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2F"
    assert "rr_session" not in client.cookies  # cleared by the server
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (await sign_in(client, world.tokens["pat-platform"])).status_code == 401


def proxy_config(tmp_path: Path, trusted: list[str]) -> Path:
    roles = {"sre-readers": "viewer", "oncall-platform": "responder", "sre-admins": "admin"}
    proxy = {"enabled": True, "trusted": trusted, "roles": roles, "default_role": None}
    path = tmp_path / "proxy.yaml"
    path.write_text(yaml.safe_dump({"auth": {"proxy": proxy}}))
    return path


@asynccontextmanager
async def client_for(settings: Settings, clock: FakeClock) -> AsyncIterator[AsyncClient]:
    migrate(settings.database_url)
    app = create_app(settings, registry=CollectorRegistry(), clock=clock)
    transport = ASGITransport(app=app)  # the caller's address is 127.0.0.1
    base = "https://test" if settings.base_url.startswith("https:") else "http://test"
    async with LifespanManager(app), AsyncClient(transport=transport, base_url=base) as c:
        yield c


PROXY_USER = {
    "X-Forwarded-User": "alice",
    "X-Forwarded-Groups": "sre-readers, oncall-platform",
    "X-Forwarded-Team": "platform",
}


@pytest.mark.parametrize(
    ("trusted", "believed"),
    [
        pytest.param(["127.0.0.1/32"], True, id="trusted-proxy"),
        pytest.param(["10.0.0.0/8", "::1/128"], False, id="untrusted-client"),
    ],
)
async def test_proxy_sign_in_only_through_trusted_addresses(
    settings: Settings, clock: FakeClock, tmp_path: Path, trusted: list[str], believed: bool
) -> None:
    config = proxy_config(tmp_path, trusted)
    async with client_for(settings.model_copy(update={"config": config}), clock) as client:
        me = await client.get("/api/v1/me", headers=PROXY_USER)
        unmapped = await client.get("/api/v1/me", headers={"X-Forwarded-User": "mallory"})
        assert unmapped.status_code == 401  # no mapped group and no default role
        login = await client.get("/login?next=/kpis", headers=PROXY_USER)
        if not believed:
            assert me.status_code == 401
            assert login.status_code == 200  # the token form; the headers are ignored
            assert (await client.get("/api/v1/me")).status_code == 401
            return
        assert me.status_code == 200, me.text
        # The highest role of the mapped groups; the team from its header.
        assert {k: me.json()[k] for k in ("name", "role", "team", "auth")} == {
            "name": "alice",
            "role": "responder",
            "team": "platform",
            "auth": "proxy",
        }
        assert (login.status_code, login.headers["location"]) == (303, "/kpis")
        session = (await client.get("/api/v1/me")).json()  # the cookie alone now
        assert (session["name"], session["role"], session["auth"]) == (
            "alice",
            "responder",
            "session",
        )


HEADER_PATHS = [
    "/login",
    "/",
    "/incidents/{workflow}",
    "/runbooks/workflow-500?alertname=Workflow500",
    "/incidents/999999",
    "/api/v1/me",
    "/api/v1/incidents/{workflow}",
    "/api/v1/incidents/999999",
    "/healthz",
]


def assert_security_headers(answer: Response) -> None:
    csp = {
        parts[0]: parts[1:]
        for parts in (d.split() for d in answer.headers["content-security-policy"].split(";"))
        if parts
    }
    script = csp.get("script-src", csp["default-src"])
    assert "'unsafe-inline'" not in script
    assert "'unsafe-eval'" not in script
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] in ("same-origin", "no-referrer", "strict-origin")
    if answer.headers.get("content-type", "").startswith("text/html"):
        assert "<script" not in answer.text  # nothing the CSP would block
        assert " style=" not in answer.text


@pytest.mark.parametrize("who", ["admin", "nobody"])
async def test_security_headers_on_pages_and_api(
    client: AsyncClient, world: World, who: str
) -> None:
    headers = {**HTML, **(admin_headers() if who == "admin" else {})}
    statuses = set()
    for path in HEADER_PATHS:
        answer = await client.get(path.format(workflow=world.workflow), headers=headers)
        statuses.add(answer.status_code)
        assert_security_headers(answer)
    assert statuses == ({200, 404} if who == "admin" else {200, 303, 401})


@pytest.mark.parametrize("public_url", ["", "https://rr.example.org"])
async def test_session_cookie_flags(
    settings: Settings, clock: FakeClock, public_url: str, world: World
) -> None:
    update = {"public_url": public_url}
    async with client_for(settings.model_copy(update=update), clock) as client:
        signed = await sign_in(client, world.tokens["vera-viewer"])
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"]
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert cookie.startswith("rr_session=")
    assert "httponly" in flags
    assert "samesite=lax" in cookie.lower()
    assert ("secure" in flags) is public_url.startswith("https://")


@pytest.mark.parametrize("csrf", [None, "", "forged-value"], ids=["missing", "empty", "wrong"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_form_post_without_the_session_csrf_token_changes_nothing(
    client: AsyncClient, world: World, endpoint: str, csrf: str | None
) -> None:
    await sign_in(client, world.tokens["pat-platform"])
    await page_csrf(client, f"/incidents/{world.workflow}")
    before = await detail(client, world.workflow)
    fields = {"note": "x", "text": "x"} | ({} if csrf is None else {"csrf_token": csrf})
    path = ENDPOINTS[endpoint][0]
    answer = await client.post(f"/incidents/{world.workflow}/{path}", data=fields, headers=HTML)
    assert answer.status_code == 403
    assert "CSRF" in answer.text
    assert by_people(await detail(client, world.workflow)) == by_people(before)


async def test_form_posts_with_the_csrf_token_act_and_return_to_the_page(
    client: AsyncClient, world: World
) -> None:
    await sign_in(client, world.tokens["pat-platform"])
    page = f"/incidents/{world.workflow}"
    for path, extra in (
        ("steps/confirm-scope", {}),
        ("ack", {}),
        ("notes", {"text": "on it"}),
        ("resolve", {"note": "rolled back"}),
    ):
        fields = {"csrf_token": await page_csrf(client, page), **extra}
        answer = await client.post(f"{page}/{path}", data=fields)
        assert (answer.status_code, answer.headers["location"]) == (303, page), answer.text
    done = await detail(client, world.workflow)
    assert [e["kind"] for e in done["timeline"] if e["actor"] == "pat-platform"] == [
        "first_viewed",
        "step_done",
        "acknowledged",
        "note",
        "resolved",
    ]
    assert (done["acknowledged_by"], done["resolved_by"]) == ("pat-platform", "pat-platform")


async def test_login_refuses_a_bad_token_and_a_missing_csrf_token(
    client: AsyncClient, world: World
) -> None:
    refused = await sign_in(client, "rr_not-a-real-token")
    assert refused.status_code == 401
    assert "That token is not valid (unknown or revoked)" in refused.text
    assert 'role="alert"' in refused.text
    assert (await client.get("/api/v1/me")).status_code == 401
    forged = await client.post("/login", data={"token": world.tokens["ada-admin"]}, headers=HTML)
    assert forged.status_code == 403
    assert (await client.get("/api/v1/me")).status_code == 401


@pytest.mark.parametrize(
    "target",
    ["//evil.example", "https://evil.example", "//evil.example/%2e%2e", "/\\evil.example"],
)
async def test_next_never_leaves_the_site(client: AsyncClient, world: World, target: str) -> None:
    signed = await sign_in(client, world.tokens["vera-viewer"], next_=target)
    assert (signed.status_code, signed.headers["location"]) == (303, "/")


@pytest.mark.parametrize("target", ["/\t/evil.example", "/\n/evil.example", " //evil.example"])
async def test_next_with_control_characters_stays_on_the_site(
    client: AsyncClient, world: World, target: str
) -> None:
    signed = await sign_in(client, world.tokens["vera-viewer"], next_=target)
    assert signed.status_code == 303
    location = signed.headers["location"]
    assert not re.search(r"[\x00-\x20]", location)  # browsers drop these and see '//'
    assert urlsplit(urljoin("http://test/login", location)).netloc == "test"


async def test_a_page_link_signs_in_and_comes_back(client: AsyncClient, world: World) -> None:
    link = "/runbooks/workflow-500?alertname=Workflow500&service=workflow-api"
    bounced = await client.get(link, headers=HTML)
    assert bounced.status_code == 303
    form = await client.get(bounced.headers["location"])
    assert f'name="next" value="{link.replace("&", "&amp;")}"' in form.text
    signed = await sign_in(client, world.tokens["pat-platform"], next_=link)
    assert signed.headers["location"] == link


def test_app_is_imported_from_this_checkout() -> None:
    """The venv's editable install must not fill gaps from another checkout's ``app``."""
    ours = ROOT / "app"
    strays = sorted(
        name
        for name, module in sys.modules.items()
        if (name == "app" or name.startswith("app."))
        and getattr(module, "__file__", None)
        and not Path(str(module.__file__)).resolve().is_relative_to(ours)
    )
    assert not strays
