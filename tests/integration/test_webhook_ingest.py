"""The webhook against a real SQLite file: idempotency, grouping, ordering, answers."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from prometheus_client import CollectorRegistry

from app.main import create_app
from app.settings import Settings
from tests.conftest import WEBHOOK, FakeClock, admin_headers, ingest_headers, load_fixture
from tests.factories import alert, payload

pytestmark = pytest.mark.anyio


async def post(client: AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(WEBHOOK, json=body, headers=ingest_headers())
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def incidents(client: AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/incidents", params=params, headers=admin_headers())
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def detail(client: AsyncClient, incident_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/incidents/{incident_id}", headers=admin_headers())
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


@pytest.mark.parametrize("name", ["firing.json", "prometheus-firing.json"])
async def test_real_payload_opens_one_incident(client: AsyncClient, name: str) -> None:
    body = load_fixture(name)
    first = await post(client, body)
    assert (first["alerts"], first["new"], first["duplicates"]) == (1, 1, 0)
    again = await post(client, body)
    assert (again["new"], again["duplicates"], again["incidents"]) == (0, 1, first["incidents"])
    [only] = await incidents(client)
    assert only["status"] == "triggered"
    assert only["group_key"] == body["groupKey"]


async def test_real_firing_then_resolved_payloads(client: AsyncClient) -> None:
    opened = await post(client, load_fixture("firing.json"))
    closed = await post(client, load_fixture("resolved.json"))
    assert closed["resolved"] == 1
    assert closed["incidents"] == opened["incidents"]
    incident = await detail(client, opened["incidents"][0])
    assert incident["status"] == "resolved"
    assert incident["runbook_class"] == "workflow-500"
    assert incident["started_at"] == "2026-11-28T11:06:01Z"
    assert incident["resolved_at"] == "2026-11-28T11:06:30Z"
    assert [e["rule"] for e in incident["timeline"]] == ["OPEN-1", "AUTO-1"]


async def test_same_alert_resent_with_new_body_is_still_a_duplicate(
    client: AsyncClient, clock: FakeClock
) -> None:
    a = alert("fp1", starts_at=clock.now, service="workflow-api")
    await post(client, payload(a))
    # Alertmanager's repeat: same occurrence, different annotations and extra fields.
    a2 = {**a, "annotations": {"summary": "changed"}}
    result = await post(client, payload(a2, notification_reason="repeat", routeLabels={}))
    assert (result["new"], result["duplicates"]) == (0, 1)
    [incident] = await incidents(client)
    assert len((await detail(client, incident["id"]))["alerts"]) == 1


async def test_concurrent_identical_deliveries_make_one_incident(
    client: AsyncClient, clock: FakeClock
) -> None:
    body = payload(
        *(alert(f"fp{i}", starts_at=clock.now, service="workflow-api") for i in range(5))
    )
    raw = json.dumps(body).encode()
    results = await asyncio.gather(
        *(client.post(WEBHOOK, content=raw, headers=ingest_headers()) for _ in range(20))
    )
    assert {r.status_code for r in results} == {200}
    assert sum(r.json()["new"] for r in results) == 5
    assert len({tuple(r.json()["incidents"]) for r in results}) == 1
    [incident] = await incidents(client)
    assert len((await detail(client, incident["id"]))["alerts"]) == 5


async def test_mixed_payload_uses_each_alerts_own_status(
    client: AsyncClient, clock: FakeClock
) -> None:
    start = clock.now
    await post(client, payload(alert("a", starts_at=start), alert("b", starts_at=start)))
    mixed = payload(
        alert("a", starts_at=start, ends_at=start + timedelta(minutes=3)),
        alert("b", starts_at=start),
    )
    assert mixed["status"] == "firing"
    result = await post(client, mixed)
    assert (result["resolved"], result["duplicates"]) == (1, 1)
    [incident] = await incidents(client)
    assert incident["status"] == "triggered"
    statuses = {
        a["fingerprint"]: a["status"] for a in (await detail(client, incident["id"]))["alerts"]
    }
    assert statuses == {"a": "resolved", "b": "firing"}
    end = start + timedelta(minutes=9)
    await post(client, payload(alert("b", starts_at=start, ends_at=end)))
    [incident] = await incidents(client)
    assert incident["status"] == "resolved"
    assert incident["resolved_at"].startswith("2026-11-28T11:09:00")


async def test_resolved_before_firing_keeps_the_occurrence(
    client: AsyncClient, clock: FakeClock
) -> None:
    start = clock.now - timedelta(minutes=20)
    end = start + timedelta(minutes=12)
    resolved = await post(client, payload(alert("late", starts_at=start, ends_at=end)))
    assert resolved["new"] == 1
    firing = await post(client, payload(alert("late", starts_at=start)))  # the delayed retry
    assert (firing["new"], firing["duplicates"]) == (0, 1)
    [incident] = await incidents(client)
    assert incident["status"] == "resolved"
    started = datetime.fromisoformat(incident["started_at"])
    assert datetime.fromisoformat(incident["resolved_at"]) - started == timedelta(minutes=12)
    got = await detail(client, incident["id"])
    assert got["alerts"][0]["status"] == "resolved"
    assert [e["rule"] for e in got["timeline"]] == ["OPEN-2", "OPEN-2"]


async def test_flap_within_window_reopens_the_same_incident(
    client: AsyncClient, clock: FakeClock
) -> None:
    start = clock.now
    first = await post(client, payload(alert("f", starts_at=start)))
    await post(client, payload(alert("f", starts_at=start, ends_at=start + timedelta(minutes=2))))
    again = await post(client, payload(alert("f", starts_at=start + timedelta(minutes=6))))
    assert again["incidents"] == first["incidents"]
    [incident] = await incidents(client)
    assert (incident["status"], incident["flap_count"]) == ("triggered", 1)
    assert incident["resolved_at"] is None


async def test_later_fire_is_a_recurrence_and_much_later_is_new(
    client: AsyncClient, clock: FakeClock
) -> None:
    start = clock.now
    first = await post(client, payload(alert("r", starts_at=start)))
    await post(client, payload(alert("r", starts_at=start, ends_at=start + timedelta(minutes=1))))
    second = await post(client, payload(alert("r", starts_at=start + timedelta(hours=2))))
    assert second["incidents"] != first["incidents"]
    newest = (await incidents(client))[0]
    assert newest["recurrence_of"] == first["incidents"][0]
    later = start + timedelta(days=9)
    await post(
        client,
        payload(
            alert("r", starts_at=start + timedelta(hours=2), ends_at=start + timedelta(hours=3))
        ),
    )
    third = await post(client, payload(alert("r", starts_at=later)))
    assert (await detail(client, third["incidents"][0]))["recurrence_of"] is None


async def test_manual_resolve_is_not_reopened_by_repeats(
    client: AsyncClient, clock: FakeClock
) -> None:
    start = clock.now
    opened = await post(client, payload(alert("m", starts_at=start)))
    incident_id = opened["incidents"][0]
    response = await client.post(
        f"/api/v1/incidents/{incident_id}/resolve",
        json={"note": "restarted the pod"},
        headers=admin_headers(),
    )
    assert response.status_code == 200
    assert response.json()["timeline"][-1]["detail"]["alerts_still_firing"] == ["m"]
    clock.advance(minutes=1)
    await post(client, payload(alert("m", starts_at=start), alert("m", starts_at=start)))
    assert (await detail(client, incident_id))["status"] == "resolved"
    reopened = await post(client, payload(alert("m2", starts_at=start + timedelta(minutes=2))))
    assert reopened["incidents"] == [incident_id]
    assert (await detail(client, incident_id))["status"] == "triggered"


async def test_classes_split_one_group_into_incidents(
    client: AsyncClient, clock: FakeClock
) -> None:
    body = payload(
        alert("w", starts_at=clock.now, alertname="Workflow500"),
        alert("p", starts_at=clock.now, alertname="PdfNotFound"),
        alert("x", starts_at=clock.now, alertname="SomethingElse"),
        group_key="{}:{}",
    )
    result = await post(client, body)
    assert len(result["incidents"]) == 3
    classes = sorted(i["runbook_class"] for i in await incidents(client))
    assert classes == ["generic", "pdf-404", "workflow-500"]


async def test_runbook_class_label_overrides_matchers(
    client: AsyncClient, clock: FakeClock
) -> None:
    await post(
        client,
        payload(
            alert(
                "o",
                starts_at=clock.now,
                alertname="Workflow500",
                runbook_class="storage-permissions",
            )
        ),
    )
    [incident] = await incidents(client)
    assert incident["runbook_class"] == "storage-permissions"


async def test_truncated_alerts_are_recorded(client: AsyncClient, clock: FakeClock) -> None:
    await post(client, payload(alert("t", starts_at=clock.now), truncatedAlerts=7))
    [incident] = await incidents(client)
    assert incident["truncated_alerts"] == 7


async def test_basic_auth_with_token_as_password(client: AsyncClient, clock: FakeClock) -> None:
    response = await client.post(
        WEBHOOK,
        json=payload(alert("b", starts_at=clock.now)),
        auth=("alertmanager", "ingest-token-for-tests"),
    )
    assert response.status_code == 200


async def test_acknowledge_then_invalid_transition_is_409(
    client: AsyncClient, clock: FakeClock
) -> None:
    opened = await post(client, payload(alert("k", starts_at=clock.now)))
    url = f"/api/v1/incidents/{opened['incidents'][0]}"
    clock.advance(minutes=4)
    acked = await client.post(f"{url}/ack", headers=admin_headers())
    assert acked.status_code == 200
    assert (acked.json()["acknowledged_by"], acked.json()["acknowledged_at"]) == (
        "admin",
        "2026-11-28T11:04:00Z",
    )
    again = await client.post(f"{url}/ack", headers=admin_headers())
    assert again.status_code == 409
    assert again.json()["error"]["current"] == "acknowledged"
    note = await client.post(f"{url}/notes", json={"text": "looking"}, headers=admin_headers())
    assert note.json()["timeline"][-1] | {"at": None} == {
        "at": None,
        "kind": "note",
        "actor": "admin",
        "rule": "",
        "detail": {"text": "looking"},
    }


async def test_list_filters_and_pagination(client: AsyncClient, clock: FakeClock) -> None:
    for i in range(5):
        await post(client, payload(alert(f"p{i}", starts_at=clock.now), group_key=f"g{i}"))
    first = (
        await client.get("/api/v1/incidents", params={"limit": 2}, headers=admin_headers())
    ).json()
    assert [i["id"] for i in first["items"]] == [5, 4]
    assert first["next"] == 4
    second = (
        await client.get(
            "/api/v1/incidents", params={"limit": 2, "before": 4}, headers=admin_headers()
        )
    ).json()
    assert [i["id"] for i in second["items"]] == [3, 2]
    assert await incidents(client, status="resolved") == []
    assert len(await incidents(client, **{"class": "workflow-500"})) == 5
    assert await incidents(client, **{"class": "pdf-404"}) == []


async def test_delivery_log_records_each_request(client: AsyncClient, clock: FakeClock) -> None:
    body = json.dumps(payload(alert("d", starts_at=clock.now))).encode()
    headers = {**ingest_headers(), "User-Agent": "Alertmanager/0.25.0"}
    await client.post(WEBHOOK, content=body, headers=headers)
    await client.post(WEBHOOK, content=body, headers=headers)  # a byte-identical repeat
    await client.post(WEBHOOK, content=b"{", headers=ingest_headers())
    response = await client.get("/api/v1/deliveries", headers=admin_headers())
    rows = response.json()["items"]
    assert [r["outcome"] for r in rows] == ["invalid", "duplicate", "accepted"]
    for row in rows[1:]:
        assert row["receiver"] == "runbook-router"
        assert row["group_key"] == '{}:{alertname="Workflow500"}'
        assert (row["status"], row["user_agent"]) == ("firing", "Alertmanager/0.25.0")
    assert (rows[2]["new"], rows[1]["duplicates"]) == (1, 1)
    assert "not valid JSON" in rows[0]["error"]
    assert (await client.get("/api/v1/deliveries", headers=ingest_headers())).status_code == 401


async def test_repeat_to_a_process_that_never_saw_it_is_still_a_duplicate(
    client: AsyncClient, clock: FakeClock, settings: Settings
) -> None:
    body = payload(alert("s", starts_at=clock.now), alert("t", starts_at=clock.now))
    first = await post(client, body)
    other = create_app(settings, registry=CollectorRegistry(), clock=clock)  # e.g. a restart
    async with (
        LifespanManager(other),
        AsyncClient(transport=ASGITransport(app=other), base_url="http://b") as fresh,
    ):
        again = await post(fresh, body)
        assert (again["new"], again["duplicates"], again["incidents"]) == (0, 2, first["incidents"])
        start = clock.now
        resolved = payload(
            alert("s", starts_at=start, ends_at=start + timedelta(minutes=1)),
            alert("t", starts_at=start),
        )
        changed = await post(fresh, resolved)
        assert (changed["new"], changed["resolved"], changed["duplicates"]) == (0, 1, 1)
    assert len((await detail(client, first["incidents"][0]))["alerts"]) == 2
