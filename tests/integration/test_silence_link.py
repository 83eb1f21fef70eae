"""The silence link uses the Alertmanager that sent the alert (its externalURL)."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from httpx import AsyncClient

from tests.conftest import WEBHOOK, admin_headers, ingest_headers, load_fixture

pytestmark = pytest.mark.anyio


async def test_silence_link_points_at_the_sending_alertmanager(client: AsyncClient) -> None:
    body = load_fixture("firing.json")
    assert (await client.post(WEBHOOK, json=body, headers=ingest_headers())).status_code == 200
    labels = body["alerts"][0]["labels"]
    response = await client.get(
        "/api/v1/runbooks/workflow-500", params=labels, headers=admin_headers()
    )
    links = response.json()["links"]
    assert links["silence"].startswith("http://127.0.0.1:54491/#/silences/new?filter=")
    assert unquote(links["silence"].split("filter=", 1)[1]) == (
        '{alertname="Workflow500",service="workflow-api",severity="critical"}'
    )


async def test_unsafe_external_url_falls_back_to_the_configured_one(client: AsyncClient) -> None:
    body = {**load_fixture("firing.json"), "externalURL": "javascript:alert(1)"}
    assert (await client.post(WEBHOOK, json=body, headers=ingest_headers())).status_code == 200
    labels = body["alerts"][0]["labels"]
    response = await client.get(
        "/api/v1/runbooks/workflow-500", params=labels, headers=admin_headers()
    )
    assert response.json()["links"]["silence"].startswith("http://127.0.0.1:9093/#/silences/new")
