"""Helpers for the sign-in tests: an app over ASGI from a chosen address, sessions, proxies."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response
from prometheus_client import CollectorRegistry

from app.auth import registry
from app.auth.principals import Role
from app.main import create_app
from app.migrate import migrate
from app.settings import Settings
from app.state import Services
from tests.conftest import WEBHOOK, FakeClock, ingest_headers
from tests.factories import alert, payload

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PROXY_ROLES = {"sre-readers": "viewer", "oncall-platform": "responder", "sre-admins": "admin"}
PROXY_ALICE = {
    "X-Forwarded-User": "alice",
    "X-Forwarded-Groups": "oncall-platform",
    "X-Forwarded-Team": "platform",
}


def write_config(tmp_path: Path, *, proxy: dict[str, Any] | None = None, **auth: Any) -> Path:
    """A configuration file with only an ``auth`` section (proxy enabled if given)."""
    section: dict[str, Any] = dict(auth)
    if proxy is not None:
        section["proxy"] = {"enabled": True, "roles": PROXY_ROLES, "default_role": None, **proxy}
    path = tmp_path / f"auth-{len(list(tmp_path.glob('auth-*')))}.yaml"
    path.write_text(yaml.safe_dump({"timezone": "UTC", "auth": section}))
    return path


@asynccontextmanager
async def client_for(
    settings: Settings, clock: FakeClock, *, peer: str = "127.0.0.1", config: Path | None = None
) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    """The app and a client over ASGI, called from ``peer`` (the socket address the app sees)."""
    if config is not None:
        settings = settings.model_copy(update={"config": config})
    migrate(settings.database_url)
    app = create_app(settings, registry=CollectorRegistry(), clock=clock)
    transport = ASGITransport(app=app, client=(peer, 40000))
    async with LifespanManager(app), AsyncClient(transport=transport, base_url="http://test") as c:
        yield app, c


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def issue_token(app: FastAPI, clock: FakeClock, name: str, role: Role, team: str = "") -> str:
    with services_of(app).db.write_session() as session:
        return registry.issue(session, name=name, role=role, team=team, now=clock())[1]


async def open_incident(client: AsyncClient, clock: FakeClock, name: str = "Workflow500") -> int:
    started = clock() - timedelta(minutes=3)
    body = payload(alert(f"fp-{name}", starts_at=started, alertname=name, service="workflow-api"))
    answer = await client.post(WEBHOOK, json=body, headers=ingest_headers())
    assert answer.status_code == 200, answer.text
    incident: int = answer.json()["incidents"][0]
    return incident


async def sign_in(client: AsyncClient, token: str) -> Response:
    """Sign in through the token form, as a person would; returns the POST's answer."""
    form = await client.get("/login")
    found = CSRF.search(form.text)
    assert found, form.text
    answer = await client.post("/login", data={"token": token, "csrf_token": found.group(1)})
    assert answer.status_code == 303, answer.text
    return answer
