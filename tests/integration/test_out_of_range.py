"""Out-of-range query and path parameters get a 4xx naming the parameter, never a 500, and
every page formats any stored time (even year 9999 east of UTC) without failing.

On a real SQLite file and a real PostgreSQL server: the 500s came from the database drivers
(an integer beyond 64 bits, a time beyond year 9999 after the time-zone shift).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import update

from app.incidents.models import Incident, TimelineEvent
from tests.conftest import WEBHOOK, FakeClock, admin_headers, ingest_headers
from tests.factories import alert, payload

pytestmark = pytest.mark.anyio

HUGE = "99999999999999999999999"
HTML = {"Accept": "text/html"}

API_CASES = [
    pytest.param("GET", f"/api/v1/incidents?before={HUGE}", "before", id="incidents-before"),
    pytest.param("GET", "/api/v1/incidents?before=0", "before", id="incidents-before-zero"),
    pytest.param("GET", f"/api/v1/incidents/{HUGE}", "incident_id", id="incident"),
    pytest.param("GET", "/api/v1/incidents/-1", "incident_id", id="incident-negative"),
    pytest.param("POST", f"/api/v1/incidents/{HUGE}/ack", "incident_id", id="ack"),
    pytest.param("POST", f"/api/v1/incidents/{HUGE}/resolve", "incident_id", id="resolve"),
    pytest.param(
        "GET",
        "/api/v1/incidents?since=9999-12-31T23:00:00-05:00",
        "since",
        id="incidents-since-overflow",
    ),
    pytest.param(
        "GET", "/api/v1/incidents?since=0001-01-01T00:00:00%2B01:00", "since", id="since-year-1"
    ),
    pytest.param("GET", "/api/v1/kpis?window=99999999d", "window", id="kpis-window"),
    pytest.param("GET", "/api/v1/kpis?window=9999999999999w", "window", id="kpis-window-huge"),
    pytest.param("GET", f"/api/v1/postmortems/{HUGE}", "postmortem_id", id="postmortem"),
    pytest.param("GET", f"/api/v1/postmortems?before={HUGE}", "before", id="postmortems-before"),
    pytest.param("GET", f"/api/v1/incidents/{HUGE}/postmortem", "incident_id", id="incident-pm"),
    pytest.param("PATCH", f"/api/v1/postmortems/{HUGE}", "postmortem_id", id="pm-patch"),
    pytest.param(
        "POST", f"/api/v1/postmortems/{HUGE}/action-items", "postmortem_id", id="items-post"
    ),
    pytest.param("PATCH", f"/api/v1/action-items/{HUGE}", "item_id", id="item-patch"),
    pytest.param("GET", f"/api/v1/action-items?before={HUGE}", "before", id="items-before"),
    pytest.param("GET", f"/api/v1/deliveries?before={HUGE}", "before", id="deliveries-before"),
    pytest.param("GET", f"/api/v1/notifications?incident={HUGE}", "incident", id="notif-incident"),
    pytest.param("GET", f"/api/v1/notifications?before={HUGE}", "before", id="notif-before"),
]


@pytest.mark.parametrize(("method", "path", "parameter"), API_CASES)
async def test_out_of_range_api_parameters_are_422_naming_the_parameter(
    client: AsyncClient, method: str, path: str, parameter: str
) -> None:
    body: dict[str, Any] | None = {} if method in ("PATCH", "POST") else None
    response = await client.request(method, path, headers=admin_headers(), json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert parameter in error["message"]
    assert error["hint"]


PAGE_CASES = [
    pytest.param(f"/incidents/{HUGE}", "incident_id", id="incident"),
    pytest.param(f"/postmortems/{HUGE}", "postmortem_id", id="postmortem"),
    pytest.param(f"/postmortems?before={HUGE}", "before", id="postmortems-before"),
    pytest.param("/?tz=Asia/Tokyo&status=nonsense", "status", id="board-status"),
]


@pytest.mark.parametrize(("path", "parameter"), PAGE_CASES)
async def test_out_of_range_page_parameters_are_a_readable_422_page(
    client: AsyncClient, path: str, parameter: str
) -> None:
    response = await client.get(path, headers={**admin_headers(), **HTML})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert parameter in response.text
    assert "<h1>" in response.text


async def test_a_kpi_page_with_an_unknown_window_shows_the_default(client: AsyncClient) -> None:
    response = await client.get("/kpis?window=99999999d", headers={**admin_headers(), **HTML})
    assert response.status_code == 200


FAR = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
EARLY = datetime(1, 1, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("started", "other"), [pytest.param(FAR, EARLY, id="far"), pytest.param(EARLY, FAR, id="early")]
)
async def test_pages_format_any_stored_time_in_any_time_zone(
    client: AsyncClient, app: FastAPI, clock: FakeClock, started: datetime, other: datetime
) -> None:
    """Values the webhook now refuses may still be stored (older versions, manual edits)."""
    answer = await client.post(
        WEBHOOK, json=payload(alert("far", starts_at=clock.now)), headers=ingest_headers()
    )
    [incident_id] = answer.json()["incidents"]
    with app.state.services.db.write_session() as session:
        session.execute(
            update(Incident)
            .where(Incident.id == incident_id)
            .values(started_at=started, acknowledged_at=other, acknowledged_by="x")
        )
        session.execute(
            update(TimelineEvent).where(TimelineEvent.incident_id == incident_id).values(at=other)
        )
    shown = f"{started:%Y}-{started:%m}-{started:%d}".lstrip("0")
    for tz in ("Asia/Tokyo", "America/Los_Angeles", "UTC"):
        for path in ("/", f"/incidents/{incident_id}", "/?status=triggered"):
            sep = "&" if "?" in path else "?"
            page = await client.get(f"{path}{sep}tz={tz}", headers={**admin_headers(), **HTML})
            assert page.status_code == 200, (tz, path, page.text[:500])
        assert shown[-5:] in page.text  # the incident's start, shifted or as stored
    detail = await client.get(f"/api/v1/incidents/{incident_id}", headers=admin_headers())
    assert detail.status_code == 200
    assert detail.json()["started_at"].startswith(started.isoformat()[:19])
