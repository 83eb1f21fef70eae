"""The worker survives a message it cannot compose as is (issue 11, item 1), end to end.

A real ``runbook-router serve`` process sends e-mail to a real SMTP server (aiosmtpd) on
loopback. The first incident's title (its alert's ``summary``) holds a line break, which used
to raise ``ValueError`` while composing the e-mail and end the worker task for good: no
notification on any channel, ever again, and ``/readyz`` still 200.

The chosen behaviour: header values are sanitised (control characters, line breaks
included, become spaces), so that message is delivered with a one-line subject and no
injected header. The second incident's message arrives too, which proves the worker lives.
"""

from __future__ import annotations

import email.message
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from harness.server import ServerProcess
from tests.conftest import WEBHOOK, admin_headers, ingest_headers, server_env
from tests.e2e.conftest import ServiceLogs
from tests.factories import alert, payload
from tests.integration.escalation.support import Mailbox, start_smtp
from tests.services import wait_until

pytestmark = pytest.mark.e2e

WAIT = 30.0


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    found, controller = start_smtp()
    yield found, controller.port
    controller.stop()


@pytest.fixture
def server(
    database_url: str,
    mailbox: tuple[Mailbox, int],
    tmp_path: Path,
    service_logs: ServiceLogs,
) -> Iterator[ServerProcess]:
    config = tmp_path / "runbook-router.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "worker": {"interval": "200ms"},
                "channels": {
                    "mail": {
                        "type": "email",
                        "to": ["oncall@example.test"],
                        "sender": "rr@example.test",
                        "smtp_host": "127.0.0.1",
                        "smtp_port": mailbox[1],
                        "tls": "none",
                    }
                },
                "escalation": {
                    "default": {"notify_on": [], "steps": [{"after": "0s", "notify": ["mail"]}]}
                },
                "notifications": {"timeout": "5s"},
            }
        )
    )
    env = server_env(database_url, tmp_path / "data", RUNBOOK_ROUTER_CONFIG=str(config))
    log_path = service_logs.register("runbook-router", tmp_path / "runbook-router.log")
    process = ServerProcess(env, log_path)
    try:
        yield process.start()
    finally:
        process.stop()


def open_incident(server: ServerProcess, fingerprint: str, summary: str) -> int:
    firing = alert(fingerprint, starts_at=datetime.now(UTC).replace(microsecond=0))
    firing["annotations"]["summary"] = summary
    body = payload(firing, group_key=f"{{}}:{fingerprint}")
    response = httpx.post(f"{server.url}{WEBHOOK}", json=body, headers=ingest_headers())
    assert response.status_code == 200, response.text
    return int(response.json()["incidents"][0])


def mail_for(mailbox: Mailbox, incident: int) -> list[email.message.Message]:
    prefix = f"Incident #{incident} "
    return [m for _, m in list(mailbox.messages) if str(m["Subject"]).startswith(prefix)]


def outbox(server: ServerProcess, incident: int) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{server.url}/api/v1/notifications",
        params={"incident": str(incident)},
        headers=admin_headers(),
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_newline_in_a_title_does_not_stop_the_worker(
    server: ServerProcess, mailbox: tuple[Mailbox, int]
) -> None:
    box = mailbox[0]
    hostile = open_incident(server, "hostile", "Disk full on db-1\nBcc: everyone@example.test")
    wait_until(lambda: bool(mail_for(box, hostile)), timeout=WAIT, what="the first e-mail")
    [first] = mail_for(box, hostile)
    assert first["Subject"] == (
        f"Incident #{hostile} opened: Disk full on db-1 Bcc: everyone@example.test"
    )
    assert first["Bcc"] is None
    [row] = outbox(server, hostile)
    assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 1, "")

    plain = open_incident(server, "plain", "Queue stuck")
    wait_until(lambda: bool(mail_for(box, plain)), timeout=WAIT, what="the second e-mail")
    [second] = mail_for(box, plain)
    assert second["Subject"] == f"Incident #{plain} opened: Queue stuck"
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["worker"].startswith("ok: ")
    metrics = httpx.get(f"{server.url}/metrics").text
    assert "runbook_worker_errors_total 0.0" in metrics
