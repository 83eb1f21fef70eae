"""Two real server processes on ONE PostgreSQL database, as the Helm chart runs them.

* Migrations race: both replicas start together while the test holds the app's advisory lock,
  so both ``migrate`` runs are seen waiting on it at once; released, both succeed and the
  schema is at head, recorded once.
* Identical deliveries (an HA Alertmanager pair, retries) sent concurrently to BOTH replicas,
  and a group growing notification by notification, give one incident per identity
  ``(class, groupKey)`` and store each alert once; exactly one answer reports each alert new.
* KPI series come from the database: every ``runbook_*`` series except the per-process ones is
  identical on both replicas, and matches the rows.
* An ack on replica A is what replica B shows.

The helpers here are shared with ``test_faults.py``.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from alembic.script import ScriptDirectory
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from app.metrics.instruments import PROCESS_PREFIXES
from app.migrate import _LOCK_ID, alembic_config
from harness.postgres import Cluster
from harness.server import ServerProcess
from tests.conftest import (
    INGEST_TOKEN,
    WEBHOOK,
    admin_headers,
    postgres_database,
    server_env,
)
from tests.e2e.conftest import ServiceLogs
from tests.factories import alert, payload
from tests.services import wait_until

pytestmark = pytest.mark.e2e

WAIT = 30.0  # seconds for any one condition (server start-up dominates: ~3-8 s here)

_names = itertools.count(1)


# --- shared helpers (also used by test_faults.py) ---------------------------------------------


def replica_env(database_url: str, data_dir: Path) -> dict[str, str]:
    return server_env(database_url, data_dir)


def make_servers(
    database_url: str, tmp: Path, names: str, logs: ServiceLogs | None = None
) -> list[ServerProcess]:
    """One ``ServerProcess`` per letter of ``names``, all on ``database_url`` (not started)."""
    servers = []
    for name in names:
        log_path = tmp / f"replica-{name}.log"
        if logs is not None:
            logs.register(f"replica {name}", log_path)
        servers.append(ServerProcess(replica_env(database_url, tmp / f"data-{name}"), log_path))
    return servers


def start_together(servers: list[ServerProcess]) -> list[Future[ServerProcess]]:
    """Start every server at once (``migrate`` then ``serve``); the caller joins the futures."""
    pool = ThreadPoolExecutor(len(servers), thread_name_prefix="start")
    futures = [pool.submit(s.start) for s in servers]
    pool.shutdown(wait=False)
    return futures


def stop_all(servers: list[ServerProcess]) -> None:
    for server in servers:
        server.stop()


def dsn(database_url: str) -> str:
    """The libpq form of a ``postgresql+psycopg://`` SQLAlchemy URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


def query(database_url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn(database_url), autocommit=True, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


def stored_fingerprints(database_url: str) -> Counter[str]:
    """How many rows each fingerprint has in ``alerts`` (every test alert has its own)."""
    return Counter(dict(query(database_url, "SELECT fingerprint, count(*) FROM alerts GROUP BY 1")))


def now_ms() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def body_of(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data)


def post(url: str, body: bytes, *, client: httpx.Client | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/json"}
    if client is not None:
        return client.post(url + WEBHOOK, content=body, headers=headers)
    return httpx.post(url + WEBHOOK, content=body, headers=headers, timeout=30)


def kpi_series(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every ``runbook_*`` sample of ``/metrics`` that comes from the database."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("runbook_") and not sample.name.startswith(PROCESS_PREFIXES)
    }


def series_diff(
    a: dict[tuple[str, tuple[tuple[str, str], ...]], float],
    b: dict[tuple[str, tuple[tuple[str, str], ...]], float],
) -> list[str]:
    return [
        f"{name}{dict(labels)}: A={a.get((name, labels))} B={b.get((name, labels))}"
        for name, labels in sorted(a.keys() | b.keys())
        if a.get((name, labels)) != b.get((name, labels))
    ]


# --- fixtures ----------------------------------------------------------------------------------


@dataclass
class Pair:
    database_url: str
    a: ServerProcess
    b: ServerProcess
    lock_waiters: int  # migrate runs seen waiting on the advisory lock at the same time
    log_paths: list[Path]


def _lock_waiters(database_url: str) -> int:
    rows = query(
        database_url,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND classid = 0 AND objid = %s AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())",
        _LOCK_ID,
    )
    return int(rows[0][0])


def _start_racing(database_url: str, servers: list[ServerProcess]) -> int:
    """Start ``servers`` while holding the migration lock until all of them wait on it."""
    with psycopg.connect(dsn(database_url), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        futures = start_together(servers)
        seen = 0

        def all_waiting() -> bool:
            nonlocal seen
            for future in futures:
                if future.done():
                    future.result()  # a start that failed (or got past the lock) says why
            seen = _lock_waiters(database_url)
            return seen == len(servers)

        wait_until(all_waiting, timeout=WAIT, what="both migrate runs to wait on the lock")
        holder.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    for future in futures:
        future.result(timeout=WAIT * 2)
    return seen


@pytest.fixture(scope="module")
def pair(pg_cluster: Cluster | str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    database_url = postgres_database(pg_cluster)
    tmp = tmp_path_factory.mktemp("replicas")
    servers = make_servers(database_url, tmp, "ab")
    try:
        waiters = _start_racing(database_url, servers)
        a, b = servers
        yield Pair(database_url, a, b, waiters, [a.log_path, b.log_path])
    finally:
        stop_all(servers)


@pytest.fixture(autouse=True)
def _replica_logs(request: pytest.FixtureRequest, service_logs: ServiceLogs) -> None:
    """Attach the replicas' log tails to any failure of this module's tests."""
    if "pair" in request.fixturenames:
        for name, path in zip("ab", request.getfixturevalue("pair").log_paths, strict=True):
            service_logs.register(f"replica {name}", path)


class Admin:
    """The admin API of one replica, failing on anything but the expected status."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, headers=admin_headers(), timeout=10)

    def get(self, path: str, **params: str | int) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def admins(pair: Pair) -> Iterator[tuple[Admin, Admin]]:
    a, b = Admin(pair.a.url), Admin(pair.b.url)
    yield a, b
    a.close()
    b.close()


# --- tests -------------------------------------------------------------------------------------


def test_racing_migrations_both_succeed_and_the_schema_is_at_head_once(pair: Pair) -> None:
    assert pair.lock_waiters == 2, "both migrate runs should have waited on the advisory lock"
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert query(pair.database_url, "SELECT version_num FROM alembic_version") == [(head,)]
    assert _lock_waiters(pair.database_url) == 0
    held = query(pair.database_url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
    assert held == [(0,)], "a migrate run left the advisory lock held"
    for server in (pair.a, pair.b):
        ready = httpx.get(f"{server.url}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text


def _send_at_once(jobs: list[tuple[str, bytes]]) -> list[httpx.Response]:
    """POST every (replica url, body) at the same moment, one connection each."""
    barrier = threading.Barrier(len(jobs))

    def send(job: tuple[str, bytes]) -> httpx.Response:
        with httpx.Client(timeout=30) as client:
            barrier.wait(timeout=WAIT)
            return post(job[0], job[1], client=client)

    with ThreadPoolExecutor(len(jobs), thread_name_prefix="post") as pool:
        return list(pool.map(send, jobs))


def _alerts(prefix: str, n: int, *, alertname: str, started: datetime) -> list[dict[str, Any]]:
    return [
        alert(
            f"{prefix}{i:02d}",
            starts_at=started + timedelta(seconds=i),
            alertname=alertname,
            service="workflow-api" if alertname == "Workflow500" else "documents",
            instance=f"{prefix}-{i}",
        )
        for i in range(n)
    ]


def test_concurrent_deliveries_to_both_replicas_store_everything_once(pair: Pair) -> None:
    run = next(_names)
    started = now_ms() - timedelta(minutes=5)
    # An HA pair and its retries: one body of two classes (two identities), 20 times at once.
    key_one = f'{{}}:{{cluster="replicas-{run}"}}'
    mixed = _alerts(f"r{run}w", 3, alertname="Workflow500", started=started)
    mixed += _alerts(f"r{run}p", 2, alertname="PdfNotFound", started=started)
    identical = body_of(payload(*mixed, group_key=key_one))
    # A growing group: each notification carries every alert so far; each is sent 3 times.
    key_two = f'{{}}:{{alertname="QueueBacklog", cluster="replicas-{run}"}}'
    growing = _alerts(f"r{run}q", 5, alertname="QueueBacklog", started=started)
    bodies = [body_of(payload(*growing[: n + 1], group_key=key_two)) for n in range(1, 5)]

    urls = itertools.cycle((pair.a.url, pair.b.url))
    jobs = [(next(urls), identical) for _ in range(20)]
    jobs += [(next(urls), body) for body in bodies for _ in range(3)]
    responses = _send_at_once(jobs)

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: len(jobs)}, [r.text for r in responses if r.status_code != 200]
    assert Counter(url for url, _ in jobs) == {pair.a.url: 16, pair.b.url: 16}
    answers = [r.json() for r in responses]
    unique = len(mixed) + len(growing)
    assert sum(a["new"] for a in answers) == unique, "each alert must be reported new once"
    assert sum(a["new"] + a["duplicates"] for a in answers) == sum(a["alerts"] for a in answers)

    stored = stored_fingerprints(pair.database_url)
    ours = {fp: n for fp, n in stored.items() if fp.startswith(f"r{run}")}
    assert ours == {a["fingerprint"]: 1 for a in mixed + growing}
    incidents = query(
        pair.database_url,
        "SELECT runbook_class, group_key, count(*), count(open_key) FROM incidents "
        "WHERE group_key IN (%s, %s) GROUP BY 1, 2 ORDER BY 1",
        key_one,
        key_two,
    )
    assert incidents == [
        ("pdf-404", key_one, 1, 1),
        ("queue-failure", key_two, 1, 1),
        ("workflow-500", key_one, 1, 1),
    ]
    opened = query(
        pair.database_url,
        "SELECT count(*) FROM timeline_events e JOIN incidents i ON i.id = e.incident_id "
        "WHERE i.group_key IN (%s, %s) AND e.kind = 'opened'",
        key_one,
        key_two,
    )
    assert opened == [(3,)], "one 'opened' timeline event per incident"
    # every answer names the incidents of its identities, whoever stored the alerts
    for (_, body), answer in zip(jobs, answers, strict=True):
        expected = 2 if body == identical else 1
        assert len(answer["incidents"]) == expected, answer


def test_a_group_growing_on_both_replicas_at_once_never_answers_503(pair: Pair) -> None:
    """Overlapping notifications of one group, each sent three times, all at once.

    An attempt that conflicts sees the rows the winner committed, so a later one succeeds;
    with too few attempts ~7% of these answered 503 although the database was fine.
    """
    rounds, notifications, copies = 8, 5, 3
    answers = []
    expected: dict[str, int] = {}
    for _ in range(rounds):
        run = next(_names)
        key = f'{{}}:{{alertname="QueueBacklog", cluster="growing-{run}"}}'
        growing = _alerts(f"g{run}q", notifications + 1, alertname="QueueBacklog", started=now_ms())
        bodies = [body_of(payload(*growing[: n + 2], group_key=key)) for n in range(notifications)]
        urls = itertools.cycle((pair.a.url, pair.b.url))
        responses = _send_at_once([(next(urls), body) for body in bodies for _ in range(copies)])
        failed = [r.text for r in responses if r.status_code != 200]
        assert not failed, f"{len(failed)} of {len(responses)} answers were not 200: {failed[:3]}"
        answers += [r.json() for r in responses]
        expected |= {a["fingerprint"]: 1 for a in growing}
    assert sum(a["new"] for a in answers) == len(expected)
    stored = stored_fingerprints(pair.database_url)
    assert {fp: n for fp, n in stored.items() if fp in expected} == expected
    incidents = query(
        pair.database_url,
        "SELECT count(*) FROM incidents WHERE group_key LIKE %s",
        '%cluster="growing-%',
    )
    assert incidents == [(rounds,)]


def _metric(
    series: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str
) -> dict[str, float]:
    """A KPI summed by class, without the classes at zero."""
    totals: dict[str, float] = {}
    for (sample, labels), value in series.items():
        if sample == name:
            runbook_class = dict(labels)["class"]
            totals[runbook_class] = totals.get(runbook_class, 0.0) + value
    return {runbook_class: total for runbook_class, total in totals.items() if total}


def _same_kpis(a_url: str, b_url: str, seen: list[Any] | None = None) -> Callable[[], bool]:
    """Both replicas' KPI series agree; ``seen`` keeps the last pair scraped (the worker may
    move an escalation series right after, so a later scrape need not agree)."""

    def check() -> bool:
        a, b = kpi_series(a_url), kpi_series(b_url)
        if seen is not None:
            seen[:] = [a, b]
        return a == b

    return check


def test_kpi_series_are_identical_on_both_replicas_and_match_the_rows(pair: Pair) -> None:
    # Something to count, sent to one replica only.
    run = next(_names)
    alerts = _alerts(f"k{run}w", 2, alertname="Workflow500", started=now_ms())
    response = post(pair.a.url, body_of(payload(*alerts, group_key=f"{{}}:{{kpi={run}}}")))
    assert response.status_code == 200, response.text

    # The escalation worker may move a series between two scrapes: poll until they agree.
    seen: list[Any] = []
    wait_until(
        _same_kpis(pair.a.url, pair.b.url, seen),
        timeout=WAIT,
        what="identical KPI series on A and B",
    )
    a, b = seen
    assert not series_diff(a, b)
    assert {name for name, _ in a} >= {
        "runbook_incidents_total",
        "runbook_incidents_open",
        "runbook_alerts_classified_total",
        "runbook_incident_acknowledge_seconds_count",
    }
    incidents = dict(
        query(pair.database_url, "SELECT runbook_class, count(*) FROM incidents GROUP BY 1")
    )
    alerts_by_class = dict(
        query(pair.database_url, "SELECT runbook_class, count(*) FROM alerts GROUP BY 1")
    )
    assert _metric(a, "runbook_incidents_total") == incidents
    assert _metric(a, "runbook_alerts_classified_total") == alerts_by_class


def test_an_ack_on_one_replica_is_visible_on_the_other(
    pair: Pair, admins: tuple[Admin, Admin]
) -> None:
    admin_a, admin_b = admins
    run = next(_names)
    group = f"{{}}:{{ack={run}}}"
    body = body_of(
        payload(*_alerts(f"a{run}w", 1, alertname="Workflow500", started=now_ms()), group_key=group)
    )
    answer = post(pair.b.url, body)
    assert answer.status_code == 200, answer.text
    (incident_id,) = answer.json()["incidents"]

    acked = admin_a.http.post(f"/api/v1/incidents/{incident_id}/ack")
    assert acked.status_code == 200, acked.text
    on_a = acked.json()
    on_b = admin_b.get(f"/api/v1/incidents/{incident_id}")
    assert on_b["status"] == "acknowledged"
    assert on_b["acknowledged_at"] == on_a["acknowledged_at"] is not None
    assert [e["kind"] for e in on_b["timeline"]] == [e["kind"] for e in on_a["timeline"]]
    assert on_b["timeline"][-1]["kind"] == "acknowledged", on_b["timeline"]
    listed = {i["id"]: i["status"] for i in admin_b.get("/api/v1/incidents", limit=200)["items"]}
    assert listed[incident_id] == "acknowledged"

    again = admin_b.http.post(f"/api/v1/incidents/{incident_id}/ack")
    assert again.status_code == 409, again.text
    assert again.json()["error"]["current"] == "acknowledged"
    wait_until(
        _same_kpis(pair.a.url, pair.b.url), timeout=WAIT, what="identical KPI series after the ack"
    )
    acks = _metric(kpi_series(pair.b.url), "runbook_incident_acknowledge_seconds_count")
    assert acks.get("workflow-500", 0) >= 1
