"""Alert rules and dashboard queries: contracts checked in Python, PromQL checked by promtool.

``promtool`` (Debian's ``prometheus`` package) checks ``alert_rules/*.yml``, runs the unit tests
in ``alert_rules/tests/`` and parses every dashboard query, turned into a recording rule with
Grafana's variables replaced by concrete values.

``metric_names()`` lists the metrics an expression reads; every ``runbook_`` metric used by the
rules and dashboards must be in the Metrics contract (DESIGN section 5, ``EXPECTED_METRICS``).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.checks.promql import metric_names, variable_metric_names
from tests.conftest import ROOT
from tests.services import need_binary

PROMTOOL = "/usr/bin/promtool"
PACKAGE = "prometheus"
RULES_DIR = ROOT / "alert_rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
RULE_TESTS = sorted((RULES_DIR / "tests").glob("*.yml"))
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
CATALOG = ROOT / "runbook_templates"
DESIGN = ROOT.parent / "shared" / "DESIGN.md"

# DESIGN section 5 (Contract): metric -> where its values come from.
METRICS_CONTRACT: dict[str, str] = {
    "runbook_incidents_total": "database",
    "runbook_incidents_open": "database",
    "runbook_incident_acknowledge_seconds": "database",
    "runbook_incident_resolution_seconds": "database",
    "runbook_incident_first_view_seconds": "database",
    "runbook_incident_recurrences_total": "database",
    "runbook_incident_flaps_total": "database",
    "runbook_alerts_classified_total": "database",
    "runbook_escalations_total": "database",
    "runbook_postmortems_pending": "database",
    "runbook_action_items_open": "database",
    "runbook_webhook_requests_total": "process",
    "runbook_webhook_request_duration_seconds": "process",
    "runbook_notifications_total": "process",
    "runbook_enrichment_requests_total": "process",
    "runbook_build_info": "process",
}
# Added by issue 11 (item 1) and listed in README.md's metrics section until DESIGN section 5
# takes them in.
README_METRICS: dict[str, str] = {
    "runbook_worker_errors_total": "process",
    "runbook_worker_last_cycle_timestamp_seconds": "process",
}
EXPECTED_METRICS = frozenset(METRICS_CONTRACT) | frozenset(README_METRICS)
DATABASE_METRICS = frozenset(m for m, src in METRICS_CONTRACT.items() if src == "database")
# Made by Prometheus itself, never in /metrics.
SYNTHETIC_METRICS = frozenset({"up"})
# The monitored application's metrics (alert_rules/README.md says how to adapt them).
APPLICATION_METRICS = frozenset(
    {"http_requests_total", "queue_depth", "queue_consumers", "storage_errors_total"}
)

# alertname -> runbook class, for the application rules (the catalog's matchers decide).
APPLICATION_ALERTS = {
    "Workflow500": "workflow-500",
    "PdfNotFound": "pdf-404",
    "QueueBacklog": "queue-failure",
    "QueueConsumerDown": "queue-failure",
    "StoragePermissionDenied": "storage-permissions",
}
SELF_ALERTS = {
    "RunbookRouterDown",
    "RunbookRouterWebhookErrors",
    "RunbookRouterWebhookRejected",
    "RunbookRouterNotificationsFailing",
    "RunbookRouterWorkerStalled",
    "RunbookRouterWorkerErrors",
    "RunbookRouterMTTRAboveTarget",
    "RunbookRouterFirstViewAboveTarget",
    "RunbookRouterCoverageBelowTarget",
    "RunbookRouterActionItemsOverdue",
}
# The single place for Runbook Router's address, and the query string every link carries.
BASE_URL = "{{ $externalLabels.runbook_router_url }}"
LABELS_QUERY = (
    '{{ range $k, $v := $labels }}{{ if ne $k "__name__" }}'
    "&{{ $k | urlquery }}={{ $v | urlquery }}{{ end }}{{ end }}"
)

# Grafana variables -> values that make a dashboard query plain PromQL.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "${__rate_interval}": "1m",
    "$__interval": "1m",
    "${__interval}": "1m",
    "$__range": "1d",
    "${__range}": "1d",
    "${class:regex}": ".*",
    "${class}": ".*",
    "$class": ".*",
}

# --- metric_names (app.checks.promql) -------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (
            'sum by (class) (rate(runbook_x_total{class=~"$class", le="0.5"}[5m]))',
            {"runbook_x_total"},
        ),
        (
            "histogram_quantile(0.9, max by (class, le) "
            "(increase(runbook_incident_first_view_seconds_bucket[7d]))) > 900",
            {"runbook_incident_first_view_seconds"},
        ),
        ("a_sum / ignoring(x) group_left(y) b_count offset 5m", {"a", "b"}),
        ("a_sum / on (x) group_left b_count", {"a", "b"}),
        ('up{job="runbook-router"} == 0 or absent(up{job="runbook-router"})', {"up"}),
        ('label_replace(foo, "dst", "$1", "src", "(.*)")', {"foo"}),
        ("1e3 * bar and on (x) baz unless qux:rate5m > bool 0x1F", {"bar", "baz", "qux:rate5m"}),
        ("sum(rate(x_total[$__rate_interval])) by (instance)", {"x_total"}),
        ("time() - max(y @ end()) + max_over_time(z[1h:5m])", {"y", "z"}),
        ('sum(max by (class) (increase(a{class!="generic"}[${__range}]))) / -inf + nan', {"a"}),
        ("vector(1) + scalar(queue_depth)", {"queue_depth"}),
    ],
)
def test_metric_names(expr: str, expected: set[str]) -> None:
    assert metric_names(expr) == expected


# --- what the rules and dashboards hold ---------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alerting_rules() -> Iterator[tuple[str, dict[str, Any]]]:
    """(file name, rule) for every alerting rule."""
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    yield path.name, rule


def rule_exprs() -> list[tuple[str, str]]:
    """(where, expr) of every rule."""
    out = []
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                out.append((f"{path.name} {name}", rule["expr"]))
    return out


def dashboard_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included; rows themselves too."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_exprs() -> list[tuple[str, str]]:
    """(where, expr) of every panel query (query variables: variable_queries())."""
    out = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in dashboard_panels(dashboard):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    where = f"{path.name} panel {panel['id']} {panel.get('title')!r}"
                    out.append((f"{where} refId {target['refId']}", target["expr"]))
    return out


def variable_queries() -> list[tuple[str, str]]:
    """(where, query) of every query variable: label_values(), not PromQL."""
    out = []
    for path in DASHBOARDS:
        for var in json.loads(path.read_text()).get("templating", {}).get("list", []):
            if var.get("type") == "query":
                query = var["query"]
                query = query.get("query", "") if isinstance(query, dict) else query
                out.append((f"{path.name} variable {var['name']}", query))
    return out


def used_metrics() -> dict[str, set[str]]:
    """metric -> where it is used, over alert rules, dashboard queries and variables."""
    used: dict[str, set[str]] = {}
    for where, expr in rule_exprs() + dashboard_exprs():
        for name in metric_names(expr):
            used.setdefault(name, set()).add(where)
    for where, query in variable_queries():
        for name in variable_metric_names(query):
            used.setdefault(name, set()).add(where)
    return used


def grafana_to_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def catalog_matchers() -> dict[str, list[str]]:
    """class -> its runbook's `match` entries (front matter of runbook_templates/<class>.md.j2)."""
    out = {}
    for path in sorted(CATALOG.glob("*.md.j2")):
        if path.name.startswith("_"):
            continue
        front = path.read_text().split("---")[1]
        meta = yaml.safe_load(front)
        out[meta["class"]] = list(meta.get("match") or [])
    return out


# --- contracts, in Python -----------------------------------------------------------------


def test_metrics_contract_matches_design() -> None:
    if not DESIGN.exists():
        pytest.skip(f"{DESIGN} not found (shared/ lies beside the repository in CI)")
    section = DESIGN.read_text().split("## 5.")[1].split("\n## ")[0]
    rows = re.findall(r"^\|\s*`(runbook_\w+)`\s*\|[^|]*\|[^|]*\|\s*(\w+)", section, re.M)
    assert dict(rows) == METRICS_CONTRACT


def test_metrics_beyond_design_are_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in README_METRICS:
        assert f"`{name}`" in readme, name


def test_every_metric_used_is_known() -> None:
    used = used_metrics()
    unknown = {
        name: sorted(where)
        for name, where in used.items()
        if name.startswith("runbook_") and name not in EXPECTED_METRICS
    }
    assert not unknown, f"runbook_ metrics not in DESIGN section 5: {unknown}"
    foreign = set(used) - EXPECTED_METRICS - SYNTHETIC_METRICS - APPLICATION_METRICS
    assert not foreign, (
        f"metrics neither Runbook Router's, Prometheus' nor documented application ones: "
        f"{ {name: sorted(used[name]) for name in foreign} }"
    )
    # Every DESIGN metric that matters to operators is on a dashboard or in a rule.
    assert set(used) >= EXPECTED_METRICS, sorted(EXPECTED_METRICS - set(used))


def test_rule_files_define_the_expected_alerts() -> None:
    by_file: dict[str, set[str]] = {}
    for file, rule in alerting_rules():
        by_file.setdefault(file, set()).add(rule["alert"])
    assert by_file == {
        "application.yml": set(APPLICATION_ALERTS),
        "runbook-router.yml": SELF_ALERTS,
    }


@pytest.mark.parametrize(
    ("file", "rule"), [pytest.param(f, r, id=r["alert"]) for f, r in alerting_rules()]
)
def test_alert_has_labels_annotations_and_runbook_url(file: str, rule: dict[str, Any]) -> None:
    alert = rule["alert"]
    labels, annotations = rule.get("labels", {}), rule.get("annotations", {})
    assert labels.get("severity") in {"critical", "warning", "info"}, alert
    assert labels.get("team"), alert
    assert "runbook_class" not in labels, "the catalog's matchers map alertnames to classes"
    assert annotations.get("summary"), alert
    assert annotations.get("description"), alert
    cls = APPLICATION_ALERTS.get(alert, "generic")
    expected = f"{BASE_URL}/runbooks/{cls}?alertname={alert}{LABELS_QUERY}"
    assert annotations.get("runbook_url") == expected
    if alert in SELF_ALERTS:
        assert labels.get("component") == "runbook-router", alert


@pytest.mark.parametrize(("alert", "cls"), APPLICATION_ALERTS.items())
def test_catalog_maps_application_alert_to_its_class(alert: str, cls: str) -> None:
    matchers = catalog_matchers()
    assert cls in matchers, f"no runbook_templates/{cls}.md.j2"
    owners = [c for c, match in matchers.items() if any(alert in m for m in match)]
    assert owners == [cls], f"{alert}: matched by {owners}"


def test_database_series_are_not_summed_across_replicas() -> None:
    offenders = [
        (where, expr)
        for where, expr in rule_exprs() + dashboard_exprs()
        if summed_database_series(expr)
    ]
    assert not offenders, "take max by (...) across replicas before any sum: " + repr(offenders)


_SUM = re.compile(r"\bsum\s*(?:(?:by|without)\s*\([^()]*\)\s*)?\(")


def summed_database_series(expr: str) -> set[str]:
    """Database-backed metrics that a ``sum`` adds up without a ``max`` across replicas first.

    Allowed (documented in grafana/README.md): ``sum [by (...)] (max by (...) (...))``, which
    counts each replica's identical series once and then adds classes or states.
    """
    found: set[str] = set()
    for match in _SUM.finditer(expr):
        argument = balanced(expr, match.end() - 1)
        if argument.lstrip().startswith("max"):
            continue
        found |= metric_names(argument) & DATABASE_METRICS
    return found


def balanced(text: str, open_at: int) -> str:
    """The text inside the parenthesis that opens at ``open_at``."""
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[open_at + 1 : i]
    raise ValueError(f"unbalanced parenthesis in {text!r}")


def test_summed_database_series_detector() -> None:
    assert summed_database_series("sum(runbook_incidents_open)") == {"runbook_incidents_open"}
    assert summed_database_series("sum by (class) (rate(runbook_incidents_total[5m]))") == {
        "runbook_incidents_total"
    }
    assert not summed_database_series(
        "sum by (status) (max by (class, status) (runbook_incidents_open))"
    )
    assert not summed_database_series("sum(rate(runbook_webhook_requests_total[5m]))")


def test_every_alert_has_unit_tests_that_fire_and_stay_quiet() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = set(APPLICATION_ALERTS) | SELF_ALERTS
    assert alerts - fired == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested staying quiet"


def test_every_rule_file_is_under_test() -> None:
    tested = {
        (path.parent / name).resolve()
        for path in RULE_TESTS
        for name in load_yaml(path)["rule_files"]
    }
    assert {p.resolve() for p in RULE_FILES} <= tested


# --- promtool -----------------------------------------------------------------------------


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need_binary(PROMTOOL, PACKAGE), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{' '.join(result.args)}\n{result.stdout}\n{result.stderr}"


@pytest.mark.e2e
def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", *(str(p) for p in RULE_FILES))
    assert_ok(result)
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


@pytest.mark.e2e
def test_promtool_unit_tests() -> None:
    result = promtool("test", "rules", *(str(p) for p in RULE_TESTS))
    assert_ok(result)
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_unit_tests_check_expanded_runbook_urls() -> None:
    """Test groups set the external label and expect the URL built on it; one group shows the
    relative link Prometheus makes without it."""
    relative = 0
    for path in RULE_TESTS:
        for case in load_yaml(path)["tests"]:
            base = case.get("external_labels", {}).get("runbook_router_url", "")
            relative += not base
            for check in case.get("alert_rule_test", []):
                for alert in check.get("exp_alerts") or []:
                    url = alert["exp_annotations"]["runbook_url"]
                    assert url.startswith(f"{base}/runbooks/"), (path.name, case["name"], url)
                    assert f"alertname={check['alertname']}" in url
    assert relative == 1


@pytest.mark.e2e
def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """Each dashboard query, with Grafana's variables replaced, is valid PromQL for promtool."""
    exprs = dashboard_exprs()
    assert exprs, "no dashboard queries found"
    groups = [
        {"name": where, "rules": [{"record": f"dashboard:query_{i}", "expr": grafana_to_promql(e)}]}
        for i, (where, e) in enumerate(exprs)
    ]
    rules = tmp_path / "dashboard-queries.yml"
    rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    assert_ok(promtool("check", "rules", str(rules)))


def test_grafana_variables_are_all_replaced() -> None:
    for where, expr in dashboard_exprs():
        # $1, $2 ... are label_replace() references, not Grafana variables
        leftover = re.findall(r"\$\{?[A-Za-z_]\w*", grafana_to_promql(expr))
        assert not leftover, f"{where}: unknown Grafana variables {leftover}"
