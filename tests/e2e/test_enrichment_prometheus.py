"""Runbook queries against a real Prometheus (Debian's ``prometheus``) scraping itself.

Prometheus scrapes its own ``/metrics`` every second as job ``prometheus``; the target carries
an extra label ``odd`` whose value holds a quote, a backslash, a newline, a tab and a brace,
so ``up{odd=...}`` only matches if the literal our ``promql`` filter wrote is read back
exactly. The app runs in-process (ASGI) with ``PROMETHEUS_URL`` pointing at it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from httpx import AsyncClient

from app.settings import Settings
from harness.processes import free_port, http_ok
from tests.conftest import admin_headers
from tests.e2e.conftest import ServiceLogs
from tests.runbook_support import (
    Page,
    parse_metrics,
    private_settings,
    sample,
    write_catalog,
    write_config,
)
from tests.services import need_binary, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

WAIT = 20.0
ODD = 'quote " back \\ newline \n tab \t brace } end'
INJECTIONS = [
    '"} or vector(1) #',
    'prometheus"} or vector(1) or up{job="',
    '\\"} or vector(1) #',
    'x\n"} or vector(1) #',
]

PROM_CHECK = """---
class: prom-check
title: Prometheus check
enrich:
  prometheus:
    - name: up
      query: "up{job={{ labels.get('job', 'x') | promql }}}"
    - name: odd
      query: "up{odd={{ labels.get('odd', 'x') | promql }}}"
    - name: odd_regex
      query: "up{odd=~{{ labels.get('odd', 'x') | promql_regex }}}"
---
# {{ title }}

{% for name, r in enrichment.prometheus | dictsort %}
- {{ name }}: {{ (r.summary if r.ok else r.error) | md }}
{% endfor %}
"""


@dataclass
class Prometheus:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def vector(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5)
        body = response.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_prometheus(work: Path, *, wait_for_scrape: bool = True) -> Prometheus:
    """Prometheus on a free port; by default, once it has scraped itself (about 5 s)."""
    binary = need_binary("/usr/bin/prometheus", "prometheus")
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = work / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "prometheus",
                        "static_configs": [
                            {"targets": [f"127.0.0.1:{port}"], "labels": {"odd": ODD}}
                        ],
                    }
                ],
            }
        )
    )
    log = work / "prometheus.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    prometheus = Prometheus(f"http://127.0.0.1:{port}", port, proc, log)

    def scraped() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"prometheus exited with status {proc.returncode} (log: {log})")
        if not http_ok(f"{prometheus.url}/-/ready"):
            return False
        return not wait_for_scrape or bool(prometheus.vector('up{job="prometheus"} == 1'))

    try:
        wait_until(scraped, timeout=WAIT, what=f"prometheus to scrape itself ({log})")
    except BaseException:
        prometheus.stop()
        raise
    return prometheus


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    instance = start_prometheus(tmp_path_factory.mktemp("prometheus"))
    yield instance
    instance.stop()


@pytest.fixture
def stoppable(tmp_path: Path) -> Iterator[Prometheus]:
    """A Prometheus of one test's own, which that test may stop (answering, maybe no data)."""
    instance = start_prometheus(tmp_path / "stoppable", wait_for_scrape=False)
    yield instance
    instance.stop()


@pytest.fixture
def prometheus_url(request: pytest.FixtureRequest, service_logs: ServiceLogs) -> str:
    """The shared Prometheus; parametrize indirectly with "stoppable" for a private one."""
    name = getattr(request, "param", "prometheus")
    instance: Prometheus = request.getfixturevalue(name)
    service_logs.register(name, instance.log)
    return instance.url


@pytest.fixture
def settings(tmp_path: Path, prometheus_url: str) -> Settings:
    return private_settings(
        database_url=f"sqlite:///{tmp_path}/rr.db",
        tmp_path=tmp_path,
        catalog=write_catalog(tmp_path / "catalog", {"prom-check": PROM_CHECK}),
        config=write_config(tmp_path / "config.yaml", {"enrichment": {"timeout": "3s"}}),
        prometheus_url=prometheus_url,
    )


async def queried(client: AsyncClient, **labels: str) -> dict[str, Any]:
    response = await client.get(
        "/api/v1/runbooks/prom-check", params=labels, headers=admin_headers()
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    assert data["error"] is None, data["error"]
    return data


async def test_front_matter_query_renders_the_real_value(
    client: AsyncClient, prometheus: Prometheus
) -> None:
    data = await queried(client, job="prometheus")
    up = data["enrichment"]["prometheus"]["up"]

    assert up["ok"] is True, up
    assert up["summary"].startswith("1 (")
    assert f"instance=127.0.0.1:{prometheus.port}" in up["summary"]
    assert "job=prometheus" in up["summary"]
    assert "<li>up: 1 (instance=127.0.0.1:" in data["html"]
    assert data["enrichment"]["prometheus"]["odd"]["summary"] == "no data"  # odd="x"


@pytest.mark.parametrize("hostile", INJECTIONS)
async def test_hostile_label_is_one_string_literal(
    client: AsyncClient, prometheus: Prometheus, hostile: str
) -> None:
    # What the injection would return if it escaped its literal: a bare ``1``.
    assert prometheus.vector("vector(1)")[0]["value"][1] == "1"

    results = (await queried(client, job=hostile, odd=hostile))["enrichment"]["prometheus"]

    for name in ("up", "odd", "odd_regex"):
        assert results[name]["ok"] is True, (name, results[name])
        assert results[name]["summary"] == "no data", (name, results[name])


async def test_label_value_with_quotes_backslashes_and_newlines_round_trips(
    client: AsyncClient, prometheus: Prometheus
) -> None:
    assert prometheus.vector('up{odd=~"(?s).*newline.*"}'), "the scrape target lacks the odd label"

    results = (await queried(client, odd=ODD))["enrichment"]["prometheus"]

    for name in ("odd", "odd_regex"):
        assert results[name]["ok"] is True, (name, results[name])
        assert results[name]["summary"].startswith("1 ("), (name, results[name])
        assert "job=prometheus" in results[name]["summary"]


async def test_regex_label_matches_only_itself(client: AsyncClient) -> None:
    results = (await queried(client, odd=".*"))["enrichment"]["prometheus"]
    assert results["odd_regex"] == {**results["odd_regex"], "ok": True, "summary": "no data"}


@pytest.mark.parametrize("prometheus_url", ["stoppable"], indirect=True)
async def test_stopped_prometheus_is_unavailable_and_the_page_still_renders(
    client: AsyncClient, stoppable: Prometheus
) -> None:
    before = (await queried(client, job="prometheus"))["enrichment"]["prometheus"]["up"]
    assert before["ok"] is True, before  # it answered (data or not: it may not have scraped)

    stoppable.stop()
    assert not http_ok(f"{stoppable.url}/-/ready")

    # Other label values: queries the cache has not seen.
    after = (await queried(client, job="other", odd="other"))["enrichment"]["prometheus"]
    for name in ("up", "odd", "odd_regex"):
        assert after[name]["ok"] is False, (name, after[name])
        assert after[name]["error"].startswith("unavailable: "), (name, after[name])

    response = await client.get(
        "/runbooks/prom-check",
        params={"job": "third", "odd": "third"},
        headers={"Accept": "text/html", **admin_headers()},
    )
    assert response.status_code == 200
    page = Page(response.text)
    assert "up: unavailable: " in page.text  # in the runbook body
    bad = [attrs for tag, attrs in page.tags if tag == "dd" and attrs.get("class") == "bad"]
    assert len(bad) == 3  # and in the live-context sidebar

    metrics = parse_metrics((await client.get("/metrics")).text)
    name = "runbook_enrichment_requests_total"
    assert sample(metrics, name, kind="prometheus", outcome="ok") == 3
    assert sample(metrics, name, kind="prometheus", outcome="error") == 6
