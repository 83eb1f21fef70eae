"""The pages engineers land on, and the runbook API, over ASGI on SQLite and PostgreSQL.

A private catalog (``tmp_path``) with small runbooks of known content: ``svc-down`` (labels in
the body, escaped and raw), ``broken`` (an undefined label on a known line) and ``divide``
(a runtime error), plus the required ``generic`` fallback.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from httpx import AsyncClient

from app.settings import Settings
from tests.conftest import WEBHOOK, FakeClock, admin_headers, ingest_headers
from tests.factories import alert, payload
from tests.runbook_support import (
    Page,
    parse_metrics,
    private_settings,
    sample,
    write_catalog,
    write_config,
)

pytestmark = pytest.mark.anyio

SVC_DOWN = """---
class: svc-down
title: Service down
team: platform
severity: critical
priority: 10
match:
  - '{alertname="SvcDown"}'
checklist:
  - {id: probe-me, text: "Probe /api/v1/me as a standard user"}
  - {id: restart, text: "Restart the service"}
links:
  - {title: Service docs, url: "https://docs.example.com/svc"}
---
# {{ title }}

Service: {{ labels.get('service', 'unknown') | md }}

Raw service: {{ labels.get('service', 'unknown') }}

{% if incident %}Incident #{{ incident.id }} is {{ incident.status }}.
{%- else %}No incident.{% endif %}
"""

BROKEN = """---
class: broken
title: Broken runbook
team: platform
match:
  - '{alertname="Broken"}'
checklist:
  - {id: first-step, text: "Do the first step anyway"}
---
# {{ title }}

Fine so far.
{{ labels.no_such_label }}
"""
BROKEN_LINE = 13

DIVIDE = """---
class: divide
title: Divides by zero
match:
  - '{alertname="Divide"}'
checklist:
  - {id: still-here, text: "The checklist survives"}
---
# {{ title }}
{{ 1 / 0 }}
"""

CLASSES = ["broken", "divide", "generic", "svc-down"]
GRAFANA = "https://grafana.example.com"
ALERTMANAGER = "https://am.example.com"
BASE = "https://rr.example.com"
HTML = {"Accept": "text/html,application/xhtml+xml", **admin_headers()}
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
# For what does not depend on the database (catalog, rendering, errors): SQLite only.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    catalog = write_catalog(
        tmp_path / "catalog", {"svc-down": SVC_DOWN, "broken": BROKEN, "divide": DIVIDE}
    )
    config = write_config(
        tmp_path / "config.yaml",
        {
            "enrichment": {
                "grafana_url": GRAFANA,
                "alertmanager_url": ALERTMANAGER,
                "logs_url": "https://logs.example.com/search?q={query}",
            }
        },
    )
    return private_settings(
        database_url=database_url, tmp_path=tmp_path, catalog=catalog, config=config
    )


async def ingest(
    client: AsyncClient,
    *alerts: dict[str, Any],
    common: dict[str, str] | None = None,
    group_key: str | None = None,
) -> list[int]:
    extra = {"commonLabels": common} if common is not None else {}
    body = payload(*alerts, group_key=group_key, **extra)
    response = await client.post(WEBHOOK, json=body, headers=ingest_headers())
    assert response.status_code == 200, response.text
    incidents: list[int] = response.json()["incidents"]
    return incidents


async def svc_down(
    client: AsyncClient, clock: FakeClock, *, service: str = "api", **extra: str
) -> int:
    """One firing SvcDown alert that started 10 minutes ago; the incident id."""
    firing = alert(
        "fp-svc", starts_at=clock.now - timedelta(minutes=10), alertname="SvcDown", service=service
    )
    firing["labels"].update(extra)
    (incident_id,) = await ingest(
        client, firing, common={"alertname": "SvcDown", "service": service}
    )
    return incident_id


async def page(client: AsyncClient, url: str, **params: str) -> Page:
    response = await client.get(url, params=params, headers=HTML)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return Page(response.text)


async def incident_json(client: AsyncClient, incident_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/incidents/{incident_id}", headers=admin_headers())
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


# --- /runbooks/{class}?labels ---------------------------------------------------------------------


async def test_runbook_page_shows_the_open_incident_its_labels_match_and_only_that(
    client: AsyncClient, clock: FakeClock
) -> None:
    incident_id = await svc_down(client, clock)

    found = await page(
        client, "/runbooks/svc-down", alertname="SvcDown", service="api", instance="web-1"
    )

    assert f"Open incident #{incident_id}: SvcDown on api" in found.text
    assert found.link(f"#{incident_id}: SvcDown on api") == f"{BASE}/incidents/{incident_id}"
    assert "No open incident" not in found.text
    assert f"Incident #{incident_id} is triggered." in found.text
    assert "Probe /api/v1/me as a standard user" in found.text
    assert found.link("Service docs") == "https://docs.example.com/svc"
    assert "since 2026-11-28 10:50 UTC" in found.text

    # Times follow ``?tz=`` (an unknown zone falls back to UTC); tz is not a label.
    berlin = await page(
        client, "/runbooks/svc-down", alertname="SvcDown", service="api", tz="Europe/Berlin"
    )
    assert "since 2026-11-28 11:50 CET" in berlin.text
    assert f"Open incident #{incident_id}" in berlin.text
    nowhere = await page(
        client, "/runbooks/svc-down", alertname="SvcDown", service="api", tz="Nowhere/Atlantis"
    )
    assert "since 2026-11-28 10:50 UTC" in nowhere.text

    # Labels of another service match nothing.
    other = await page(client, "/runbooks/svc-down", alertname="SvcDown", service="billing")
    assert "No open incident matches these labels." in other.text
    assert "Open incident #" not in other.text
    assert "No incident." in other.text

    # Resolved by Alertmanager: the same labels no longer point at it.
    ended = alert(
        "fp-svc",
        starts_at=clock.now - timedelta(minutes=10),
        ends_at=clock.now,
        alertname="SvcDown",
        service="api",
    )
    await ingest(client, ended, common={"alertname": "SvcDown", "service": "api"})
    resolved = await page(client, "/runbooks/svc-down", alertname="SvcDown", service="api")
    assert "No open incident matches these labels." in resolved.text


@SQLITE_ONLY
async def test_hostile_label_values_are_escaped_on_the_runbook_page(client: AsyncClient) -> None:
    for runbook_class in ("svc-down", "generic"):
        response = await client.get(
            f"/runbooks/{runbook_class}",
            params={"service": SCRIPT, "alertname": IMG, "<b>key</b>": "x"},
            headers=HTML,
        )
        assert response.status_code == 200
        assert SCRIPT not in response.text
        assert "<img" not in response.text
        assert "<b>key</b>" not in response.text
        found = Page(response.text)
        assert not found.tag_names & {"script", "img", "b"}
        assert not {name for name in found.attribute_names() if name.startswith("on")}
        # The values are still there, as text.
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
        assert SCRIPT in found.text


async def test_hostile_label_values_are_escaped_on_the_incident_page(
    client: AsyncClient, clock: FakeClock
) -> None:
    incident_id = await svc_down(client, clock, service=SCRIPT, owner=IMG)
    response = await client.get(f"/incidents/{incident_id}", headers=HTML)
    assert response.status_code == 200
    assert SCRIPT not in response.text
    assert "<img" not in response.text
    found = Page(response.text)
    assert not found.tag_names & {"script", "img"}
    assert not {name for name in found.attribute_names() if name.startswith("on")}
    assert f"SvcDown on {SCRIPT}" in found.text  # the title, shown as text


# --- /incidents/{id}: first view ---------------------------------------------------------------


async def first_view_samples(client: AsyncClient) -> tuple[float | None, float | None]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    samples = parse_metrics(response.text)
    name = "runbook_incident_first_view_seconds"
    labels = {"class": "svc-down"}
    return sample(samples, f"{name}_count", **labels), sample(samples, f"{name}_sum", **labels)


async def test_incident_page_records_the_first_view_exactly_once(
    client: AsyncClient, clock: FakeClock
) -> None:
    incident_id = await svc_down(client, clock)
    started = clock.now - timedelta(minutes=10)
    assert await first_view_samples(client) == (0, 0)

    first = clock.advance(minutes=7)
    shown = await page(client, f"/incidents/{incident_id}")
    assert "Probe /api/v1/me as a standard user" in shown.text

    data = await incident_json(client, incident_id)
    assert at(data["first_viewed_at"]) == first
    views = [e for e in data["timeline"] if e["kind"] == "first_viewed"]
    assert [(e["actor"], at(e["at"])) for e in views] == [("admin", first)]
    assert await first_view_samples(client) == (1, (first - started).total_seconds())

    clock.advance(minutes=5)
    again = await page(client, f"/incidents/{incident_id}")
    assert "first viewed by admin" in again.text

    data = await incident_json(client, incident_id)
    assert at(data["first_viewed_at"]) == first
    assert [e["kind"] for e in data["timeline"]].count("first_viewed") == 1
    assert await first_view_samples(client) == (1, 17 * 60)


async def test_concurrent_first_views_count_once(client: AsyncClient, clock: FakeClock) -> None:
    incident_id = await svc_down(client, clock)
    clock.advance(minutes=2)

    responses = await asyncio.gather(
        *(client.get(f"/incidents/{incident_id}", headers=HTML) for _ in range(5))
    )

    assert [r.status_code for r in responses] == [200] * 5
    data = await incident_json(client, incident_id)
    assert [e["kind"] for e in data["timeline"]].count("first_viewed") == 1
    assert await first_view_samples(client) == (1, 12 * 60)


async def test_the_api_render_is_not_a_view_but_the_matching_runbook_page_is(
    client: AsyncClient, clock: FakeClock
) -> None:
    incident_id = await svc_down(client, clock)
    response = await client.get(
        "/api/v1/runbooks/svc-down",
        params={"alertname": "SvcDown", "service": "api"},
        headers=admin_headers(),
    )
    assert response.status_code == 200
    assert response.json()["incident"]["id"] == incident_id
    assert (await incident_json(client, incident_id))["first_viewed_at"] is None

    viewed = clock.advance(minutes=1)
    await page(client, "/runbooks/svc-down", alertname="SvcDown", service="api")
    assert at((await incident_json(client, incident_id))["first_viewed_at"]) == viewed


# --- template errors ----------------------------------------------------------------------------


async def test_template_error_shows_file_and_line_and_keeps_the_checklist(
    client: AsyncClient, clock: FakeClock
) -> None:
    firing = alert("fp-broken", starts_at=clock.now, alertname="Broken", service="api")
    (incident_id,) = await ingest(client, firing)

    for url, params in (
        (f"/incidents/{incident_id}", {}),
        ("/runbooks/broken", {"alertname": "Broken"}),
    ):
        shown = await page(client, url, **params)
        assert "This runbook could not be rendered" in shown.text, url
        assert f"broken.md.j2:{BROKEN_LINE}" in shown.text, url
        assert "no_such_label" in shown.text, url
        assert "Do the first step anyway" in shown.text, url
        assert shown.has_link("Silence in Alertmanager"), url
        assert "team platform" in shown.text

    response = await client.get("/api/v1/runbooks/broken", headers=admin_headers())
    assert response.status_code == 200
    data = response.json()
    assert data["error"]["file"] == "broken.md.j2"
    assert data["error"]["line"] == BROKEN_LINE
    assert "no_such_label" in data["error"]["message"]
    assert data["markdown"] == ""
    assert [step["id"] for step in data["checklist"]] == ["first-step"]


@SQLITE_ONLY
async def test_runtime_template_error_still_renders_the_page(client: AsyncClient) -> None:
    response = await client.get("/runbooks/divide", headers=HTML)
    assert response.status_code == 200, response.text
    shown = Page(response.text)
    assert "This runbook could not be rendered" in shown.text
    assert "divide.md.j2:10" in shown.text
    assert "The checklist survives" in shown.text


# --- /api/v1/runbooks --------------------------------------------------------------------------


@SQLITE_ONLY
async def test_api_lists_every_runbook(client: AsyncClient) -> None:
    response = await client.get("/api/v1/runbooks", headers=admin_headers())
    assert response.status_code == 200
    items = {item["class"]: item for item in response.json()["items"]}
    assert sorted(items) == CLASSES
    svc = items["svc-down"]
    assert svc["title"] == "Service down"
    assert svc["team"] == "platform"
    assert svc["match"] == ['{alertname="SvcDown"}']
    assert [c["id"] for c in svc["checklist"]] == ["probe-me", "restart"]
    assert svc["url"] == f"{BASE}/runbooks/svc-down"
    assert items["generic"]["team"] is None


@SQLITE_ONLY
async def test_api_renders_json_markdown_and_html(client: AsyncClient) -> None:
    params = {"service": "api", "alertname": "SvcDown"}
    as_json = await client.get("/api/v1/runbooks/svc-down", params=params, headers=admin_headers())
    assert as_json.status_code == 200
    data = as_json.json()
    assert data["class"] == "svc-down"
    assert data["labels"] == params
    assert data["incident"] is None
    assert data["error"] is None
    assert data["markdown"].startswith("# Service down\n\nService: api\n")
    assert "<h1>Service down</h1>" in data["html"]
    assert data["links"]["runbook"] == f"{BASE}/runbooks/svc-down?alertname=SvcDown&service=api"

    as_md = await client.get(
        "/api/v1/runbooks/svc-down", params={**params, "format": "md"}, headers=admin_headers()
    )
    assert as_md.status_code == 200
    assert as_md.headers["content-type"].startswith("text/markdown")
    assert as_md.text == data["markdown"]

    as_html = await client.get(
        "/api/v1/runbooks/svc-down", params={**params, "format": "html"}, headers=admin_headers()
    )
    assert as_html.status_code == 200
    assert as_html.headers["content-type"].startswith("text/html")
    assert as_html.text == data["html"]

    bad = await client.get(
        "/api/v1/runbooks/svc-down", params={"format": "pdf"}, headers=admin_headers()
    )
    assert bad.status_code == 422
    assert "format" in bad.json()["error"]["message"]


@SQLITE_ONLY
async def test_unknown_runbook_is_a_404_naming_the_known_ones(client: AsyncClient) -> None:
    response = await client.get("/api/v1/runbooks/no-such-class", headers=admin_headers())
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "no-such-class" in error["message"]
    assert f"known runbooks: {', '.join(CLASSES)}" in error["hint"]

    # The browser route: a readable page for people, JSON for scripts.
    response = await client.get("/runbooks/no-such-class", headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    shown = Page(response.text)
    assert "Not found" in shown.text
    assert "no runbook named 'no-such-class'" in shown.text
    assert "known runbooks: broken, divide, generic, svc-down" in shown.text

    as_machine = await client.get("/runbooks/no-such-class", headers=admin_headers())
    assert as_machine.status_code == 404
    assert as_machine.json()["error"]["code"] == "not_found"


async def test_without_a_valid_token_api_is_401_json_and_pages_send_people_to_sign_in(
    client: AsyncClient, clock: FakeClock
) -> None:
    incident_id = await svc_down(client, clock)
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Basic Zm9vOmJhcg=="},
    ):
        for url in ("/api/v1/runbooks", "/api/v1/runbooks/svc-down"):
            response = await client.get(url, headers={"Accept": "text/html", **headers})
            assert response.status_code == 401, (url, headers)
            assert response.json()["error"]["code"] == "unauthorized", url
            assert response.headers["www-authenticate"].startswith("Bearer"), url

        for url in ("/runbooks/svc-down?service=a%26b", f"/incidents/{incident_id}"):
            response = await client.get(url, headers={"Accept": "text/html", **headers})
            assert response.status_code == 303, (url, headers)
            location = urlsplit(response.headers["location"])
            assert location.path == "/login", url
            assert parse_qs(location.query)["next"] == [url]
            login = await client.get(response.headers["location"], headers={"Accept": "text/html"})
            assert login.status_code == 200
            assert login.headers["content-type"].startswith("text/html")

            as_script = await client.get(url, headers=headers)
            assert as_script.status_code == 401, (url, headers)
            assert as_script.json()["error"]["code"] == "unauthorized", url

    # Nobody signed in looked at it.
    assert (await incident_json(client, incident_id))["first_viewed_at"] is None


# --- links ----------------------------------------------------------------------------------------


async def test_incident_links_silence_grafana_and_generator(
    client: AsyncClient, clock: FakeClock
) -> None:
    service = 'a "b"&c/d#e'
    incident_id = await svc_down(client, clock, service=service)
    started = clock.now - timedelta(minutes=10)
    now = clock.advance(minutes=3)

    shown = await page(client, f"/incidents/{incident_id}")

    silence = shown.link("Silence in Alertmanager")
    prefix = "http://alertmanager:9093/#/silences/new?filter="  # the payload's externalURL
    assert silence.startswith(prefix)
    encoded = silence.removeprefix(prefix)
    assert not set(encoded) & set('&#/?= {}"')
    assert unquote(encoded) == (
        '{alertname="SvcDown",service="a \\"b\\"&c/d#e",severity="critical"}'
    )

    grafana = urlsplit(shown.link("Grafana dashboard"))
    assert f"{grafana.scheme}://{grafana.netloc}" == GRAFANA
    assert grafana.path == "/d/runbook-router-kpis"
    query = parse_qs(grafana.query)
    assert query["from"] == [str(int((started - timedelta(minutes=15)).timestamp() * 1000))]
    assert query["to"] == [str(int((now + timedelta(minutes=15)).timestamp() * 1000))]
    assert query["var-class"] == ["svc-down"]

    assert shown.link("Prometheus graph") == "http://prometheus:9090/graph"
    assert shown.link("Incident") == f"{BASE}/incidents/{incident_id}"
    logs = urlsplit(shown.link("Logs"))
    assert parse_qs(logs.query)["q"][0] == 'service="a \\"b\\"&c/d#e"'

    # Once resolved, the Grafana range ends 15 minutes after the resolution, not "now".
    ended_at = now - timedelta(minutes=1)
    ended = alert(
        "fp-svc", starts_at=started, ends_at=ended_at, alertname="SvcDown", service=service
    )
    await ingest(client, ended, common={"alertname": "SvcDown", "service": service})
    clock.advance(hours=3)
    resolved = await page(client, f"/incidents/{incident_id}")
    query = parse_qs(urlsplit(resolved.link("Grafana dashboard")).query)
    assert query["from"] == [str(int((started - timedelta(minutes=15)).timestamp() * 1000))]
    assert query["to"] == [str(int((ended_at + timedelta(minutes=15)).timestamp() * 1000))]


async def test_javascript_generator_url_is_dropped(client: AsyncClient, clock: FakeClock) -> None:
    for n, generator in enumerate(
        ["javascript:alert(document.cookie)", " JavaScript:alert(1)", "java\tscript:alert(1)"]
    ):
        firing = alert(f"fp-js-{n}", starts_at=clock.now, alertname="SvcDown", service="api")
        firing["generatorURL"] = generator
        (incident_id,) = await ingest(client, firing, group_key=f"js-{n}")

        response = await client.get(f"/incidents/{incident_id}", headers=HTML)
        assert response.status_code == 200
        shown = Page(response.text)
        assert not shown.has_link("Prometheus graph"), generator
        assert all("script:" not in href.lower() for href, _ in shown.links), generator
        assert shown.has_link("Silence in Alertmanager")

        api = await client.get(
            "/api/v1/runbooks/svc-down",
            params={"alertname": "SvcDown", "service": "api"},
            headers=admin_headers(),
        )
        data = api.json()
        assert data["incident"]["id"] == incident_id
        assert data["links"]["generator"] is None, generator
