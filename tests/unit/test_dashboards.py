"""Grafana dashboards: structure checked in Python, JSON type-checked against @grafana/schema.

The schema check (``grafana/schema-check``) needs ``node`` and ``npm``: it skips without them,
and fails under REQUIRE_REAL_SERVICES=1 (CI). It installs its pinned packages on first run.
PromQL parsing of the queries is in ``tests/e2e/test_alert_rules.py`` (it needs promtool).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.checks.promql import metric_names
from tests.conftest import ROOT
from tests.e2e.test_alert_rules import (
    DATABASE_METRICS,
    dashboard_panels,
    summed_database_series,
)
from tests.services import need_binary

GRAFANA = ROOT / "grafana"
DASHBOARD_DIR = GRAFANA / "dashboards"
SCHEMA_CHECK = GRAFANA / "schema-check"
EXPECTED_UIDS = {
    "runbook-router-kpis.json": "runbook-router-kpis",
    "runbook-router-health.json": "runbook-router-health",
}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PANEL_TYPES = {"row", "timeseries", "stat", "bargauge", "gauge", "table", "text"}
FIRST_VIEW_TARGET = 900


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DASHBOARD_DIR / name).read_text())
    return data


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel but rows."""
    return [p for p in dashboard_panels(dashboard) if p["type"] != "row"]


def exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def compact(expr: str) -> str:
    return re.sub(r"\s+", " ", expr)


DASHBOARDS = sorted(EXPECTED_UIDS)


def test_dashboard_files_and_stable_uids() -> None:
    assert sorted(p.name for p in DASHBOARD_DIR.glob("*.json")) == DASHBOARDS
    uids = {name: load(name)["uid"] for name in DASHBOARDS}
    assert uids == EXPECTED_UIDS
    titles = [load(name)["title"] for name in DASHBOARDS]
    assert len(set(titles)) == len(titles)


@pytest.mark.parametrize("name", DASHBOARDS)
def test_dashboard_basics(name: str) -> None:
    d = load(name)
    assert d["schemaVersion"] >= 39
    assert d["id"] is None, "a provisioned dashboard has no numeric id"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", d["uid"])
    assert "runbook-router" in d["tags"]
    assert d["time"]["from"].startswith("now-")
    other = set(EXPECTED_UIDS.values()) - {d["uid"]}
    assert {link["url"] for link in d["links"]} == {f"/d/{uid}" for uid in other}


@pytest.mark.parametrize("name", DASHBOARDS)
def test_datasource_and_class_variables(name: str) -> None:
    found = variables(load(name))
    datasource = found["datasource"]
    assert datasource["type"] == "datasource"
    assert datasource["query"] == "prometheus"
    cls = found["class"]
    assert cls["type"] == "query"
    assert cls["datasource"] == DATASOURCE
    assert cls["query"] == "label_values(runbook_incidents_total, class)"
    assert cls["multi"] is True
    assert cls["includeAll"] is True
    assert cls["allValue"] == ".*"


@pytest.mark.parametrize("name", DASHBOARDS)
def test_every_panel_and_query_uses_the_datasource_variable(name: str) -> None:
    for panel in panels(load(name)):
        assert panel["type"] in PANEL_TYPES, panel["type"]
        if panel["type"] == "text":
            continue
        where = f"panel {panel['id']} {panel['title']!r}"
        assert panel["datasource"] == DATASOURCE, where
        targets = panel["targets"]
        assert targets, where
        assert all(t["datasource"] == DATASOURCE for t in targets), where
        assert all(t["expr"].strip() for t in targets), where
        ref_ids = [t["refId"] for t in targets]
        assert len(set(ref_ids)) == len(ref_ids), where
        assert panel.get("description"), f"{where}: say what it shows"


@pytest.mark.parametrize("name", DASHBOARDS)
def test_panel_ids_unique_and_layout_without_overlaps(name: str) -> None:
    all_panels = list(dashboard_panels(load(name)))
    ids = [p["id"] for p in all_panels]
    assert len(set(ids)) == len(ids)
    taken: dict[tuple[int, int], int] = {}
    for panel in all_panels:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] < pos["x"] + pos["w"] <= 24, panel["id"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, f"panels {taken.get((x, y))} and {panel['id']}"
                taken[(x, y)] = panel["id"]


@pytest.mark.parametrize("name", DASHBOARDS)
def test_database_series_take_max_across_replicas(name: str) -> None:
    offenders = [e for e in exprs(load(name)) if summed_database_series(e)]
    assert not offenders


@pytest.mark.parametrize("name", DASHBOARDS)
def test_class_variable_filters_per_class_queries(name: str) -> None:
    """Queries of database series follow the class picker; coverage (all alerts) does not."""
    for expr in exprs(load(name)):
        used = metric_names(expr)
        if used & DATABASE_METRICS and "runbook_alerts_classified_total" not in used:
            assert 'class=~"$class"' in expr, expr


def test_kpi_dashboard_shows_every_kpi() -> None:
    d = load("runbook-router-kpis.json")
    queries = [compact(e) for e in exprs(d)]

    def some(*fragments: str) -> bool:
        return any(all(f in q for f in fragments) for q in queries)

    assert some("runbook_incident_resolution_seconds_sum", "/", "resolution_seconds_count")
    assert some("runbook_incident_acknowledge_seconds_sum", "/", "acknowledge_seconds_count")
    assert some("runbook_incident_recurrences_total", "/", "runbook_incidents_total")
    assert some('runbook_alerts_classified_total{class!="generic"}', "/")
    assert some("by (status)", "runbook_incidents_open")
    assert some("runbook_action_items_open", 'overdue="true"')
    assert some("by (class, overdue)", "runbook_action_items_open")
    assert some("histogram_quantile(0.9", "runbook_incident_first_view_seconds_bucket")
    # MTTR and MTTA are shown by class.
    for hist in ("resolution", "acknowledge"):
        assert some(f"max by (class) (increase(runbook_incident_{hist}_seconds_sum")


def test_time_to_first_view_panels_show_the_15_minute_target() -> None:
    view_panels = [
        p
        for p in panels(load("runbook-router-kpis.json"))
        if any("first_view_seconds" in t["expr"] for t in p.get("targets", []))
        and p["fieldConfig"]["defaults"].get("unit") == "s"
    ]
    assert len(view_panels) >= 2
    for panel in view_panels:
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert {"color": "red", "value": FIRST_VIEW_TARGET} in steps, panel["title"]
    line_styles = [
        p["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"]
        for p in view_panels
        if p["type"] == "timeseries"
    ]
    assert line_styles
    assert "off" not in line_styles


def test_health_dashboard_shows_the_service() -> None:
    queries = [compact(e) for e in exprs(load("runbook-router-health.json"))]
    for fragment in (
        'up{job="runbook-router"}',
        'runbook_webhook_requests_total{outcome="error"}',
        "runbook_webhook_request_duration_seconds_bucket",
        'runbook_notifications_total{outcome=~"failed|skipped"}',
        "runbook_worker_last_cycle_timestamp_seconds",
        "runbook_worker_errors_total",
        "runbook_enrichment_requests_total",
        "runbook_escalations_total",
        "runbook_build_info",
    ):
        assert any(fragment in q for q in queries), fragment


def test_provisioning_files() -> None:
    dashboards = yaml.safe_load(
        (GRAFANA / "provisioning/dashboards/runbook-router.yaml").read_text()
    )
    assert dashboards["apiVersion"] == 1
    (provider,) = dashboards["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/")
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yaml").read_text())
    assert datasources["apiVersion"] == 1
    (datasource,) = datasources["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"].startswith("http")


# --- @grafana/schema -----------------------------------------------------------------------


def run(
    *args: str, cwd: Path = SCHEMA_CHECK, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def installed_version(package: str) -> str | None:
    manifest = SCHEMA_CHECK / "node_modules" / package / "package.json"
    if not manifest.exists():
        return None
    version: str = json.loads(manifest.read_text())["version"]
    return version


@pytest.fixture(scope="module")
def schema_check() -> tuple[str, str]:
    """(node, tsc script) with node_modules installed as package-lock.json pins them."""
    npm = need_binary("/usr/bin/npm", "npm")
    node = need_binary("/usr/bin/node", "nodejs")
    pins = json.loads((SCHEMA_CHECK / "package.json").read_text())["devDependencies"]
    if any(installed_version(p) != v for p, v in pins.items()):
        result = run(npm, "ci", "--no-audit", "--no-fund", timeout=600)
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    assert {p: installed_version(p) for p in pins} == pins
    return node, str(SCHEMA_CHECK / "node_modules" / "typescript" / "bin" / "tsc")


def test_schema_check_pins_exact_versions() -> None:
    pins = json.loads((SCHEMA_CHECK / "package.json").read_text())["devDependencies"]
    assert set(pins) == {"@grafana/schema", "typescript"}
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in pins.values()), pins
    lock = json.loads((SCHEMA_CHECK / "package-lock.json").read_text())
    assert {p: lock["packages"][f"node_modules/{p}"]["version"] for p in pins} == pins


def test_dashboards_match_grafana_schema(schema_check: tuple[str, str]) -> None:
    node, tsc = schema_check
    generated = run(node, "generate.mjs")
    assert generated.returncode == 0, generated.stderr
    checked = run(node, tsc, "--noEmit", "-p", "tsconfig.json")
    assert checked.returncode == 0, f"dashboards do not match @grafana/schema:\n{checked.stdout}"


def test_schema_check_rejects_an_invalid_dashboard(
    schema_check: tuple[str, str], tmp_path: Path
) -> None:
    """The check has teeth: a wrong enum value and a missing required option are errors."""
    node, tsc = schema_check
    broken = load("runbook-router-kpis.json")
    first, second = [p for p in panels(broken) if p["type"] == "stat"][:2]
    first["options"]["colorMode"] = "rainbow"
    del second["options"]["reduceOptions"]
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / "broken.json").write_text(json.dumps(broken))
    out = SCHEMA_CHECK / f"generated-{tmp_path.name}"
    try:
        generated = run(node, "generate.mjs", str(tmp_path / "dashboards"), str(out))
        assert generated.returncode == 0, generated.stderr
        config = tmp_path / "tsconfig.json"
        config.write_text(
            json.dumps(
                {
                    "extends": str(SCHEMA_CHECK / "tsconfig.json"),
                    "include": [str(SCHEMA_CHECK / "types.ts"), f"{out}/*.ts"],
                }
            )
        )
        checked = run(node, tsc, "--noEmit", "-p", str(config))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    assert checked.returncode != 0
    assert '"rainbow"' in checked.stdout
    assert "reduceOptions" in checked.stdout
