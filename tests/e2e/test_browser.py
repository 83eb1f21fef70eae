"""Chromium (Debian's, driven by Playwright) against the real server, with JavaScript off.

The on-call path works without JavaScript: follow the alert's runbook link, sign in, open
the incident, tick steps, acknowledge, resolve. Viewers and responders of other teams see no
action buttons and are refused when they post anyway. Screenshots at phone and desktop widths
go to ``test-artifacts/screenshots/``; a JavaScript-enabled page checks nothing overflows.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright, sync_playwright

from app.classification.catalog import load_catalog
from harness.server import ServerProcess
from tests.conftest import INGEST_TOKEN, ROOT, WEBHOOK, admin_headers, server_env
from tests.e2e.conftest import ServiceLogs
from tests.factories import alert, payload
from tests.services import need_binary

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
VIEWPORTS = {"phone": (390, 844), "desktop": (1366, 900)}
TOKENS = {  # name: (role, team)
    "pat-platform": ("responder", "platform"),
    "vera-viewer": ("viewer", ""),
    "dora-documents": ("responder", "documents"),
}
ACTION_BUTTONS = re.compile(r"^(Acknowledge|Resolve|Add note|Done)$|^Mark done", re.IGNORECASE)
STEPS = {  # two steps of the shipped workflow-500 checklist, texts read from the catalog
    item.id: item.text
    for item in load_catalog(ROOT / "runbook_templates").runbooks["workflow-500"].meta.checklist
    if item.id in ("confirm-scope", "probe-me")
}


@dataclass
class Stack:
    server: ServerProcess
    log_path: Path
    tokens: dict[str, str]
    browser: Browser
    api: httpx.Client

    def incident(self, incident_id: int) -> dict[str, Any]:
        answer = self.api.get(f"/api/v1/incidents/{incident_id}", headers=admin_headers())
        answer.raise_for_status()
        data: dict[str, Any] = answer.json()
        return data

    def open_workflow_incident(self, service: str) -> int:
        """Ingest a Workflow500 alert through the webhook, carrying its runbook link."""
        body = alert(
            f"fp-{service}", starts_at=datetime.now(UTC) - timedelta(minutes=4), service=service
        )
        query = urlencode(body["labels"])
        body["annotations"]["runbook_url"] = f"{self.server.url}/runbooks/workflow-500?{query}"
        group = payload(body, group_key=f'{{}}:{{alertname="Workflow500", service="{service}"}}')
        answer = self.api.post(
            WEBHOOK, json=group, headers={"Authorization": f"Bearer {INGEST_TOKEN}"}
        )
        assert answer.status_code == 200, answer.text
        [incident_id] = answer.json()["incidents"]
        assert isinstance(incident_id, int)
        return incident_id

    def context(self, *, javascript: bool = False, width: int = 1366, height: int = 900) -> Any:
        return self.browser.new_context(
            java_script_enabled=javascript,
            viewport={"width": width, "height": height},
            base_url=self.server.url,
        )


def create_token(env: dict[str, str], name: str, role: str, team: str) -> str:
    """``python -m app tokens create``: the token is alone on the last line of its output."""
    command = [sys.executable, "-m", "app", "tokens", "create", "--name", name, "--role", role]
    done = subprocess.run(
        [*command, *(["--team", team] if team else [])],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    token = done.stdout.strip().splitlines()[-1]
    assert token.startswith("rr_"), done.stdout
    return token


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    chromium = need_binary(CHROMIUM, "chromium")
    tmp = tmp_path_factory.mktemp("browser")
    config = tmp / "runbook-router.yaml"
    config.write_text("timezone: UTC\n")  # no enrichment targets: nothing to wait for
    env = server_env(
        f"sqlite:///{tmp}/runbook-router.db",
        tmp / "data",
        RUNBOOK_ROUTER_CONFIG=str(config),
        PYTHONPATH=str(ROOT),
    )
    server = ServerProcess(env, tmp / "runbook-router.log")
    playwright: Playwright | None = None
    try:
        server.start()
        tokens = {name: create_token(server.env, name, *rt) for name, rt in TOKENS.items()}
        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        with httpx.Client(base_url=server.url, timeout=10) as api:
            yield Stack(server, server.log_path, tokens, browser, api)
        browser.close()
    finally:
        if playwright is not None:
            playwright.stop()
        server.stop()


@pytest.fixture
def logs(stack: Stack, service_logs: ServiceLogs) -> ServiceLogs:
    """Attach the server log's tail to any failure."""
    service_logs.register("runbook-router", stack.log_path)
    return service_logs


def sign_in(page: Page, token: str) -> None:
    """Fill in the sign-in form the page was sent to, and submit it."""
    assert "/login" in page.url, page.url
    page.get_by_label("Your Runbook Router token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def signed_in_page(context: BrowserContext, token: str, path: str) -> Page:
    page = context.new_page()
    page.goto(path)
    sign_in(page, token)
    page.wait_for_url(f"**{path}")
    return page


def timeline_text(item: Locator) -> str:
    """One timeline entry without its time stamp: 'acknowledged by pat-platform (ACK-1)'."""
    full, stamp = item.inner_text(), item.locator("time").inner_text()
    return full.removeprefix(stamp).strip()


def action_buttons(page: Page) -> list[str]:
    return [b.inner_text().strip() for b in page.get_by_role("button", name=ACTION_BUTTONS).all()]


def test_responder_follows_the_alert_link_and_works_the_incident(
    stack: Stack, logs: ServiceLogs
) -> None:
    incident_id = stack.open_workflow_incident("workflow-api")
    [carried] = stack.incident(incident_id)["alerts"]
    link = carried["annotations"]["runbook_url"]
    with stack.context() as context:
        page = context.new_page()
        page.goto(link)
        assert page.url.startswith(f"{stack.server.url}/login?next=")
        sign_in(page, stack.tokens["pat-platform"])
        page.wait_for_url(link)
        banner = page.locator("p.banner")
        assert "Open incident" in banner.inner_text()
        banner.get_by_role("link", name=re.compile(f"^#{incident_id}:")).click()
        page.wait_for_url(f"**/incidents/{incident_id}")

        for text in STEPS.values():
            page.get_by_role("button", name=f"Mark done: {text}").click()
            page.wait_for_load_state()
        page.get_by_role("button", name="Acknowledge", exact=True).click()
        page.get_by_role("textbox", name="Resolution note").fill("Rolled back release 2026.11.3")
        page.get_by_role("button", name="Resolve", exact=True).click()
        page.wait_for_load_state()

        assert page.locator(".meta .status").inner_text() == "resolved"
        assert action_buttons(page) == ["Add note"]  # notes only, once resolved
        events = [timeline_text(li) for li in page.locator(".timeline li").all()]
        assert events[-5:] == [
            "first viewed by pat-platform",
            "step done by pat-platform",
            "step done by pat-platform",
            "acknowledged by pat-platform (ACK-1)",
            "resolved by pat-platform (RESOLVE-2): Rolled back release 2026.11.3",
        ], events
        done = page.locator(".checklist li.done").all_inner_texts()
        assert len(done) == 2
        assert all("pat-platform" in d for d in done)
    incident = stack.incident(incident_id)
    assert (incident["acknowledged_by"], incident["resolved_by"]) == ("pat-platform",) * 2
    assert incident["resolution_note"] == "Rolled back release 2026.11.3"
    steps = [e["detail"]["step"] for e in incident["timeline"] if e["kind"] == "step_done"]
    assert steps == list(STEPS)


def test_viewer_reads_everything_and_cannot_act(stack: Stack, logs: ServiceLogs) -> None:
    incident_id = stack.open_workflow_incident("workflow-viewer")
    before = stack.incident(incident_id)
    with stack.context() as context:
        page = signed_in_page(context, stack.tokens["vera-viewer"], "/")
        assert page.get_by_role("heading", name="Incidents").is_visible()
        assert page.get_by_role("link", name=before["title"]).first.is_visible()
        assert action_buttons(page) == []

        page.goto(f"/incidents/{incident_id}")
        assert page.get_by_role("heading", name=before["title"]).is_visible()
        assert page.get_by_role("heading", name="Timeline").is_visible()
        assert action_buttons(page) == []
        assert page.locator("main form[method=post]").count() == 0
        assert "acting on it needs a responder of team platform" in page.inner_text("main")

        page.goto("/runbooks/workflow-500?alertname=Workflow500&service=workflow-viewer")
        assert page.locator(".page-head h1").inner_text() == "Workflow API returns HTTP 500"
        assert f"#{incident_id}" in page.locator("p.banner").inner_text()
        assert action_buttons(page) == []

        # Forge the form post with the session cookie and even the session's real CSRF token.
        csrf = page.locator("form.logout input[name=csrf_token]").get_attribute("value")
        assert csrf
        forged = page.request.post(
            f"/incidents/{incident_id}/ack",
            form={"csrf_token": csrf},
            headers={"Accept": "text/html"},
            max_redirects=0,
        )
        assert forged.status == 403
        assert "needs the responder role" in forged.text()
    after = stack.incident(incident_id)
    assert (after["status"], after["acknowledged_by"]) == ("triggered", None)

    def kinds(timeline: list[dict[str, Any]]) -> list[str]:  # escalation has its own clock
        return [e["kind"] for e in timeline if e["kind"] != "escalated"]

    assert kinds(after["timeline"]) == [*kinds(before["timeline"]), "first_viewed"]


def test_responder_of_another_team_sees_no_actions_and_is_refused(
    stack: Stack, logs: ServiceLogs
) -> None:
    incident_id = stack.open_workflow_incident("workflow-documents")
    with stack.context() as context:
        page = signed_in_page(context, stack.tokens["dora-documents"], f"/incidents/{incident_id}")
        assert page.get_by_role("heading", name="Timeline").is_visible()
        assert action_buttons(page) == []
        assert "needs a responder of team platform" in page.inner_text("main")
    refused = stack.api.post(
        f"/api/v1/incidents/{incident_id}/ack",
        headers={"Authorization": f"Bearer {stack.tokens['dora-documents']}"},
    )
    assert refused.status_code == 403
    assert "team 'platform'" in refused.json()["error"]["message"]
    assert stack.incident(incident_id)["status"] == "triggered"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_board_and_incident_fit_phone_and_desktop(
    stack: Stack, logs: ServiceLogs, viewport: str
) -> None:
    incident_id = stack.open_workflow_incident(f"workflow-{viewport}")
    width, height = VIEWPORTS[viewport]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with stack.context(javascript=True, width=width, height=height) as context:
        page = signed_in_page(context, stack.tokens["pat-platform"], "/")
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        for name, path in (("board", "/"), ("incident", f"/incidents/{incident_id}")):
            page.goto(path)
            page.screenshot(path=SCREENSHOTS / f"{name}-{viewport}-{width}x{height}.png")
            page.screenshot(
                path=SCREENSHOTS / f"{name}-{viewport}-{width}x{height}-full.png", full_page=True
            )
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= page.evaluate("window.innerWidth"), f"{path} overflows at {width}px"
            for button in page.get_by_role("button").all():
                box = button.bounding_box()
                assert box is not None
                assert box["x"] >= 0
                assert box["x"] + box["width"] <= width, button.inner_text()
        assert problems == []  # no CSP violations, no failed loads
