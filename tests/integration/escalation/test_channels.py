"""Channel formats: Slack (a third-party endpoint, through pytest-httpx) and e-mail over a
real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from httpx import AsyncClient
from pytest_httpx import HTTPXMock

from tests.conftest import FakeClock, admin_headers
from tests.integration.escalation.support import Mailbox, fire, notifications, run

pytestmark = pytest.mark.anyio
SLACK = "https://hooks.slack.test/services/T0001/B0002/XsecretXtokenX"


def on_slack(request: httpx.Request) -> bool:
    return request.url.host == "hooks.slack.test"


class TestSlack:
    @pytest.fixture
    def rr_config(self, rr_config: dict[str, Any]) -> dict[str, Any]:
        rr_config["channels"]["chat"] = {"type": "slack", "url_env": "RR_TEST_SLACK_URL"}
        rr_config["escalation"]["default"]["steps"] = [{"after": "0s", "notify": ["chat"]}]
        return rr_config

    @pytest.fixture
    def rr_env(self, rr_env: dict[str, str]) -> dict[str, str]:
        return rr_env | {"RR_TEST_SLACK_URL": SLACK}

    @pytest.mark.httpx_mock(should_mock=on_slack)
    async def test_slack_text_has_the_runbook_and_ack_links(
        self, app: FastAPI, client: AsyncClient, clock: FakeClock, httpx_mock: HTTPXMock
    ) -> None:
        httpx_mock.add_response(url=SLACK, method="POST", text="ok")
        incident = await fire(client, "a", clock.now)
        assert (await run(app, clock.now)).sent == 1
        [request] = httpx_mock.get_requests()
        [row] = await notifications(client, incident)
        assert request.headers["Idempotency-Key"] == row["key"]
        text = request.read().decode()
        body: dict[str, str] = httpx.Response(200, content=text).json()
        assert set(body) == {"text"}
        lines = body["text"].split("\n")
        assert lines[0] == f"Incident #{incident} opened: Workflow500 on unknown"
        runbook = "https://rr.example.test/runbooks/workflow-500?alertname=Workflow500"
        ack = f"https://rr.example.test/incidents/{incident}"
        assert lines[1] == f"<{runbook}|Runbook> · <{ack}|Acknowledge>"

    @pytest.mark.httpx_mock(should_mock=on_slack)
    async def test_a_slack_failure_is_logged_without_the_webhook_url(
        self,
        app: FastAPI,
        client: AsyncClient,
        clock: FakeClock,
        httpx_mock: HTTPXMock,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        httpx_mock.add_response(url=SLACK, method="POST", status_code=500, text="rollup_error")
        httpx_mock.add_exception(httpx.ConnectError(f"cannot reach {SLACK}"), url=SLACK)
        httpx_mock.add_response(url=SLACK, method="POST", text="ok")
        caplog.set_level(logging.INFO)
        incident = await fire(client, "a", clock.now)
        await run(app, clock.now)
        clock.advance(seconds=30)
        await run(app, clock.now)
        failures = [r for r in caplog.records if r.getMessage() == "notification attempt failed"]
        reasons = [r.__dict__["reason"] for r in failures]
        assert reasons == ["HTTP 500: rollup_error", "ConnectError: cannot reach <url>"]
        assert all(r.__dict__["channel"] == "chat" for r in failures)
        assert not any("XsecretXtokenX" in str(vars(r)) for r in caplog.records)
        clock.advance(seconds=60)
        await run(app, clock.now)
        [row] = await notifications(client, incident)
        assert (row["state"], row["attempts"]) == ("sent", 3)
        assert "XsecretXtokenX" not in row["last_error"]


class _EmailChannel:
    @pytest.fixture
    def rr_config(
        self, rr_config: dict[str, Any], smtp: tuple[Mailbox, Controller]
    ) -> dict[str, Any]:
        rr_config["channels"]["mail"] = {
            "type": "email",
            "to": ["lead@example.test", "oncall@example.test"],
            "sender": "rr@example.test",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp[1].port,
            "tls": "none",
            "username_env": "RR_TEST_SMTP_USER",
            "password_env": "RR_TEST_SMTP_PASSWORD",
        }
        rr_config["escalation"]["default"]["steps"] = [{"after": "0s", "notify": ["mail"]}]
        return rr_config

    @pytest.fixture
    def rr_env(self, rr_env: dict[str, str]) -> dict[str, str]:
        return rr_env | {"RR_TEST_SMTP_USER": "alerts", "RR_TEST_SMTP_PASSWORD": "s3cret"}


class TestEmail(_EmailChannel):
    async def test_email_goes_through_smtp_with_credentials_from_the_environment(
        self,
        app: FastAPI,
        client: AsyncClient,
        clock: FakeClock,
        smtp: tuple[Mailbox, Controller],
    ) -> None:
        mailbox = smtp[0]
        incident = await fire(client, "a", clock.now)
        assert (await run(app, clock.now)).sent == 1
        clock.advance(minutes=3)
        ack = await client.post(f"/api/v1/incidents/{incident}/ack", headers=admin_headers())
        assert ack.status_code == 200
        assert (await run(app, clock.now)).sent == 1
        assert mailbox.logins == [("alerts", "s3cret")] * 2
        (first, opened), (_, acked) = mailbox.messages
        assert first.mail_from == "rr@example.test"
        assert first.rcpt_tos == ["lead@example.test", "oncall@example.test"]
        rows = await notifications(client, incident)
        assert opened["Message-ID"] == f"<{rows[0]['key']}@runbook-router>"
        assert opened["Idempotency-Key"] == rows[0]["key"]
        assert opened["Subject"] == f"Incident #{incident} opened: Workflow500 on unknown"
        body = opened.get_payload(decode=True)
        assert isinstance(body, bytes), body
        text = body.decode()
        assert "Runbook: https://rr.example.test/runbooks/workflow-500" in text
        assert f"Acknowledge: https://rr.example.test/incidents/{incident}" in text
        assert acked["Subject"].startswith(f"Incident #{incident} acknowledged by admin")


class TestRejectedCredentials(_EmailChannel):
    @pytest.fixture
    def rr_env(self, rr_env: dict[str, str]) -> dict[str, str]:
        return rr_env | {"RR_TEST_SMTP_USER": "alerts", "RR_TEST_SMTP_PASSWORD": "wrong"}

    async def test_rejected_credentials_fail_without_retry(
        self, app: FastAPI, client: AsyncClient, clock: FakeClock
    ) -> None:
        incident = await fire(client, "a", clock.now)
        assert (await run(app, clock.now)).failed == 1
        [row] = await notifications(client, incident)
        assert (row["state"], row["attempts"]) == ("failed", 1)
        assert row["last_error"].startswith("SMTP 535")
