"""A real Prometheus scrapes the real server after a scripted incident history.

The server (``ServerProcess``, a temporary SQLite file, the repository's catalog and
configuration) is driven through its HTTP API only: Alertmanager-style webhooks, then
acknowledgements and resolutions by a responder, across four classes, with a resolution by
Alertmanager, a flap (refire 2 min after resolution) and a recurrence (refire 25 min after).
Alert ``startsAt`` lie in the last hour, so durations are realistic.

Then Debian's ``prometheus`` scrapes it every second (job ``runbook-router``) with the
repository's rule files loaded, evaluated every second. Once it has scraped three times:

- every query of both Grafana dashboards, Grafana's variables replaced
  (``tests/e2e/test_alert_rules.py: grafana_to_promql``), returns at least one series: a
  panel without data names its dashboard, title and query;
- every metric the dashboards and rules read is in the server's own ``/metrics``;
- every rule loaded into Prometheus evaluates healthy;
- Prometheus' view of the KPI series equals the history worked out by hand.

The rule files are loaded from copies whose only change is that no group keeps its own
``interval`` (the KPI group evaluates every 5 minutes, so it would stay unevaluated, health
"unknown", for the whole test); otherwise they are the repository's rules, re-serialised.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from app.checks.promql import metric_names
from harness.processes import free_port, http_ok, stop_process
from harness.server import ServerProcess
from tests.conftest import INGEST_TOKEN, WEBHOOK, admin_headers, server_env
from tests.e2e.conftest import LOGS_KEY, ServiceLogs
from tests.e2e.test_alert_rules import (
    APPLICATION_METRICS,
    RULE_FILES,
    SYNTHETIC_METRICS,
    dashboard_exprs,
    grafana_to_promql,
    load_yaml,
    used_metrics,
)
from tests.factories import alert, payload
from tests.services import need_binary, wait_until

pytestmark = pytest.mark.e2e

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
PACKAGE = "prometheus"
JOB = "runbook-router"
SCRAPES = 3  # scrapes to wait for: rate() and increase() need two samples in their range
# Seconds for any one condition. Prometheus 2.42 applies new scrape targets on a 5 s tick, so
# three scrapes take about 8 s; the rest hold within 1-3 s.
WAIT = 30.0
CLASSES = ("generic", "pdf-404", "queue-failure", "storage-permissions", "workflow-500")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
NEVER = "0001-01-01T00:00:00Z"  # a rule's lastEvaluation before its first evaluation


# --- helpers ---------------------------------------------------------------------------------


def parse_time(text: str) -> datetime:
    """An API timestamp; SQLite hands them back without a zone, and they are UTC."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def seconds(incident: dict[str, Any], end: str, start: str = "started_at") -> float:
    return (parse_time(incident[end]) - parse_time(incident[start])).total_seconds()


class RouterApi:
    """The server's HTTP API; anything but 200 fails, naming the request."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)

    def webhook(self, *alerts: dict[str, Any], token: str = INGEST_TOKEN) -> dict[str, Any]:
        response = self.http.post(
            WEBHOOK, json=payload(*alerts), headers={"Authorization": f"Bearer {token}"}
        )
        if token != INGEST_TOKEN:
            assert response.status_code == 401, f"{response.status_code} {response.text}"
            return {}
        assert response.status_code == 200, f"webhook: {response.status_code} {response.text}"
        body: dict[str, Any] = response.json()
        return body

    def opened(self, *alerts: dict[str, Any]) -> int:
        """Post ``alerts``; the one incident they concern."""
        (incident_id,) = self.webhook(*alerts)["incidents"]
        assert isinstance(incident_id, int)
        return incident_id

    def act(self, incident_id: int, action: str) -> dict[str, Any]:
        body = {"note": "e2e: fixed"} if action == "resolve" else None
        path = f"/api/v1/incidents/{incident_id}/{action}"
        response = self.http.post(path, json=body, headers=admin_headers())
        assert response.status_code == 200, f"POST {path}: {response.status_code} {response.text}"
        data: dict[str, Any] = response.json()
        return data

    def incident(self, incident_id: int) -> dict[str, Any]:
        path = f"/api/v1/incidents/{incident_id}"
        response = self.http.get(path, headers=admin_headers())
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        data: dict[str, Any] = response.json()
        return data

    def metrics_text(self) -> str:
        response = self.http.get("/metrics")
        assert response.status_code == 200, f"GET /metrics: {response.status_code}"
        return response.text

    def close(self) -> None:
        self.http.close()


@dataclass
class Expected:
    """What Prometheus must report after the history, worked out by hand (per class)."""

    incidents: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0.0))
    flaps: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0.0))
    recurrences: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0.0))
    classified: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0.0))
    resolutions: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CLASSES})
    acks: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CLASSES})
    open: dict[tuple[str, str], float] = field(
        default_factory=lambda: {
            (c, s): 0.0 for c in CLASSES for s in ("triggered", "acknowledged")
        }
    )
    webhooks: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(
            ("accepted", "duplicate", "invalid", "unauthorized", "error"), 0.0
        )
    )


def script_history(api: RouterApi, now: datetime) -> Expected:
    """Drive the server through a known history; return what its KPI series must say."""
    e = Expected()

    def ago(minutes: float) -> datetime:
        return now - timedelta(minutes=minutes)

    # workflow-500: fires 40 min ago, acknowledged now, resolved by Alertmanager 30 min ago
    # (600 s), refires 2 min later (a flap: the same incident reopens), resolved by hand now.
    def wf(starts: float, ends: float | None = None) -> dict[str, Any]:
        ends_at = None if ends is None else ago(ends)
        return alert("wf-1", starts_at=ago(starts), ends_at=ends_at, service="workflow-api")

    w = api.opened(wf(40))
    assert api.act(w, "ack")["status"] == "acknowledged"
    api.webhook(wf(40, ends=30))
    first = api.incident(w)
    assert (first["status"], first["resolved_by"]) == ("resolved", "alertmanager"), first
    assert seconds(first, "resolved_at") == 600, first
    assert api.opened(wf(28)) == w, "the flap opened a new one"
    assert api.incident(w)["flap_count"] == 1
    w_final = api.act(w, "resolve")
    e.incidents["workflow-500"] = 1
    e.flaps["workflow-500"] = 1
    e.classified["workflow-500"] = 2
    e.acks["workflow-500"] = [seconds(w_final, "acknowledged_at")]
    # once per resolution: 600 s, then from the same start to the manual resolve
    e.resolutions["workflow-500"] = [600.0, seconds(w_final, "resolved_at")]

    # pdf-404: fires 55 min ago, acknowledged, resolved by Alertmanager 45 min ago (600 s);
    # fires again 20 min ago (25 min after resolution: a new incident, a recurrence), acked.
    def pdf(starts: float, ends: float | None = None) -> dict[str, Any]:
        ends_at = None if ends is None else ago(ends)
        labels = {"severity": "warning", "service": "documents"}
        return alert(
            "pdf-1", starts_at=ago(starts), ends_at=ends_at, alertname="PdfNotFound", **labels
        )

    p1 = api.opened(pdf(55))
    api.act(p1, "ack")
    api.webhook(pdf(55, ends=45))
    p1_final = api.incident(p1)
    assert (p1_final["status"], p1_final["resolved_by"]) == ("resolved", "alertmanager")
    p2 = api.opened(pdf(20))
    assert p2 != p1
    p2_final = api.act(p2, "ack")
    assert p2_final["recurrence_of"] == p1, p2_final
    e.incidents["pdf-404"] = 2
    e.recurrences["pdf-404"] = 1
    e.classified["pdf-404"] = 2
    e.acks["pdf-404"] = [seconds(p1_final, "acknowledged_at"), seconds(p2_final, "acknowledged_at")]
    e.resolutions["pdf-404"] = [seconds(p1_final, "resolved_at")]
    assert e.resolutions["pdf-404"] == [600.0]
    e.open[("pdf-404", "acknowledged")] = 1

    # queue-failure: fires 14 min ago, resolved by hand while the alert still fires; the
    # repeat of the same notification neither reopens it nor counts again.
    queue = alert("q-1", starts_at=ago(14), alertname="QueueBacklog", queue="documents")
    q = api.opened(queue)
    q_final = api.act(q, "resolve")
    assert api.webhook(queue)["duplicates"] == 1
    assert api.incident(q)["status"] == "resolved", "a repeat reopened a resolved incident"
    e.incidents["queue-failure"] = 1
    e.classified["queue-failure"] = 1
    e.resolutions["queue-failure"] = [seconds(q_final, "resolved_at")]

    # generic: an alert no runbook matches, 5 min ago, still open and unacknowledged.
    api.opened(alert("odd-1", starts_at=ago(5), alertname="E2eUnmappedAlert", severity="info"))
    e.incidents["generic"] = 1
    e.classified["generic"] = 1
    e.open[("generic", "triggered")] = 1

    # One webhook with a wrong token. Accepted: the 8 posts above that stored something; the
    # byte-identical queue repeat is a duplicate.
    api.webhook(alert("x", starts_at=ago(1)), token="not-the-ingest-token")
    e.webhooks.update(accepted=8, duplicate=1, unauthorized=1)
    return e


# --- Prometheus ------------------------------------------------------------------------------


@dataclass
class Prometheus:
    url: str
    proc: subprocess.Popen[bytes]
    logs: ServiceLogs

    def api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        body = response.json()
        failure = f"GET {path} {params}: {response.status_code} {response.text}"
        assert response.status_code == 200, failure
        assert body.get("status") == "success", failure
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query at the current time: the result vector."""
        data = self.api("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", f"{expr}: {data}"
        result: list[dict[str, Any]] = data["result"]
        return result

    def by(self, expr: str, *labels: str) -> dict[Any, float]:
        """``{label value(s): value}`` of a query's series (one label: the value itself)."""
        out: dict[Any, float] = {}
        for series in self.query(expr):
            key = tuple(series["metric"].get(label, "") for label in labels)
            out[key[0] if len(key) == 1 else key] = float(series["value"][1])
        return out


def rule_copies(directory: Path) -> list[Path]:
    """The repository's rule files, each group without its own ``interval``."""
    directory.mkdir(parents=True)
    copies = []
    for path in RULE_FILES:
        rules = load_yaml(path)
        for group in rules["groups"]:
            group.pop("interval", None)
        copy = directory / path.name
        copy.write_text(yaml.safe_dump(rules, sort_keys=False))
        copies.append(copy)
    return copies


def write_prometheus_config(work: Path, *, target: str, router_url: str) -> Path:
    config = {
        "global": {
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            "evaluation_interval": "1s",
            "external_labels": {"runbook_router_url": router_url},
        },
        "rule_files": [str(p) for p in rule_copies(work / "rules")],
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
    }
    path = work / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = subprocess.run(
        [need_binary(PROMTOOL, PACKAGE), "check", "config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, f"promtool check config:\n{result.stdout}{result.stderr}"
    return path


def start_prometheus(
    work: Path, server: ServerProcess, logs: ServiceLogs, procs: list[subprocess.Popen[bytes]]
) -> Prometheus:
    """Start Prometheus (appended to ``procs`` at once, for the caller to stop)."""
    binary = need_binary(PROMETHEUS, PACKAGE)
    config = write_prometheus_config(
        work, target=server.url.removeprefix("http://"), router_url=server.url
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = logs.register("prometheus", work / "prometheus.log")
    command = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={work / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=info",
    ]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    procs.append(proc)
    prometheus = Prometheus(url, proc, logs)

    def ready() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"prometheus exited with status {proc.returncode}")
        return http_ok(f"{url}/-/ready")

    wait_until(ready, timeout=WAIT, what=f"prometheus /-/ready on {url}")
    return prometheus


# --- fixtures --------------------------------------------------------------------------------


@dataclass
class Stack:
    server: ServerProcess
    api: RouterApi
    prometheus: Prometheus
    expected: Expected
    logs: ServiceLogs


def _wait_for_scrapes(prometheus: Prometheus) -> None:
    scraped = f'count_over_time(up{{job="{JOB}"}}[1m]) >= {SCRAPES}'
    wait_until(
        lambda: bool(prometheus.query(scraped)),
        timeout=WAIT,
        interval=0.25,
        what=f"{SCRAPES} scrapes of job {JOB!r}",
    )
    up = prometheus.by(f'up{{job="{JOB}"}}', "job")
    assert up == {JOB: 1.0}, f"the last scrape failed: up = {up}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Server, scripted history, then Prometheus scraping it at least three times."""
    need_binary(PROMETHEUS, PACKAGE)
    tmp = tmp_path_factory.mktemp("prometheus-kpis")
    logs = ServiceLogs()
    env = server_env(f"sqlite:///{tmp}/runbook-router.db", tmp / "data")
    server = ServerProcess(env, logs.register("runbook-router", tmp / "runbook-router.log"))
    api: RouterApi | None = None
    procs: list[subprocess.Popen[bytes]] = []
    try:
        server.start()
        api = RouterApi(server.url)
        expected = script_history(api, datetime.now(UTC).replace(microsecond=0))
        prometheus = start_prometheus(tmp / "prometheus", server, logs, procs)
        _wait_for_scrapes(prometheus)
        yield Stack(server, api, prometheus, expected, logs)
    except (
        AssertionError,
        pytest.fail.Exception,
        httpx.HTTPError,
        OSError,
        subprocess.SubprocessError,
    ) as err:
        pytest.fail(f"{err}\n{logs.tails()}")
    finally:
        for proc in procs:
            stop_process(proc)
        if api is not None:
            api.close()
        server.stop()


@pytest.fixture(autouse=True)
def _log_tails_on_failure(request: pytest.FixtureRequest) -> None:
    """A failing test's report carries the tails of the server and Prometheus logs."""
    if "stack" in request.fixturenames:
        request.node.stash[LOGS_KEY] = request.getfixturevalue("stack").logs


# --- every dashboard query has data ----------------------------------------------------------


def _panel_id(where: str) -> str:
    # "runbook-router-kpis.json panel 2 'MTTR' refId A" -> "runbook-router-kpis-2-A"
    parts = where.split()
    return f"{parts[0].removesuffix('.json')}-{parts[2]}-{parts[-1]}"


DASHBOARD_QUERIES = dashboard_exprs()


def test_dashboards_have_queries() -> None:
    assert len(DASHBOARD_QUERIES) > 20, DASHBOARD_QUERIES


@pytest.mark.parametrize(
    ("where", "expr"), [pytest.param(w, e, id=_panel_id(w)) for w, e in DASHBOARD_QUERIES]
)
def test_dashboard_query_returns_series(stack: Stack, where: str, expr: str) -> None:
    promql = grafana_to_promql(expr)
    result = stack.prometheus.query(promql)
    if result:
        return
    # Whose fault: a metric without any series (the exporter) or the query itself?
    series = {
        name: len(stack.prometheus.query(f'{{__name__=~"{name}(_bucket|_sum|_count)?"}}'))
        for name in sorted(metric_names(promql))
    }
    absent = [name for name, n in series.items() if n == 0]
    verdict = (
        f"the exporter has no series for {absent}: /metrics must expose them (pre-initialised "
        "at zero, like the other runbook_ series) so the panel shows 0, not 'No data'"
        if absent
        else f"every metric it reads has series ({series}): the query's matchers or joins "
        "select nothing"
    )
    pytest.fail(
        f"{where}: no series in Prometheus after {SCRAPES}+ scrapes of a server with an "
        f"incident history; the panel would show 'No data'.\n"
        f"  dashboard expr: {expr}\n  queried as:     {promql}\n  cause: {verdict}"
    )


def test_class_variable_lists_every_class(stack: Stack) -> None:
    """The ``class`` variable, ``label_values(runbook_incidents_total, class)``."""
    values = stack.prometheus.api(
        "/api/v1/label/class/values", **{"match[]": "runbook_incidents_total"}
    )
    assert sorted(values) == sorted(CLASSES)


# --- every metric the dashboards and rules read is exported ----------------------------------


def test_every_metric_used_is_in_metrics(stack: Stack) -> None:
    families = list(text_string_to_metric_families(stack.api.metrics_text()))
    declared = {f.name for f in families}
    samples = {s.name for f in families for s in f.samples}
    missing = {}
    for name, where in sorted(used_metrics().items()):
        if name in SYNTHETIC_METRICS | APPLICATION_METRICS:
            continue
        histogram = all(name + suffix in samples for suffix in HISTOGRAM_SUFFIXES)
        if name in samples or histogram:
            continue
        family = name.removesuffix("_total")
        state = "declared (HELP/TYPE) with no samples" if family in declared else "absent"
        missing[name] = f"{state}; used by {sorted(where)}"
    assert not missing, "metrics the dashboards/rules read but /metrics lacks:\n" + "\n".join(
        f"  {name}: {why}" for name, why in missing.items()
    )


# --- the rules evaluate healthy --------------------------------------------------------------


def _rules(stack: Stack) -> list[dict[str, Any]]:
    groups = stack.prometheus.api("/api/v1/rules")["groups"]
    return [rule | {"group": g["name"]} for g in groups for rule in g["rules"]]


def test_rules_are_loaded_and_healthy(stack: Stack) -> None:
    expected = {
        rule.get("alert") or rule.get("record")
        for path in RULE_FILES
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
    }

    def evaluated() -> bool:
        return all(r["lastEvaluation"] != NEVER for r in _rules(stack))

    wait_until(evaluated, timeout=WAIT, interval=0.25, what="every rule to be evaluated once")
    rules = _rules(stack)
    assert {r["name"] for r in rules} == expected
    unhealthy = [
        f"{r['group']}/{r['name']}: health={r['health']} lastError={r.get('lastError')!r}"
        for r in rules
        if r["health"] != "ok" or r.get("lastError")
    ]
    assert not unhealthy, "\n".join(unhealthy)


# --- values ----------------------------------------------------------------------------------


def test_counters_match_the_history(stack: Stack) -> None:
    p, e = stack.prometheus, stack.expected
    incidents = "sum by (class) (max by (class, severity) (runbook_incidents_total))"
    assert p.by(incidents, "class") == e.incidents
    assert p.by("max by (class) (runbook_incident_flaps_total)", "class") == e.flaps
    assert p.by("max by (class) (runbook_incident_recurrences_total)", "class") == e.recurrences
    assert p.by("max by (class) (runbook_alerts_classified_total)", "class") == e.classified
    assert p.by("max by (class, status) (runbook_incidents_open)", "class", "status") == e.open
    assert p.by("sum by (outcome) (runbook_webhook_requests_total)", "outcome") == e.webhooks
    severities = p.by('runbook_incidents_total{class="pdf-404"} > 0', "severity")
    assert severities == {"warning": 2}
    assert p.by(f'sum by (job) (runbook_build_info{{job="{JOB}"}})', "job") == {JOB: 1}


@pytest.mark.parametrize(
    ("metric", "attr"),
    [
        ("runbook_incident_resolution_seconds", "resolutions"),
        ("runbook_incident_acknowledge_seconds", "acks"),
    ],
)
def test_histograms_match_the_history(stack: Stack, metric: str, attr: str) -> None:
    p = stack.prometheus
    observed: dict[str, list[float]] = getattr(stack.expected, attr)
    counts = p.by(f"max by (class) ({metric}_count)", "class")
    assert counts == {c: len(v) for c, v in observed.items()}
    sums = p.by(f"max by (class) ({metric}_sum)", "class")
    assert sums == pytest.approx({c: sum(v) for c, v in observed.items()}, abs=1e-3)
    for le in ("600.0", "3600.0", "+Inf"):
        buckets = p.by(f'max by (class) ({metric}_bucket{{le="{le}"}})', "class")
        bound = float(le)
        assert buckets == {c: sum(1 for x in v if x <= bound) for c, v in observed.items()}, le


def test_first_view_is_zero_and_mttr_is_the_mean(stack: Stack) -> None:
    """No runbook was viewed; MTTR per class is the mean of the resolutions."""
    p, e = stack.prometheus, stack.expected
    first_view = p.by("max by (class) (runbook_incident_first_view_seconds_count)", "class")
    assert first_view == dict.fromkeys(CLASSES, 0.0)
    mttr = p.by(
        "max by (class) (runbook_incident_resolution_seconds_sum)"
        " / max by (class) (runbook_incident_resolution_seconds_count) > 0",
        "class",
    )
    expected = {c: sum(v) / len(v) for c, v in e.resolutions.items() if v}
    assert mttr == pytest.approx(expected, abs=1e-3)
