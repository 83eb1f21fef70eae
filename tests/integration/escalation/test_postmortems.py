"""Post-mortems drafted at resolve time from the timeline, reviewed through the API, and
their action items (with the gauges and the recurrence banner)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from prometheus_client.parser import text_string_to_metric_families

from app.classification.catalog import load_catalog
from app.postmortems.actions import open_items_of_predecessors
from tests.conftest import ROOT, FakeClock, admin_headers
from tests.integration.escalation.support import detail, end, fire, run

pytestmark = pytest.mark.anyio
W = "workflow-500"
H = admin_headers()


async def api(client: AsyncClient, method: str, url: str, status: int = 200, **kw: Any) -> Any:
    response = await client.request(method, url, headers=H, **kw)
    assert response.status_code == status, response.text
    return response.json()


async def scripted_incident(app: FastAPI, client: AsyncClient, clock: FakeClock) -> int:
    """Fires, escalates, acked at 45 s, one checklist step, a note, auto-resolved at 10 min."""
    t0 = clock.now
    incident = await fire(client, "pm", t0)
    await run(app, t0)
    clock.now = t0 + timedelta(seconds=45)
    await api(client, "POST", f"/api/v1/incidents/{incident}/ack")
    clock.now = t0 + timedelta(minutes=2)
    await api(client, "POST", f"/api/v1/incidents/{incident}/steps/confirm-scope")
    clock.now = t0 + timedelta(minutes=3)
    note = "rolled back release 42 | see [the log](javascript:x)"
    await api(client, "POST", f"/api/v1/incidents/{incident}/notes", json={"text": note})
    clock.now = t0 + timedelta(minutes=10)
    await end(client, "pm", t0, clock.now)
    await run(app, clock.now)
    return incident


async def gauge(client: AsyncClient, name: str, **labels: str) -> float:
    text = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    raise AssertionError(f"no {name}{labels}")


async def test_the_draft_is_filled_from_the_timeline(
    app: FastAPI, client: AsyncClient, clock: FakeClock
) -> None:
    incident = await scripted_incident(app, client, clock)
    pm = await api(client, "GET", f"/api/v1/incidents/{incident}/postmortem")
    assert (pm["status"], pm["incident_id"], pm["runbook_class"]) == ("draft", incident, W)
    assert pm["title"] == "Post-mortem: Workflow500 on unknown"
    assert pm["created_at"] == "2026-11-28T11:10:00Z"  # the resolve time
    body = pm["body"]
    assert "| Incident | #1 (workflow\\-500) |" in body
    assert "| Started | 2026-11-28 11:00 UTC |" in body
    assert "| Acknowledged | 2026-11-28 11:00 UTC by admin |" in body
    assert "| Resolved | 2026-11-28 11:10 UTC by alertmanager |" in body
    assert "| Time to acknowledge (MTTA) | 45s |" in body
    assert "| Time to resolve (MTTR) | 10m |" in body
    assert "| Escalation levels reached | 1 |" in body
    checklist = load_catalog(ROOT / "runbook_templates").runbooks[W].meta.checklist
    assert f"## Runbook checklist: 1/{len(checklist)} steps done" in body
    assert "- [x] Confirm which routes" in body
    assert "(by admin, 2026-11-28 11:02 UTC)" in body
    assert body.count("- [ ] ") == len(checklist) - 1
    # The note is quoted as text: no table cell break, no link.
    assert r"rolled back release 42 \| see \[the log\]\(javascript:x\)" in body
    assert "| Workflow500 | pm | 2026-11-28 11:00 UTC | 2026-11-28 11:10 UTC | resolved |" in body
    rows = [line for line in body.splitlines() if line.startswith("| 2026-11-28 11:")]
    events = [row.split(" | ")[1] for row in rows]
    assert events == [
        "opened (OPEN-1)",
        "escalated (ESCALATE-1)",
        "acknowledged (ACK-1)",
        "step_done",
        "note",
        "resolved (AUTO-2)",
    ]


async def test_manual_resolve_drafts_too_and_only_required_severities_get_one(
    app: FastAPI, client: AsyncClient, clock: FakeClock
) -> None:
    critical = await fire(client, "c", clock.now)
    minor = await fire(client, "w", clock.now, severity="warning")
    clock.advance(minutes=20)
    for incident in (critical, minor):
        body = {"note": "fixed by hand"}
        await api(client, "POST", f"/api/v1/incidents/{incident}/resolve", json=body)
    await run(app, clock.now)
    pm = await api(client, "GET", f"/api/v1/incidents/{critical}/postmortem")
    assert "| Resolved | 2026-11-28 11:20 UTC by admin |" in pm["body"]
    assert "Resolution note: fixed by hand" in pm["body"]
    missing = await api(client, "GET", f"/api/v1/incidents/{minor}/postmortem", status=404)
    assert "required_for" in missing["error"]["hint"]
    listed = await api(client, "GET", "/api/v1/postmortems")
    assert [p["incident_id"] for p in listed["items"]] == [critical]
    assert listed["next"] is None


async def test_review_flow_and_edits(app: FastAPI, client: AsyncClient, clock: FakeClock) -> None:
    incident = await scripted_incident(app, client, clock)
    pm = await api(client, "GET", f"/api/v1/incidents/{incident}/postmortem")
    url = f"/api/v1/postmortems/{pm['id']}"
    early = await api(client, "PATCH", url, status=409, json={"status": "published"})
    assert early["error"]["current"] == "draft"
    assert "in_review" in early["error"]["hint"]
    clock.advance(hours=1)
    edited = await api(client, "PATCH", url, json={"body": "# Written", "status": "in_review"})
    assert (edited["status"], edited["body"], edited["updated_by"]) == (
        "in_review",
        "# Written",
        "admin",
    )
    published = await api(client, "PATCH", url, json={"status": "published"})
    assert published["published_at"] == "2026-11-28T12:10:00Z"
    locked = await api(client, "PATCH", url, status=409, json={"title": "Changed"})
    assert locked["error"]["current"] == "published"
    assert (await api(client, "GET", url))["title"] == "Post-mortem: Workflow500 on unknown"
    listed = await api(client, "GET", "/api/v1/postmortems", params={"status": "published"})
    assert [p["id"] for p in listed["items"]] == [pm["id"]]
    await api(client, "GET", "/api/v1/postmortems/999", status=404)
    await api(client, "PATCH", url, status=422, json={"status": "archived"})


async def test_an_unedited_draft_is_refreshed_when_a_flap_resolves_again(
    app: FastAPI, client: AsyncClient, clock: FakeClock
) -> None:
    incident = await scripted_incident(app, client, clock)
    t1 = clock.now + timedelta(minutes=2)
    assert await fire(client, "pm", t1) == incident  # reopened (flap)
    clock.now = t1 + timedelta(minutes=5)
    await end(client, "pm", t1, clock.now)
    await run(app, clock.now)
    pm = await api(client, "GET", f"/api/v1/incidents/{incident}/postmortem")
    assert "| Flaps | 1 |" in pm["body"]
    assert "| Time to resolve (MTTR) | 17m |" in pm["body"]


async def test_action_items_through_their_lifecycle(
    app: FastAPI, client: AsyncClient, clock: FakeClock
) -> None:
    incident = await scripted_incident(app, client, clock)
    pm = await api(client, "GET", f"/api/v1/incidents/{incident}/postmortem")
    items_url = f"/api/v1/postmortems/{pm['id']}/action-items"
    today = clock.now.date()
    late = await api(
        client,
        "POST",
        items_url,
        status=201,
        json={
            "title": "Alert on 5xx ratio",
            "owner": "ana",
            "due_date": str(today - timedelta(days=1)),
        },
    )
    soon = await api(
        client,
        "POST",
        items_url,
        status=201,
        json={"title": "Canary deploys", "owner": "bo", "due_date": str(today + timedelta(days=7))},
    )
    assert (late["status"], late["overdue"], late["incident_id"], late["runbook_class"]) == (
        "open",
        True,
        incident,
        W,
    )
    assert soon["overdue"] is False
    await api(
        client, "POST", items_url, status=422, json={"title": "no owner", "due_date": str(today)}
    )
    await api(client, "POST", "/api/v1/postmortems/999/action-items", status=404,
              json={"title": "x", "owner": "y", "due_date": str(today)})  # fmt: skip
    assert await gauge(client, "runbook_action_items_open", **{"class": W, "overdue": "true"}) == 1
    assert await gauge(client, "runbook_action_items_open", **{"class": W, "overdue": "false"}) == 1
    assert await gauge(client, "runbook_postmortems_pending", **{"class": W}) == 1

    clock.advance(hours=2)
    done = await api(client, "PATCH", f"/api/v1/action-items/{late['id']}", json={"status": "done"})
    assert (done["status"], done["done_at"], done["overdue"]) == (
        "done",
        "2026-11-28T13:10:00Z",
        False,
    )
    open_items = await api(client, "GET", "/api/v1/action-items", params={"status": "open"})
    assert [i["title"] for i in open_items["items"]] == ["Canary deploys"]
    assert await gauge(client, "runbook_action_items_open", **{"class": W, "overdue": "true"}) == 0
    moved = await api(
        client,
        "PATCH",
        f"/api/v1/action-items/{soon['id']}",
        json={"owner": "cy", "due_date": str(today - timedelta(days=2))},
    )
    assert (moved["owner"], moved["overdue"]) == ("cy", True)
    reopened = await api(
        client, "PATCH", f"/api/v1/action-items/{late['id']}", json={"status": "open"}
    )
    assert reopened["done_at"] is None
    full = await api(client, "GET", f"/api/v1/postmortems/{pm['id']}")
    assert [i["title"] for i in full["action_items"]] == ["Alert on 5xx ratio", "Canary deploys"]
    await api(client, "PATCH", "/api/v1/action-items/999", status=404, json={"status": "done"})
    for status in ("in_review", "published"):
        await api(client, "PATCH", f"/api/v1/postmortems/{pm['id']}", json={"status": status})
    assert await gauge(client, "runbook_postmortems_pending", **{"class": W}) == 0
    assert await gauge(client, "runbook_action_items_open", **{"class": W, "overdue": "true"}) == 2


async def test_a_recurrence_shows_the_open_items_of_its_predecessors(
    app: FastAPI, client: AsyncClient, clock: FakeClock
) -> None:
    t0 = clock.now
    first = await fire(client, "r", t0)
    await end(client, "r", t0, t0 + timedelta(minutes=5))
    await run(app, clock.now)
    pm = await api(client, "GET", f"/api/v1/incidents/{first}/postmortem")
    url = f"/api/v1/postmortems/{pm['id']}/action-items"
    due = str(t0.date() + timedelta(days=3))
    kept = await api(
        client,
        "POST",
        url,
        status=201,
        json={"title": "Fix retry", "owner": "ana", "due_date": due},
    )
    closed = await api(
        client, "POST", url, status=201, json={"title": "Docs", "owner": "bo", "due_date": due}
    )
    await api(client, "PATCH", f"/api/v1/action-items/{closed['id']}", json={"status": "done"})

    # Two hours later (past the flap window, within the recurrence window) it fires again.
    t1 = t0 + timedelta(hours=2)
    clock.now = t1
    second = await fire(client, "r", t1)
    got = await detail(client, second)
    assert got["recurrence_of"] == first
    assert [(i["id"], i["incident_id"]) for i in got["predecessor_action_items"]] == [
        (kept["id"], first)
    ]
    assert (await detail(client, first))["predecessor_action_items"] == []
    # A recurrence of the recurrence walks the whole chain.
    await end(client, "r", t1, t1 + timedelta(minutes=1))
    t2 = t1 + timedelta(hours=2)
    third = await fire(client, "r", t2)
    services = app.state.services
    with services.db.session() as session:
        items = open_items_of_predecessors(session, incident_id=third)
    assert [(i.id, i.incident_id) for i in items] == [(kept["id"], first)]
    await api(client, "PATCH", f"/api/v1/action-items/{kept['id']}", json={"status": "done"})
    assert (await detail(client, third))["predecessor_action_items"] == []


class TestRunbookOverridesConfig:
    """Config says ``warning``; the runbook's front matter says ``critical``: the runbook wins."""

    @pytest.fixture
    def rr_config(self, rr_config: dict[str, Any]) -> dict[str, Any]:
        return rr_config | {"postmortems": {"required_for": ["warning"]}}

    async def test_front_matter_required_for_wins(
        self, app: FastAPI, client: AsyncClient, clock: FakeClock
    ) -> None:
        meta = load_catalog(ROOT / "runbook_templates").runbooks[W].meta
        assert meta.postmortem.required_for == ["critical"]
        critical = await fire(client, "c", clock.now)
        warning = await fire(client, "w", clock.now, severity="warning")
        for incident in (critical, warning):
            await api(client, "POST", f"/api/v1/incidents/{incident}/resolve", json={})
        await run(app, clock.now)
        await api(client, "GET", f"/api/v1/incidents/{critical}/postmortem")
        await api(client, "GET", f"/api/v1/incidents/{warning}/postmortem", status=404)
