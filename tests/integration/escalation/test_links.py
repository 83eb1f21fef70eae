"""The API, the incident page and every notification carry the same links to our pages,
quoted, even when the runbook class and the labels hold characters that end a URL."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from app.settings import Settings
from tests.conftest import ROOT, WEBHOOK, FakeClock, admin_headers, ingest_headers
from tests.factories import alert, payload
from tests.integration.escalation.support import Receiver, detail, run
from tests.runbook_support import Page

pytestmark = pytest.mark.anyio

CLASS = "disk 50% full? #1 & ü"  # a runbook file name: every character here needs quoting
LABELS = {
    "alertname": "DiskFull",
    "mount": "/var/lib/a b&c=d#e",
    "owner": "Zoë <ops|db>",
    "note": "100%+1?",
}
RUNBOOK = f"""---
class: {CLASS!r}
title: Disk full
match: ['{{alertname="DiskFull"}}']
---
# {{{{ title }}}}
"""
SLACK_LINK = re.compile(r"<([^|>]+)\|(Runbook|Acknowledge)>")


@pytest.fixture
def rr_config(rr_config: dict[str, Any]) -> dict[str, Any]:
    """The first step also posts Slack text (to the same receiver)."""
    rr_config["channels"]["chat"] = {"type": "slack", "url_env": "RR_TEST_CHAT_URL"}
    rr_config["escalation"]["default"]["steps"][0]["notify"] = ["primary", "chat"]
    return rr_config


@pytest.fixture
def settings(
    settings: Settings, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("RR_TEST_CHAT_URL", receiver.url("/chat"))
    catalog = tmp_path / "catalog"
    shutil.copytree(ROOT / "runbook_templates", catalog)
    (catalog / f"{CLASS}.md.j2").write_text(RUNBOOK, encoding="utf-8")
    return settings.model_copy(update={"catalog_dir": catalog})


def check_runbook_url(url: str) -> None:
    """The class is one path segment and the labels are the query, each read back intact."""
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.fragment) == ("https", "rr.example.test", "")
    prefix, segment = parts.path.rsplit("/", 1)
    assert (prefix, unquote(segment)) == ("/runbooks", CLASS)
    assert dict(parse_qsl(parts.query, strict_parsing=True)) == LABELS


async def test_the_api_the_page_and_notifications_carry_the_same_quoted_links(
    app: FastAPI, client: AsyncClient, clock: FakeClock, receiver: Receiver
) -> None:
    body = payload(alert("d1", starts_at=clock.now, ends_at=None, **LABELS), commonLabels=LABELS)
    response = await client.post(WEBHOOK, json=body, headers=ingest_headers())
    assert response.status_code == 200, response.text
    [incident_id] = response.json()["incidents"]
    incident_link = f"https://rr.example.test/incidents/{incident_id}"

    api = await detail(client, incident_id)
    assert api["runbook_class"] == CLASS
    runbook_link = api["runbook_url"]
    check_runbook_url(runbook_link)

    page = await client.get(f"/incidents/{incident_id}", headers=admin_headers())
    assert page.status_code == 200, page.text
    hrefs = {href for href, _ in Page(page.text).links}
    assert {runbook_link, incident_link} <= hrefs

    assert (await run(app, clock.now)).sent == 2
    [webhook] = receiver.accepted("/primary")
    assert webhook.body["incident"]["runbook_url"] == runbook_link
    assert webhook.body["incident"]["url"] == incident_link
    assert f"Runbook: {runbook_link}\nAcknowledge: {incident_link}" in webhook.body["text"]
    [chat] = receiver.accepted("/chat")
    links = dict((label, url) for url, label in SLACK_LINK.findall(chat.body["text"]))
    assert links == {"Runbook": runbook_link, "Acknowledge": incident_link}
