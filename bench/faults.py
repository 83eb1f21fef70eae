"""Faults under a real Alertmanager: the database stops, a replica is SIGKILLed, nothing is lost.

A longer, reporting version of ``tests/e2e/test_faults.py``. It starts, on loopback only:

* a private PostgreSQL cluster (``harness/postgres.py``; fsync off, as in the tests);
* two replicas, ``python -m app serve``, on one database (migrated once);
* Debian's Alertmanager 0.25 (``group_wait`` 1s, ``group_interval`` 2s, ``repeat_interval``
  1h, gossip off) with three receivers: lane ``a`` delivers to replica A, lane ``b`` to B, and
  lane ``both`` to both replicas at once (what an HA pair does to one server);

then posts distinct alerts to Alertmanager's ``/api/v2/alerts`` in waves, into groups
``(alertname, cluster)`` that grow from wave to wave (so each notification repeats the alerts
already delivered). Mid-way it stops PostgreSQL (fast shutdown) for a while and starts it again
on the same data directory and port, and later SIGKILLs replica A and restarts it. Then it
waits for Alertmanager to deliver everything, and reports:

* alerts posted to Alertmanager;
* Alertmanager's own counters for the webhook integration (notifications attempted and failed,
  HTTP requests and failed requests);
* the webhook answers by status and outcome, from the delivery log (``GET /api/v1/deliveries``)
  and from each replica's ``runbook_webhook_requests_total``;
* alerts stored (database rows) against alerts posted, and incidents against groups;

and ends with ``PASS``/``FAIL stored exactly once: N/N`` (exit status 1 on FAIL).

    .venv/bin/python bench/faults.py            # about 45 s: 500 alerts, 10 s outage
    .venv/bin/python bench/faults.py --quick    # about 30 s: 200 alerts, 5 s outage
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.alertmanager import ALERTMANAGER, AMTOOL, Alertmanager, webhook_config  # noqa: E402
from harness.postgres import Cluster, find_bindir  # noqa: E402
from harness.server import ServerProcess, migrate, server_env  # noqa: E402

WEBHOOK = "/api/v1/webhooks/alertmanager"
TOKEN = "faults-ingest-token"
ADMIN_TOKEN = "faults-admin-token"
LANES = ("a", "b", "both")
ALERTNAMES = ("Workflow500", "QueueBacklog", "PdfNotFound", "StoragePermissionDenied", "DiskFull")
AM_COUNTERS = (
    ("notifications attempted", "alertmanager_notifications_total"),
    ("notifications failed", "alertmanager_notifications_failed_total"),
    ("HTTP requests", "alertmanager_notification_requests_total"),
    ("HTTP requests failed", "alertmanager_notification_requests_failed_total"),
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- replicas ----------------------------------------------------------------------------------


class Replica(ServerProcess):
    """One ``python -m app serve`` (migrated beforehand), restarted on its port after a kill."""

    def __init__(self, name: str, database_url: str, work: Path) -> None:
        env = server_env(
            database_url, work / f"data-{name}", ingest_token=TOKEN, admin_token=ADMIN_TOKEN
        )
        super().__init__(
            env,
            work / f"replica-{name}.log",
            migrate=False,
            name=name,
            ready_timeout=60,
            stop_timeout=30,
        )
        self.restarts = 0

    def webhook_requests(self) -> Counter[str]:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        counts: Counter[str] = Counter()
        for line in text.splitlines():
            if line.startswith("runbook_webhook_requests_total{"):
                outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
                counts[outcome] = int(float(line.rsplit(" ", 1)[1]))
        return counts


# --- Alertmanager --------------------------------------------------------------------------------


def webhook(url: str) -> dict[str, Any]:
    return webhook_config(url + WEBHOOK, TOKEN)


def alertmanager_config(a: Replica, b: Replica) -> dict[str, Any]:
    targets = {"a": [a], "b": [b], "both": [a, b]}
    return {
        "route": {
            "receiver": "lane-a",
            "group_by": ["alertname", "cluster"],
            "group_wait": "1s",
            "group_interval": "2s",
            "repeat_interval": "1h",
            "routes": [
                {"receiver": f"lane-{lane}", "matchers": [f'lane="{lane}"']} for lane in LANES
            ],
        },
        "receivers": [
            {"name": f"lane-{lane}", "webhook_configs": [webhook(r.url) for r in targets[lane]]}
            for lane in LANES
        ],
    }


def start_alertmanager(work: Path, config: dict[str, Any]) -> Alertmanager:
    return Alertmanager(work / "alertmanager", config, ready_timeout=20).start()


def webhook_counters(am: Alertmanager) -> dict[str, int]:
    return {label: int(am.counter(name, integration="webhook")) for label, name in AM_COUNTERS}


# --- the alerts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    alerts: int
    waves: int
    groups: int
    every: float  # seconds between waves
    outage_at: float
    outage: float
    kill_at: float
    down: float  # seconds replica A stays dead before it is started again
    settle: float  # seconds to wait for the last deliveries

    @classmethod
    def of(cls, args: argparse.Namespace) -> Plan:
        if args.quick:  # waves at 0-10.5 s; database down 1-6 s; replica a dead 7.6-9.6 s
            return cls(200, 8, 12, 1.5, 1.0, args.outage or 5.0, 7.6, 2.0, 90.0)
        # waves at 0-22.5 s; database down 3-13 s; replica a dead 16.1-19.1 s
        return cls(500, 10, 25, 2.5, 3.0, args.outage or 10.0, 16.1, 3.0, 120.0)


def wave_alerts(plan: Plan, wave: int, started: datetime) -> list[dict[str, Any]]:
    """The alerts of one wave (0-based): an equal share, spread over every group."""
    per_wave = plan.alerts // plan.waves
    alerts = []
    for i in range(wave * per_wave, (wave + 1) * per_wave):
        group = i % plan.groups
        labels = {
            "alertname": ALERTNAMES[group % len(ALERTNAMES)],
            "cluster": f"faults-{group:02d}",
            "lane": LANES[group % len(LANES)],
            "service": "workflow-api",
            "severity": "critical",
            "instance": f"host-{i:04d}",
        }
        starts = started + timedelta(milliseconds=i)
        alerts.append(
            {
                "labels": labels,
                "annotations": {"summary": f"{labels['alertname']} on {labels['instance']}"},
                "startsAt": starts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up",
            }
        )
    return alerts


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Run:
    plan: Plan
    cluster: Cluster
    database_url: str
    am: Alertmanager
    a: Replica
    b: Replica
    posted: list[str] = field(default_factory=list)  # instance labels
    events: list[str] = field(default_factory=list)
    restart_thread: threading.Thread | None = None

    def note(self, message: str) -> None:
        self.events.append(message)
        log(message)

    def dsn(self) -> str:
        return self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=5) as conn:
            return conn.execute(sql).fetchall()

    def stored(self) -> int:
        with contextlib.suppress(psycopg.Error):
            return int(self.query("SELECT count(*) FROM alerts")[0][0])
        return -1

    # the schedule ---------------------------------------------------------------------------

    def post_wave(self, wave: int, started: datetime) -> None:
        alerts = wave_alerts(self.plan, wave, started)
        self.am.post_alerts(alerts)
        self.posted += [a["labels"]["instance"] for a in alerts]
        log(f"wave {wave + 1}/{self.plan.waves}: posted {len(alerts)} alerts to Alertmanager")

    def stop_database(self) -> None:
        self.cluster.halt()
        self.note(f"PostgreSQL stopped (fast shutdown) for {self.plan.outage:.0f} s")

    def start_database(self) -> None:
        self.cluster.resume()
        self.note("PostgreSQL started again on the same data directory and port")

    def kill_replica(self) -> None:
        self.a.kill()
        self.note("replica a SIGKILLed")

    def restart_replica(self) -> None:
        began = time.monotonic()

        def restart() -> None:
            self.a.start()
            self.a.restarts += 1
            self.note(f"replica a ready again ({time.monotonic() - began:.1f} s to start)")

        self.restart_thread = threading.Thread(target=restart, name="restart-a")
        self.restart_thread.start()

    def schedule(self) -> list[tuple[float, str, Callable[[], None]]]:
        plan, started = self.plan, datetime.now(UTC) - timedelta(minutes=1)
        steps: list[tuple[float, str, Callable[[], None]]] = [
            (w * plan.every, f"wave {w}", lambda w=w: self.post_wave(w, started))  # type: ignore[misc]
            for w in range(plan.waves)
        ]
        steps += [
            (plan.outage_at, "stop database", self.stop_database),
            (plan.outage_at + plan.outage, "start database", self.start_database),
            (plan.kill_at, "kill replica", self.kill_replica),
            (plan.kill_at + plan.down, "restart replica", self.restart_replica),
        ]
        return sorted(steps, key=lambda step: step[0])

    def drive(self) -> None:
        origin = time.monotonic()
        for at, _name, action in self.schedule():
            delay = origin + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # a timetable, not a wait for a condition
            action()
        if self.restart_thread is not None:
            self.restart_thread.join(timeout=90)

    def settle(self) -> float:
        """Wait until every alert is stored and Alertmanager stopped sending; seconds waited."""
        began = time.monotonic()
        deadline = began + self.plan.settle
        last, quiet_since = webhook_counters(self.am), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = webhook_counters(self.am)
            if now != last:
                last, quiet_since = now, time.monotonic()
            elif self.stored() >= len(self.posted) and time.monotonic() - quiet_since >= 5:
                break
        return time.monotonic() - began


# --- the report ----------------------------------------------------------------------------------


def all_deliveries(replica: Replica) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 500}
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=replica.url, headers=headers, timeout=30) as client:
        while True:
            page = client.get("/api/v1/deliveries", params=params).json()
            items += page["items"]
            if page["next"] is None:
                return items
            params["before"] = page["next"]


def report(run: Run, settled: float) -> bool:
    plan = run.plan
    print("\n=== faults under a real Alertmanager ===")
    print(
        f"alerts posted to Alertmanager: {len(run.posted)} ({plan.waves} waves, "
        f"{plan.groups} groups, lanes a / b / both replicas)"
    )
    for event in run.events:
        print(f"  fault: {event}")
    print(f"settled {settled:.1f} s after the last scheduled step")
    am = webhook_counters(run.am)
    print("Alertmanager webhook integration: " + ", ".join(f"{k} {v}" for k, v in am.items()))

    all_deliveries(run.a)  # flushes replica a's buffered delivery rows first
    deliveries = all_deliveries(run.b)
    by_answer = Counter((d["http_status"], d["outcome"]) for d in deliveries)
    print("webhook answers in the delivery log (both replicas; rows still buffered in the")
    print("SIGKILLed process are lost with it):")
    for (status, outcome), n in sorted(by_answer.items()):
        print(f"  {status} {outcome:<10} {n}")
    unanswered = am["HTTP requests"] - len(deliveries)
    print(f"  no answer (refused or cut off by the kill, or log rows lost with it): {unanswered}")
    for replica in (run.a, run.b):
        since = " (since its restart)" if replica.restarts else ""
        counts = dict(sorted(replica.webhook_requests().items()))
        print(f"runbook_webhook_requests_total on replica {replica.name}{since}: {counts}")
    statuses = sorted({d["http_status"] for d in deliveries})
    answers_ok = set(statuses) <= {200, 503}
    print(f"{'PASS' if answers_ok else 'FAIL'} answers only 200 or 503 (storage down): {statuses}")
    return verdict(run) and answers_ok


def verdict(run: Run) -> bool:
    rows = run.query("SELECT labels->>'instance', count(*) FROM alerts GROUP BY 1 ORDER BY 1")
    stored = Counter({instance: int(n) for instance, n in rows})
    expected = Counter(run.posted)
    once = sum(1 for instance in expected if stored[instance] == 1)
    missing = [i for i in expected if stored[i] == 0]
    twice = [i for i, n in stored.items() if n > 1]
    extra = [i for i in stored if i not in expected]
    total = sum(stored.values())
    print(f"alerts stored: {total} rows for {len(expected)} alerts posted")
    if missing or twice or extra:
        print(
            f"  missing {len(missing)} {missing[:5]}, twice {len(twice)}, unexpected {len(extra)}"
        )
    incidents = run.query(
        "SELECT count(*), count(DISTINCT (runbook_class, group_key)) FROM incidents"
    )[0]
    groups_ok = incidents[0] == incidents[1] == run.plan.groups
    print(
        f"{'PASS' if groups_ok else 'FAIL'} one incident per group: {incidents[0]} incidents, "
        f"{incidents[1]} identities, {run.plan.groups} groups"
    )
    passed = once == len(expected) == total and not extra
    print(f"{'PASS' if passed else 'FAIL'} stored exactly once: {once}/{len(expected)}")
    return passed and groups_ok


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 alerts, 5 s outage (about 30 s)")
    parser.add_argument("--outage", type=float, help="seconds the database stays down")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan.of(args)
    for binary in (ALERTMANAGER, AMTOOL):
        if not Path(binary).exists():
            print(f"{binary} not found: install Debian's prometheus-alertmanager", file=sys.stderr)
            return 2
    bindir = find_bindir()
    if bindir is None:
        print("PostgreSQL binaries not found: install Debian's postgresql", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="rr-faults-"))
    cluster = Cluster(bindir)
    replicas: list[Replica] = []
    am: Alertmanager | None = None
    try:
        cluster.start()
        database_url = cluster.create_database()
        migrate(server_env(database_url, work, ingest_token=TOKEN, admin_token=ADMIN_TOKEN))
        replicas = [Replica(name, database_url, work) for name in "ab"]
        for replica in replicas:
            replica.start()
        am = start_alertmanager(work, alertmanager_config(*replicas))
        log(f"PostgreSQL on port {cluster.port}, replicas {[r.url for r in replicas]}, {am.url}")
        run = Run(plan, cluster, database_url, am, replicas[0], replicas[1])
        run.drive()
        passed = report(run, run.settle())
    finally:
        if am is not None:
            am.stop()
        for replica in replicas:
            replica.stop()
        cluster.stop()
        if args.keep:
            print(f"logs in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
