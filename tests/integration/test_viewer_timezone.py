"""One viewer time-zone rule on every page: ``?tz=``, else the person's, else their team's.

A responder of team platform (Europe/Berlin, config/runbook-router.yaml) looks at an incident
and at its post-mortem: both pages must show times in the same zone, with and without ``?tz=``.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from app.runbooks.filters import localtime
from tests.conftest import FakeClock
from tests.integration.test_postmortem_roles import api, make_world
from tests.integration.test_roles import HTML, sign_in

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("query", "zone"), [("", "Europe/Berlin"), ("?tz=Asia/Tokyo", "Asia/Tokyo")]
)
async def test_incident_and_postmortem_pages_show_times_in_the_same_zone(
    app: FastAPI, client: AsyncClient, clock: FakeClock, query: str, zone: str
) -> None:
    world = await make_world(app, client, clock)
    incident = await api(client, "GET", f"/api/v1/incidents/{world.workflow.incident}")
    pm = await api(client, "GET", f"/api/v1/postmortems/{world.workflow.postmortem}")
    resolved = datetime.fromisoformat(incident["resolved_at"])
    updated = datetime.fromisoformat(pm["updated_at"])
    await sign_in(client, world.tokens["pat-platform"])

    pages = {
        "incident": (f"/incidents/{world.workflow.incident}{query}", resolved),
        "postmortem": (f"/postmortems/{world.workflow.postmortem}{query}", updated),
        "postmortems": (f"/postmortems{query}", updated),
    }
    for name, (path, at) in pages.items():
        answer = await client.get(path, headers=HTML)
        assert answer.status_code == 200, answer.text
        assert localtime(at, zone) in answer.text, f"{name}: {path} not in {zone}"
    assert localtime(resolved, zone)[-4:] == localtime(updated, zone)[-4:]  # same zone name
