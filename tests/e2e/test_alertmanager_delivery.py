"""A real Alertmanager delivers to the real server: incidents open, repeat, resolve, 401s.

Alertmanager (Debian's ``prometheus-alertmanager``) runs with gossip disabled and short group
timers: ``group_wait`` 1s, ``group_interval`` 2s and ``repeat_interval`` 1s, so every firing
group is re-sent at each 2s tick. That makes repeats happen for real within the test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.alertmanager import ALERTMANAGER, AMTOOL, PACKAGE, Alertmanager, webhook_config
from harness.server import ServerProcess
from tests.conftest import INGEST_TOKEN, WEBHOOK, admin_headers, server_env
from tests.e2e.conftest import ServiceLogs
from tests.services import need_binary, wait_until

pytestmark = pytest.mark.e2e

RECEIVER = "runbook-router"
WAIT = 12.0  # seconds for any one condition; each normally holds within 1-3s

WORKFLOW = {"alertname": "Workflow500", "service": "workflow-api", "severity": "critical"}
PDF = {"alertname": "PdfNotFound", "service": "documents", "severity": "warning"}
UNKNOWN = {"alertname": "E2eUnmappedAlert", "service": "billing", "severity": "info"}
CLASSES = {"workflow-500": "Workflow500", "pdf-404": "PdfNotFound", "generic": "E2eUnmappedAlert"}


# --- helpers ---------------------------------------------------------------------------------


def now_ms() -> datetime:
    """Now, cut to milliseconds so a timestamp survives every round trip unchanged."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def am_alert(
    labels: dict[str, str], starts_at: datetime, ends_at: datetime | None = None
) -> dict[str, Any]:
    """One alert as posted to Alertmanager's ``/api/v2/alerts``."""
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {"summary": f"{labels['alertname']} (e2e)"},
        "startsAt": iso(starts_at),
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up",
    }
    if ends_at is not None:
        alert["endsAt"] = iso(ends_at)
    return alert


def group_key(alertname: str) -> str:
    """The group key Alertmanager sends for a root route with ``group_by: [alertname]``."""
    return f'{{}}:{{alertname="{alertname}"}}'


def alertmanager_config(*, webhook_url: str, token: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": RECEIVER,
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "2s",
            "repeat_interval": "1s",
        },
        "receivers": [{"name": RECEIVER, "webhook_configs": [webhook_config(webhook_url, token)]}],
    }


class RouterApi:
    """The server's admin API, failing on anything but 200."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, headers=admin_headers(), timeout=5)

    def get(self, path: str, **params: str | int) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def incidents(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get("/api/v1/incidents", limit=200)["items"]
        return items

    def by_class(self) -> dict[str, dict[str, Any]]:
        return {i["runbook_class"]: i for i in self.incidents()}

    def incident(self, incident_id: int) -> dict[str, Any]:
        data: dict[str, Any] = self.get(f"/api/v1/incidents/{incident_id}")
        return data

    def deliveries(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get("/api/v1/deliveries", limit=500)["items"]
        return items

    def close(self) -> None:
        self.http.close()


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def binaries() -> tuple[str, str]:
    """Alertmanager and amtool, both from Debian's package; skip (or fail in CI) without."""
    return need_binary(ALERTMANAGER, PACKAGE), need_binary(AMTOOL, PACKAGE)


@pytest.fixture
def server(tmp_path: Path, service_logs: ServiceLogs) -> Iterator[ServerProcess]:
    env = server_env(f"sqlite:///{tmp_path}/runbook-router.db", tmp_path / "data")
    log_path = service_logs.register("runbook-router", tmp_path / "runbook-router.log")
    process = ServerProcess(env, log_path)
    try:
        yield process.start()
    finally:
        process.stop()


@pytest.fixture
def api(server: ServerProcess) -> Iterator[RouterApi]:
    client = RouterApi(server.url)
    yield client
    client.close()


@pytest.fixture
def start_alertmanager(
    binaries: tuple[str, str], server: ServerProcess, tmp_path: Path, service_logs: ServiceLogs
) -> Iterator[Callable[[str], Alertmanager]]:
    """Start Alertmanager with a webhook receiver pointing at ``server`` with ``token``."""
    binary, amtool = binaries
    started: list[Alertmanager] = []

    def start(token: str) -> Alertmanager:
        config = alertmanager_config(webhook_url=server.url + WEBHOOK, token=token)
        alertmanager = Alertmanager(
            tmp_path / "alertmanager",
            config,
            binary=binary,
            amtool=amtool,
            extra_args=("--log.level=debug",),
        )
        service_logs.register("alertmanager", alertmanager.log_path)
        started.append(alertmanager)
        return alertmanager.start()

    try:
        yield start
    finally:
        for alertmanager in started:
            alertmanager.stop()


# --- tests -----------------------------------------------------------------------------------


def _deliveries_about(api: RouterApi, incident_id: int) -> list[dict[str, Any]]:
    """Oldest first: the deliveries that concerned one incident."""
    return [d for d in reversed(api.deliveries()) if incident_id in d["incident_ids"]]


def _open_and_check_incidents(api: RouterApi, started: datetime) -> dict[str, dict[str, Any]]:
    wait_until(
        lambda: (
            {c: i["status"] for c, i in api.by_class().items()}
            == dict.fromkeys(CLASSES, "triggered")
        ),
        timeout=WAIT,
        what=f"three triggered incidents of classes {sorted(CLASSES)}",
    )
    incidents = api.by_class()
    for runbook_class, alertname in CLASSES.items():
        incident = incidents[runbook_class]
        assert incident["group_key"] == group_key(alertname), incident
        assert incident["resolved_at"] is None, incident
        assert parse_time(incident["started_at"]) == started, incident
        assert incident["title"] == f"{alertname} (e2e)", incident
    return incidents


def _delivered_twice(api: RouterApi, incident_id: int) -> bool:
    return len(_deliveries_about(api, incident_id)) >= 2


def _wait_for_repeats(api: RouterApi, incidents: dict[str, dict[str, Any]]) -> None:
    """Every group is delivered again (repeat_interval), and the repeat stores nothing."""
    for runbook_class, incident in incidents.items():
        wait_until(
            partial(_delivered_twice, api, incident["id"]),
            timeout=WAIT,
            what=f"Alertmanager to repeat the notification of the {runbook_class} incident",
        )
        first, *repeats = _deliveries_about(api, incident["id"])
        assert first["outcome"] == "accepted", first
        assert (first["status"], first["alerts"], first["new"]) == ("firing", 1, 1), first
        assert first["group_key"] == incident["group_key"], first
        assert first["receiver"] == RECEIVER, first
        for repeat in repeats:
            assert repeat["outcome"] == "duplicate", repeat
            assert (repeat["alerts"], repeat["new"], repeat["duplicates"]) == (1, 0, 1), repeat
        assert len(api.incident(incident["id"])["alerts"]) == 1, "a repeat was stored twice"


def test_alertmanager_delivers_alerts_then_resolutions(
    start_alertmanager: Callable[[str], Alertmanager], api: RouterApi
) -> None:
    am = start_alertmanager(INGEST_TOKEN)
    started = now_ms() - timedelta(minutes=1)
    first = {
        "workflow": am_alert({**WORKFLOW, "instance": "api-1"}, started),
        "pdf": am_alert(PDF, started),
        "unknown": am_alert(UNKNOWN, started),
    }
    am.post_alerts(list(first.values()))

    incidents = _open_and_check_incidents(api, started)
    _wait_for_repeats(api, incidents)

    # A second alert joins the open Workflow500 group: the next notification carries both.
    workflow_id = incidents["workflow-500"]["id"]
    second_start = now_ms() - timedelta(seconds=5)
    second = am_alert({**WORKFLOW, "instance": "api-2"}, second_start)
    am.post_alerts([second])
    wait_until(
        lambda: len(api.incident(workflow_id)["alerts"]) == 2,
        timeout=WAIT,
        what=f"the second Workflow500 alert to join incident {workflow_id}",
    )
    detail = api.incident(workflow_id)
    assert detail["status"] == "triggered"
    alert_driven = [e["kind"] for e in detail["timeline"] if e["kind"] != "escalated"]
    assert alert_driven == ["opened", "alerts_added"]  # escalation runs on its own clock
    fingerprints = {
        a["fingerprint"] for a in am.alerts() if a["labels"]["alertname"] == "Workflow500"
    }
    assert {a["fingerprint"] for a in detail["alerts"]} == fingerprints
    assert len(api.incidents()) == 3, "the second alert must not open another incident"

    # Resolve everything: the same alerts, same startsAt, with endsAt in the past.
    end = now_ms() - timedelta(seconds=1)
    am.post_alerts(
        [
            {**first["workflow"], "endsAt": iso(end - timedelta(seconds=1))},
            {**second, "endsAt": iso(end)},
            {**first["pdf"], "endsAt": iso(end)},
            {**first["unknown"], "endsAt": iso(end)},
        ]
    )
    wait_until(
        lambda: all(i["status"] == "resolved" for i in api.incidents()),
        timeout=WAIT,
        what="all three incidents to be resolved by Alertmanager's resolved notifications",
    )
    _check_resolved(api, incidents, end)
    _check_delivery_log(api)
    assert am.counter("alertmanager_notifications_failed_total", integration="webhook") == 0


def _check_resolved(api: RouterApi, incidents: dict[str, dict[str, Any]], end: datetime) -> None:
    expected_alerts = {"workflow-500": 2, "pdf-404": 1, "generic": 1}
    current = api.by_class()
    assert len(current) == 3
    for runbook_class, incident in incidents.items():
        detail = api.incident(incident["id"])
        assert current[runbook_class]["id"] == incident["id"]
        assert detail["resolved_by"] == "alertmanager", detail
        # resolved_at is the latest endsAt of the incident's alerts
        assert detail["resolved_at"] is not None
        assert parse_time(detail["resolved_at"]) == end, detail
        assert len(detail["alerts"]) == expected_alerts[runbook_class], detail["alerts"]
        assert {a["status"] for a in detail["alerts"]} == {"resolved"}, detail["alerts"]
        assert all(a["ends_at"] is not None for a in detail["alerts"])
        assert detail["timeline"][-1]["kind"] == "resolved", detail["timeline"]
        assert detail["timeline"][-1]["rule"] == "AUTO-1", detail["timeline"]


def _check_delivery_log(api: RouterApi) -> None:
    deliveries = api.deliveries()
    assert deliveries, "no deliveries logged"
    assert {(d["http_status"], d["error"]) for d in deliveries} == {(200, "")}, deliveries
    assert {d["outcome"] for d in deliveries} == {"accepted", "duplicate"}, deliveries
    # Byte-identical repeats are answered from the repeat cache without parsing the body,
    # so only parsed deliveries carry the receiver, group key and status.
    parsed = [d for d in deliveries if d["group_key"]]
    assert {d["receiver"] for d in parsed} == {RECEIVER}, parsed
    assert {d["group_key"] for d in parsed} == {group_key(n) for n in CLASSES.values()}
    accepted = Counter((d["group_key"], d["status"]) for d in parsed if d["outcome"] == "accepted")
    for alertname in CLASSES.values():
        assert accepted[(group_key(alertname), "firing")] >= 1, accepted
        assert accepted[(group_key(alertname), "resolved")] == 1, accepted
    # four alert occurrences in all, each stored by exactly one delivery
    assert sum(d["new"] for d in deliveries) == 4, deliveries
    assert sum(d["alerts"] for d in deliveries) > 4, "Alertmanager sent no repeats"


def test_wrong_token_in_alertmanager_is_unauthorized(
    start_alertmanager: Callable[[str], Alertmanager], api: RouterApi
) -> None:
    am = start_alertmanager("not-the-ingest-token")
    am.post_alerts([am_alert(WORKFLOW, now_ms() - timedelta(seconds=30))])

    # A 4xx is not retried at once, but the group is tried again at every group_interval.
    wait_until(
        lambda: len(api.deliveries()) >= 2,
        timeout=WAIT,
        what="two webhook deliveries from Alertmanager with the wrong token",
    )
    for delivery in api.deliveries():
        assert delivery["outcome"] == "unauthorized", delivery
        assert delivery["http_status"] == 401, delivery
        assert (delivery["alerts"], delivery["new"], delivery["incident_ids"]) == (0, 0, [])
        assert "token" in delivery["error"], delivery
    wait_until(
        lambda: am.counter("alertmanager_notifications_failed_total", integration="webhook") >= 2,
        timeout=WAIT,
        what="Alertmanager to count its failed webhook notifications",
    )
    assert api.incidents() == []
