"""Notifications that reach nobody are visible (issue 11, item 2): counted as ``skipped`` in
``runbook_notifications_total``, named with their reason in the timeline and on the incident
page, and announced on the board while a policy step has no usable channel."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import FakeClock, admin_headers
from tests.integration.escalation.support import detail, fire, notifications, run

pytestmark = pytest.mark.anyio
LEAD_UNSET = "environment variable RR_TEST_LEAD_URL is unset"


async def notifications_total(client: AsyncClient, channel: str, outcome: str) -> float | None:
    text = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "runbook_notifications_total" and sample.labels == {
                "channel": channel,
                "outcome": outcome,
            }:
                return sample.value
    return None


class TestLeadUnset:
    @pytest.fixture
    def rr_config(self, rr_config: dict[str, Any]) -> dict[str, Any]:
        """``notify_on`` messages go to primary and lead; the 30 m step only to lead."""
        rr_config["escalation"]["default"]["notify"] = ["primary", "lead"]
        return rr_config

    @pytest.fixture
    def rr_env(self, rr_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
        monkeypatch.delenv("RR_TEST_LEAD_URL", raising=False)
        return {k: v for k, v in rr_env.items() if k != "RR_TEST_LEAD_URL"}

    async def test_skipped_messages_are_counted_shown_and_explained(
        self, app: FastAPI, client: AsyncClient, clock: FakeClock
    ) -> None:
        assert await notifications_total(client, "lead", "skipped") == 0  # pre-initialised
        assert await notifications_total(client, "primary", "skipped") == 0
        t0 = clock.now
        incident = await fire(client, "a", t0)
        await run(app, t0)  # open message to lead: skipped; level 1 to primary: sent
        assert await notifications_total(client, "lead", "skipped") == 1
        await run(app, t0 + timedelta(minutes=30))  # levels 2 (secondary) and 3 (lead)
        assert await notifications_total(client, "lead", "skipped") == 2
        assert await notifications_total(client, "primary", "skipped") == 0
        skipped = [n for n in await notifications(client, incident) if n["state"] == "skipped"]
        assert [(n["channel"], n["kind"]) for n in skipped] == [
            ("lead", "open"),
            ("lead", "escalation"),
        ]

        steps = [
            e for e in (await detail(client, incident))["timeline"] if e["kind"] == "escalated"
        ]
        assert [e["detail"]["skipped"] for e in steps] == [{}, {}, {"lead": LEAD_UNSET}]

        page = await client.get(f"/incidents/{incident}", headers=admin_headers())
        assert page.status_code == 200
        text = html.unescape(page.text)
        assert "level 1 to primary</li>" in text
        assert f"level 3 to lead — skipped: {LEAD_UNSET}" in text
        assert f"Not notified: lead ({LEAD_UNSET})" in text

    async def test_the_board_warns_while_a_step_reaches_nobody(self, client: AsyncClient) -> None:
        board = await client.get("/", headers=admin_headers())
        assert board.status_code == 200
        lines = [line for line in html.unescape(board.text).splitlines() if "reach nobody" in line]
        assert len(lines) == 1
        assert "default step 3 (after 30m): lead — " + LEAD_UNSET in lines[0]


async def test_no_warning_when_every_step_has_a_channel(client: AsyncClient) -> None:
    board = await client.get("/", headers=admin_headers())
    assert board.status_code == 200
    assert "reach nobody" not in board.text
