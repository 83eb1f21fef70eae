"""Escalation tests: their own config file, real receivers, and a worker that only runs
when a test calls ``run_once`` (``worker.interval`` is an hour)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller

from app.settings import Settings
from tests.conftest import ADMIN_TOKEN, INGEST_TOKEN, ROOT
from tests.integration.escalation.support import Mailbox, Receiver, start_receiver, start_smtp

ENV = {
    "primary": "RR_TEST_PRIMARY_URL",
    "secondary": "RR_TEST_SECONDARY_URL",
    "lead": "RR_TEST_LEAD_URL",
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found, server = start_receiver()
    yield found
    server.shutdown()
    server.server_close()


@pytest.fixture
def rr_config() -> dict[str, Any]:
    """Three webhook channels on the local receiver; steps at 0s, 10m and 30m."""
    return {
        "worker": {"interval": "1h"},
        "channels": {
            name: {"type": "webhook", "url_env": env, "title": name} for name, env in ENV.items()
        },
        "escalation": {
            "default": {
                "notify_on": ["open", "ack", "resolve"],
                "steps": [
                    {"after": "0s", "notify": ["primary"]},
                    {"after": "10m", "notify": ["secondary"]},
                    {"after": "30m", "notify": ["lead"]},
                ],
            }
        },
        "notifications": {"timeout": "5s", "max_attempts": 4, "backoff": "30s"},
    }


@pytest.fixture
def rr_env(receiver: Receiver) -> dict[str, str]:
    return {env: receiver.url(f"/{name}") for name, env in ENV.items()}


@pytest.fixture
def settings(
    database_url: str,
    tmp_path: Path,
    rr_config: dict[str, Any],
    rr_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    for name, value in rr_env.items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "runbook-router.yaml"
    config.write_text(yaml.safe_dump(rr_config))
    return Settings(
        database_url=database_url,
        webhook_tokens=INGEST_TOKEN,
        admin_token=ADMIN_TOKEN,
        catalog_dir=ROOT / "runbook_templates",
        config=config,
        data_dir=tmp_path / "data",
        log_format="console",
        public_url="https://rr.example.test",
    )


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, Controller]]:
    mailbox, controller = start_smtp()
    yield mailbox, controller
    controller.stop()
