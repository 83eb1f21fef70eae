"""Chromium (Debian's, driven by Playwright) opens ``/docs`` on a real server: Swagger UI
renders the operations under the app's Content-Security-Policy, from local files only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Request, sync_playwright

from harness.server import ServerProcess
from tests.conftest import configured_server
from tests.e2e.conftest import ServiceLogs
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.services import need_binary

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    need_binary(CHROMIUM, "chromium")
    with configured_server(tmp_path_factory.mktemp("docs"), "timezone: UTC\n") as process:
        yield process


@pytest.fixture
def logs(server: ServerProcess, service_logs: ServiceLogs) -> Path:
    return service_logs.register("runbook-router", server.log_path)


def test_swagger_ui_renders_the_operations_offline(server: ServerProcess, logs: Path) -> None:
    problems: list[str] = []
    hosts: set[str] = set()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    def on_request(request: Request) -> None:
        hosts.add(urlsplit(request.url).netloc)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("console", on_console)
        page.on("request", on_request)
        page.goto(f"{server.url}/docs")
        ack = page.locator(".opblock", has_text="/api/v1/incidents/{incident_id}/ack")
        ack.first.wait_for(timeout=15_000)
        operations = page.locator(".opblock").count()
        authorize = page.get_by_role("button", name="Authorize").count()
        browser.close()
    assert problems == []  # a CSP violation or a failed load is logged as an error
    assert hosts == {urlsplit(server.url).netloc}  # nothing from a CDN
    assert operations >= 20
    assert authorize == 1  # the security schemes are declared
