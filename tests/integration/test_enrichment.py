"""Live probes against a real HTTP server on 127.0.0.1, within timeouts and a page budget.

The server (``tests/probe_server.py``) is the allow-listed target ``workflow-api``, configured
through a config file in ``tmp_path`` whose token lives in an environment variable. It counts
every request it receives, so caching and "no request made" are checked where they happen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from asgi_lifespan import LifespanManager
from httpx import AsyncClient
from prometheus_client import CollectorRegistry

from app.main import create_app
from app.migrate import migrate
from app.settings import Settings
from tests.conftest import admin_headers
from tests.probe_server import ME, ProbeServer
from tests.runbook_support import (
    Page,
    parse_metrics,
    private_settings,
    sample,
    write_catalog,
    write_config,
)

pytestmark = pytest.mark.anyio

TOKEN_ENV = "RUNBOOK_TEST_PROBE_TOKEN"
TOKEN = "probe-token-for-tests"
HTML = {"Accept": "text/html", **admin_headers()}

BODY = """# {{ title }}

{% for name, r in enrichment.probes | dictsort %}
- {{ name }}: {{ (r.summary if r.ok else r.error) | md }}
{% endfor %}
"""


def probe_runbook(name: str, probes: str) -> str:
    return f"---\nclass: {name}\ntitle: Runbook {name}\nenrich:\n  probes:\n{probes}---\n{BODY}"


RUNBOOKS = {
    "probe-me": probe_runbook(
        "probe-me", "    - {name: me, target: workflow-api, path: /api/v1/me}\n"
    ),
    "probe-slow": probe_runbook(
        "probe-slow",
        "    - {name: slow, target: workflow-api, path: /slow}\n"
        "    - {name: me, target: workflow-api, path: /api/v1/me}\n",
    ),
    "probe-elsewhere": probe_runbook(
        "probe-elsewhere",
        "    - {name: billing, target: billing-api, path: /api/v1/me}\n"
        "    - {name: moved, target: workflow-api, path: /redirect}\n",
    ),
    "probe-anon": probe_runbook(
        "probe-anon",
        "    - {name: anon, target: workflow-api, path: /api/v1/me, expect_status: 401}\n",
    ),
    "probe-templated": probe_runbook(
        "probe-templated",
        "    - {name: templated, target: workflow-api, path: '/api/v1/me?u={{ labels.user }}'}\n",
    ),
    "queries": """---
class: queries
title: Queries that cannot run
enrich:
  prometheus:
    - name: plain
      query: "up{job={{ labels.get('job', 'x') | promql }}}"
    - name: missing
      query: "up{job={{ labels.nope | promql }}}"
    - name: syntax
      query: "up{job={{ labels.job | promql }"
---
# {{ title }}
""",
    "query-divide": """---
class: query-divide
title: A query template that divides by zero
enrich:
  prometheus:
    - name: divide
      query: "vector({{ 1 / 0 }})"
---
# {{ title }}
""",
}


@pytest.fixture
def probe_server() -> Iterator[ProbeServer]:
    with ProbeServer(TOKEN) as server:
        yield server


@pytest.fixture
def limits() -> tuple[str, str]:
    """(enrichment.timeout, enrichment.budget); tests override it by parametrizing."""
    return "300ms", "5s"


@pytest.fixture
def token() -> str | None:
    """The probe token in the environment; None leaves the variable unset."""
    return TOKEN


@pytest.fixture
def settings(
    tmp_path: Path,
    probe_server: ProbeServer,
    limits: tuple[str, str],
    token: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    if token is None:
        monkeypatch.delenv(TOKEN_ENV, raising=False)
    else:
        monkeypatch.setenv(TOKEN_ENV, token)
    timeout, budget = limits
    config = write_config(
        tmp_path / "config.yaml",
        {
            "enrichment": {
                "timeout": timeout,
                "budget": budget,
                "targets": {"workflow-api": {"base_url": probe_server.url, "token_env": TOKEN_ENV}},
            }
        },
    )
    return private_settings(
        database_url=f"sqlite:///{tmp_path}/rr.db",
        tmp_path=tmp_path,
        catalog=write_catalog(tmp_path / "catalog", RUNBOOKS),
        config=config,
    )


async def probes(client: AsyncClient, runbook: str, **labels: str) -> dict[str, Any]:
    """The probe results of a runbook rendered through the API."""
    response = await client.get(
        f"/api/v1/runbooks/{runbook}", params=labels, headers=admin_headers()
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["error"] is None, data["error"]
    results: dict[str, Any] = data["enrichment"]["probes"]
    return results


async def counted(client: AsyncClient) -> dict[str, float]:
    """``runbook_enrichment_requests_total{kind="probe"}`` by outcome (absent = 0)."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    samples = parse_metrics(response.text)
    name = "runbook_enrichment_requests_total"
    return {
        outcome: sample(samples, name, kind="probe", outcome=outcome) or 0
        for outcome in ("ok", "error", "timeout")
    }


# --- outcomes ------------------------------------------------------------------------------------


async def test_probe_ok_shows_status_and_identity(
    client: AsyncClient, probe_server: ProbeServer
) -> None:
    me = (await probes(client, "probe-me"))["me"]

    assert me["ok"] is True
    assert me["status"] == 200
    assert me["error"] is None
    assert me["summary"] == (
        f"200 OK; name=probe role=viewer team=platform permissions={len(ME['permissions'])}"
    )
    (seen,) = probe_server.seen
    assert seen.path == "/api/v1/me"
    assert seen.authorization == f"Bearer {TOKEN}"
    assert (seen.user_agent or "").startswith("runbook-router/")
    assert await counted(client) == {"ok": 1, "error": 0, "timeout": 0}


async def test_probe_result_shows_on_the_page_and_in_the_template(client: AsyncClient) -> None:
    response = await client.get("/runbooks/probe-me", headers=HTML)
    assert response.status_code == 200
    page = Page(response.text)
    ok = [attrs for tag, attrs in page.tags if tag == "dd" and attrs.get("class") == "ok"]
    assert len(ok) == 1
    assert "me probes 200 OK; name=probe role=viewer" in page.text
    # The runbook body used the same result.
    assert "me: 200 OK; name=probe role=viewer team=platform permissions=3" in page.text


@pytest.mark.parametrize("token", ["not-the-token"])
async def test_wrong_token_is_not_ok(client: AsyncClient, probe_server: ProbeServer) -> None:
    me = (await probes(client, "probe-me"))["me"]

    assert me["ok"] is False
    assert me["status"] == 401
    assert me["error"] == "expected HTTP 200, got 401"
    assert me["summary"].startswith("401 Unauthorized")
    assert [s.authorization for s in probe_server.seen] == ["Bearer not-the-token"]
    assert await counted(client) == {"ok": 0, "error": 1, "timeout": 0}


@pytest.mark.parametrize("token", [None])
async def test_unset_token_disables_the_probe_without_a_request(
    client: AsyncClient, probe_server: ProbeServer
) -> None:
    me = (await probes(client, "probe-me"))["me"]

    assert me["ok"] is False
    assert me["error"] == f"disabled: {TOKEN_ENV} is not set"
    assert probe_server.seen == []
    assert await counted(client) == {"ok": 0, "error": 0, "timeout": 0}


@pytest.mark.parametrize("token", [None])
async def test_unset_token_is_warned_about_at_start_up(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    migrate(settings.database_url)
    app = create_app(settings, registry=CollectorRegistry())
    with caplog.at_level(logging.WARNING, logger="app.runbooks.enrichment"):
        async with LifespanManager(app):
            pass
    warnings = [r for r in caplog.records if r.name == "app.runbooks.enrichment"]
    assert len(warnings) == 1
    assert getattr(warnings[0], "target", None) == "workflow-api"
    assert getattr(warnings[0], "token_env", None) == TOKEN_ENV


async def test_slow_target_beyond_the_timeout_is_unavailable(
    client: AsyncClient, probe_server: ProbeServer
) -> None:
    started = time.monotonic()
    results = await probes(client, "probe-slow")
    elapsed = time.monotonic() - started

    assert results["slow"]["ok"] is False
    assert results["slow"]["error"] == "unavailable: timeout after 0.3s"
    assert results["me"]["ok"] is True  # the other probe of the page is not held up
    assert sorted(probe_server.paths) == ["/api/v1/me", "/slow"]
    assert await counted(client) == {"ok": 1, "error": 0, "timeout": 1}
    assert elapsed < 5, f"the page took {elapsed:.2f}s (timeout 0.3s, budget 5s)"


@pytest.mark.parametrize("limits", [("5s", "500ms")])
async def test_page_budget_bounds_the_whole_page(
    client: AsyncClient, probe_server: ProbeServer
) -> None:
    started = time.monotonic()
    response = await client.get("/runbooks/probe-slow", headers=HTML)
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    page = Page(response.text)
    assert "unavailable: page budget of 0.5s spent" in page.text
    assert "200 OK; name=probe role=viewer" in page.text
    assert await counted(client) == {"ok": 1, "error": 0, "timeout": 1}
    # Bounded by the budget (0.5 s), not the 5 s per-request timeout; margin for slow CI.
    assert elapsed < 4, f"the page took {elapsed:.2f}s"
    assert "/slow" in probe_server.paths


async def test_unknown_target_is_refused_and_redirects_are_not_followed(
    client: AsyncClient, probe_server: ProbeServer
) -> None:
    results = await probes(client, "probe-elsewhere")

    billing = results["billing"]
    assert billing["ok"] is False
    assert billing["error"] == "unavailable: target 'billing-api' is not allow-listed"
    moved = results["moved"]
    assert moved["ok"] is False
    assert moved["status"] == 302
    assert moved["error"] == "expected HTTP 200, got 302"
    # Nothing went to billing-api (it has no URL here) and /landed was never requested.
    assert probe_server.paths == ["/redirect"]


# --- Prometheus queries that cannot run ----------------------------------------------------------


async def queries(client: AsyncClient, runbook: str, **labels: str) -> dict[str, Any]:
    response = await client.get(
        f"/runbooks/{runbook}", params=labels, headers={"Accept": "text/html", **admin_headers()}
    )
    assert response.status_code == 200, response.text
    api = await client.get(f"/api/v1/runbooks/{runbook}", params=labels, headers=admin_headers())
    assert api.status_code == 200, api.text
    results: dict[str, Any] = api.json()["enrichment"]["prometheus"]
    return results


async def test_query_problems_are_shown_inline(client: AsyncClient) -> None:
    results = await queries(client, "queries", job="api")

    assert results["plain"]["ok"] is False
    assert results["plain"]["error"] == "unavailable: no Prometheus URL configured"
    assert results["missing"]["ok"] is False
    assert results["missing"]["error"].startswith("unavailable: query template failed: ")
    assert "nope" in results["missing"]["error"]
    assert results["syntax"]["ok"] is False
    assert results["syntax"]["error"].startswith("unavailable: query template failed: ")


async def test_query_template_runtime_error_is_shown_inline(client: AsyncClient) -> None:
    divide = (await queries(client, "query-divide"))["divide"]
    assert divide["ok"] is False
    assert divide["error"].startswith("unavailable: query template failed: ")


# --- caching -------------------------------------------------------------------------------------


async def test_results_are_cached_between_page_loads(
    client: AsyncClient, probe_server: ProbeServer
) -> None:
    first = (await probes(client, "probe-me"))["me"]
    second = (await probes(client, "probe-me", service="other"))["me"]
    page = await client.get("/runbooks/probe-me", headers=HTML)

    assert page.status_code == 200
    assert second == first
    assert probe_server.paths == ["/api/v1/me"]
    assert await counted(client) == {"ok": 1, "error": 0, "timeout": 0}


async def test_cached_probe_is_judged_by_each_runbooks_expected_status(
    client: AsyncClient,
) -> None:
    assert (await probes(client, "probe-me"))["me"]["ok"] is True
    anon = (await probes(client, "probe-anon"))["anon"]
    assert anon["ok"] is False
    assert anon["error"] == "expected HTTP 401, got 200"


# --- labels never steer a probe ------------------------------------------------------------------

HOSTILE = {
    "target": "billing-api",
    "path": "/admin?drop=all",
    "base_url": "http://169.254.169.254/latest/meta-data",
    "host": "evil.example",
    "url": "http://evil.example/",
    "user": "x}}{{ 7*7 }}",
}


async def test_label_values_never_change_the_probe_url(
    client: AsyncClient, probe_server: ProbeServer
) -> None:
    me = (await probes(client, "probe-me", **HOSTILE))["me"]
    page = await client.get("/runbooks/probe-me", params=HOSTILE, headers=HTML)
    # A path written like a template is sent as written, never rendered with the labels.
    templated = (await probes(client, "probe-templated", **HOSTILE))["templated"]

    assert page.status_code == 200
    assert me["ok"] is True
    assert templated["status"] == 404
    first, second = probe_server.paths
    assert first == "/api/v1/me"
    assert unquote(second) == "/api/v1/me?u={{ labels.user }}"
