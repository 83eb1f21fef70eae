"""Faults during a webhook storm on PostgreSQL: the database goes away, a replica is killed,
a replica is stopped. Nothing acknowledged is lost and nothing is stored twice.

Every storm is bounded (a fixed list of requests, each with its own new alerts, a deadline,
loopback only). The fault is injected after a number of answers, never after a sleep.

* Database unavailable: ``ALTER DATABASE … ALLOW_CONNECTIONS false`` then
  ``pg_terminate_backend`` of the server's sessions. The server answers 503 (never 500, never
  2xx for work it did not commit), ``/readyz`` says 503; the client retries 503s with backoff
  like Alertmanager. Once connections are allowed again every alert is stored exactly once,
  and the delivery log (kept in memory while the database was down) has one row per answer.
* Replica SIGKILLed: what either replica answered 2xx is stored; a request cut off by the
  kill is stored entirely or not at all; the client re-sends failures to the survivor; each
  alert ends up stored once.
* Replica SIGTERMed (uvicorn ``timeout_graceful_shutdown=20``) with big requests in flight:
  they complete with 200, later connections are refused, nothing answered 200 is lost, the
  delivery log is flushed, and the lifespan shutdown completes.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from harness.postgres import Cluster
from harness.server import ServerProcess
from tests.conftest import admin_headers, postgres_database
from tests.e2e.conftest import ServiceLogs
from tests.e2e.test_replicas import (
    body_of,
    dsn,
    make_servers,
    now_ms,
    post,
    query,
    start_together,
    stop_all,
    stored_fingerprints,
)
from tests.factories import alert, payload
from tests.services import wait_until

pytestmark = pytest.mark.e2e

WAIT = 30.0
STORM_DEADLINE = 30.0  # seconds a storm may take in all, retries included
REFUSED, DROPPED = "refused", "dropped"  # no connection; connection lost without an answer


# --- the storm client --------------------------------------------------------------------------


@dataclass
class Job:
    """One webhook request: its body, its alerts, and every outcome it met, in order."""

    index: int
    url: str
    body: bytes
    fingerprints: frozenset[str]
    outcomes: list[str] = field(default_factory=list)
    started_at: list[float] = field(default_factory=list)
    ended_at: list[float] = field(default_factory=list)

    @property
    def acked(self) -> bool:
        return "200" in self.outcomes


def make_jobs(tag: str, urls: list[str], *, count: int, size: int) -> list[Job]:
    """``count`` requests of ``size`` new alerts each; a new group every 10 requests."""
    started = now_ms() - timedelta(minutes=10)
    jobs = []
    for n in range(count):
        alerts = [
            alert(
                f"{tag}-{n:04d}-{i:03d}",
                starts_at=started + timedelta(milliseconds=n * size + i),
                alertname="Workflow500" if n % 20 < 10 else "QueueBacklog",
                service="workflow-api",
                instance=f"{tag}-{n}-{i}",
            )
            for i in range(size)
        ]
        body = body_of(payload(*alerts, group_key=f'{{}}:{{storm="{tag}", group="{n // 10}"}}'))
        fingerprints = frozenset(a["fingerprint"] for a in alerts)
        jobs.append(Job(n, urls[n % len(urls)], body, fingerprints))
    return jobs


@dataclass
class Storm:
    """Worker threads sending ``jobs``; each outcome is recorded on its job.

    ``retry``: resend 503s and transport errors with exponential backoff until 200 (as
    Alertmanager does). ``fresh_connections``: one connection per request (``Connection:
    close``), and a worker stops at its first refused connection.
    """

    jobs: list[Job]
    workers: int
    retry: bool = False
    fresh_connections: bool = False
    answers: int = 0
    _queue: deque[Job] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: ThreadPoolExecutor | None = None
    _futures: list[Future[None]] = field(default_factory=list)
    _deadline: float = 0.0  # retries stop here (monotonic clock)

    def start(self) -> Storm:
        self._queue.extend(self.jobs)
        self._deadline = time.monotonic() + STORM_DEADLINE
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="storm")
        self._futures = [self._pool.submit(self._work) for _ in range(self.workers)]
        return self

    def join(self) -> None:
        for future in self._futures:
            future.result(timeout=STORM_DEADLINE + 15)
        assert self._pool is not None
        self._pool.shutdown()

    def abort(self) -> None:
        """Send nothing more and stop retrying (the teardown of a failed test)."""
        with self._lock:
            self._queue.clear()
        self._deadline = 0.0
        assert self._pool is not None
        self._pool.shutdown(wait=True)

    def _next(self) -> Job | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def _send(self, client: httpx.Client, job: Job) -> str:
        job.started_at.append(time.monotonic())
        try:
            response = post(job.url, job.body, client=client)
        except httpx.ConnectError:
            outcome = REFUSED
        except httpx.TransportError:
            outcome = DROPPED
        else:
            outcome = str(response.status_code)
            with self._lock:
                self.answers += 1
        job.ended_at.append(time.monotonic())
        job.outcomes.append(outcome)
        return outcome

    def _work(self) -> None:
        headers = {"Connection": "close"} if self.fresh_connections else {}
        with httpx.Client(timeout=httpx.Timeout(30, connect=5), headers=headers) as client:
            while (job := self._next()) is not None:
                outcome = self._send(client, job)
                delay = 0.1
                while self.retry and outcome != "200" and time.monotonic() < self._deadline:
                    time.sleep(delay)  # the backoff of a retrying client, not a wait
                    delay = min(delay * 2, 1.0)
                    outcome = self._send(client, job)
                if self.fresh_connections and outcome == REFUSED:
                    return


def answered(storm: Storm, count: int) -> None:
    wait_until(lambda: storm.answers >= count, timeout=WAIT, what=f"{count} answers to the storm")


def outcomes(jobs: list[Job]) -> Counter[str]:
    return Counter(o for job in jobs for o in job.outcomes)


def expect_stored_once(database_url: str, jobs: list[Job], *, prefix: str) -> None:
    """Every alert of ``jobs`` is stored exactly once, and nothing else under ``prefix``."""
    stored = stored_fingerprints(database_url)
    ours = {fp: n for fp, n in stored.items() if fp.startswith(prefix)}
    expected = {fp: 1 for job in jobs for fp in job.fingerprints}
    missing = sorted(expected.keys() - ours.keys())
    twice = sorted(fp for fp, n in ours.items() if n != 1)
    assert not missing, f"{len(missing)} alerts missing, e.g. {missing[:10]}"
    assert not twice, f"{len(twice)} alerts stored twice, e.g. {twice[:10]}"
    assert ours == expected


def all_deliveries(url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    before = None
    with httpx.Client(base_url=url, headers=admin_headers(), timeout=10) as client:
        while True:
            params = {"limit": 500} | ({"before": before} if before else {})
            response = client.get("/api/v1/deliveries", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            items += page["items"]
            if page["next"] is None:
                return items
            before = page["next"]


def ready_status(url: str) -> int:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code
    except httpx.HTTPError:
        return 0


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def database_url(pg_cluster: Cluster | str) -> str:
    return postgres_database(pg_cluster)


@pytest.fixture
def servers(
    database_url: str, tmp_path: Path, service_logs: ServiceLogs
) -> Iterator[list[ServerProcess]]:
    """Up to two replicas on the test's database; ``start_replicas(n)`` starts them."""
    started = make_servers(database_url, tmp_path, "ab", service_logs)
    yield started
    stop_all(started)


@pytest.fixture
def storm() -> Iterator[Callable[..., Storm]]:
    """``storm(jobs, workers=…, …)`` starts a storm; any left running is aborted after."""
    started: list[Storm] = []

    def start(jobs: list[Job], **options: Any) -> Storm:
        started.append(Storm(jobs, **options).start())
        return started[-1]

    yield start
    for each in started:
        each.abort()


def start_replicas(servers: list[ServerProcess], count: int) -> list[ServerProcess]:
    chosen = servers[:count]
    for future in start_together(chosen):
        future.result(timeout=WAIT * 2)
    return chosen


class Outage:
    """Refuse every connection to one database, and let them in again."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self.name = url.database
        self.admin = dsn(url.set(database="postgres").render_as_string(False))

    def _admin(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.admin, autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def begin(self) -> None:
        self._admin(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS false')

        def none_left() -> bool:
            rows = self._admin(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                self.name,
            )
            return bool(rows[0][0] == 0)

        wait_until(none_left, timeout=WAIT, what=f"no session left on {self.name}")

    def end(self) -> None:
        self._admin(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS true')


@pytest.fixture
def outage(database_url: str) -> Iterator[Outage]:
    fault = Outage(database_url)
    try:
        yield fault
    finally:
        fault.end()  # never leave the database closed, whatever happened


# --- tests -------------------------------------------------------------------------------------


def test_database_outage_mid_storm_is_503_and_every_alert_is_stored_once(
    servers: list[ServerProcess], database_url: str, outage: Outage, storm: Callable[..., Storm]
) -> None:
    (server,) = start_replicas(servers, 1)
    jobs = make_jobs("db", [server.url], count=120, size=4)
    load = storm(jobs, workers=6, retry=True)

    answered(load, 30)
    seen_before = outcomes(jobs)
    outage.begin()
    wait_until(
        lambda: outcomes(jobs)["503"] >= 10 and ready_status(server.url) == 503,
        timeout=WAIT,
        what="503 answers to the webhook and from /readyz while the database is closed",
    )
    during = outcomes(jobs) - seen_before
    outage.end()
    load.join()

    seen = outcomes(jobs)
    assert set(seen) <= {"200", "503"}, f"only 200 and 503 are acceptable answers: {seen}"
    assert during["503"] >= 10, during
    assert all(job.outcomes[-1] == "200" for job in jobs), "the retries did not all succeed"
    wait_until(lambda: ready_status(server.url) == 200, timeout=WAIT, what="/readyz 200 again")
    expect_stored_once(database_url, jobs, prefix="db-")
    rows = query(database_url, "SELECT count(*) FROM alerts")[0][0]
    assert rows == sum(len(job.fingerprints) for job in jobs) == 480

    # The delivery log held its rows through the outage: one per answer the client got.
    logged = Counter(str(d["http_status"]) for d in all_deliveries(server.url))
    assert logged == seen, (logged, seen)
    assert server.proc is not None
    assert server.proc.poll() is None, "the server must survive the outage"


def test_a_replica_killed_mid_storm_loses_nothing_it_acknowledged(
    servers: list[ServerProcess], database_url: str, storm: Callable[..., Storm]
) -> None:
    victim, survivor = start_replicas(servers, 2)
    jobs = make_jobs("kill", [victim.url, survivor.url], count=160, size=3)
    load = storm(jobs, workers=8)

    answered(load, 40)
    assert victim.proc is not None
    victim.proc.send_signal(signal.SIGKILL)
    assert victim.proc.wait(timeout=WAIT) == -signal.SIGKILL
    load.join()

    seen = outcomes(jobs)
    assert set(seen) <= {"200", REFUSED, DROPPED}, f"unexpected answers: {seen}"
    assert all(job.outcomes == ["200"] for job in jobs if job.url == survivor.url), seen
    failed = [job for job in jobs if not job.acked]
    assert failed, "the kill came too late to cut anything off"
    # What was acknowledged is stored; what was cut off is stored entirely or not at all.
    stored = stored_fingerprints(database_url)
    for job in jobs:
        present = {fp for fp in job.fingerprints if stored[fp] == 1}
        if job.acked:
            assert present == job.fingerprints, f"request {job.index} was acknowledged: {job}"
        else:
            assert present in (set(), job.fingerprints), f"request {job.index} half stored"

    with httpx.Client(timeout=30) as client:  # re-send what failed, to the survivor
        for job in failed:
            response = post(survivor.url, job.body, client=client)
            assert response.status_code == 200, response.text
    expect_stored_once(database_url, jobs, prefix="kill-")
    assert ready_status(survivor.url) == 200


def test_sigterm_lets_in_flight_requests_finish(
    servers: list[ServerProcess], database_url: str, storm: Callable[..., Storm]
) -> None:
    (server,) = start_replicas(servers, 1)
    workers = 8
    jobs = make_jobs("term", [server.url], count=workers * 3, size=400)
    load = storm(jobs, workers=workers, fresh_connections=True)

    answered(load, 1)
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    term_at = time.monotonic()
    # A graceful stop is a clean exit (uvicorn re-raises the signal; serve handles it).
    assert server.proc.wait(timeout=WAIT) == 0
    log = server.log_path.read_text(errors="replace")
    assert "Application shutdown complete" in log, "the lifespan shutdown must have run"
    assert "runbook router stopped gracefully" in log
    assert "Cancel" not in log, "no task may be cancelled by the graceful-shutdown timeout"
    load.join()

    seen = outcomes(jobs)
    assert set(seen) <= {"200", REFUSED, DROPPED}, f"no error answers while stopping: {seen}"
    # Requests being processed at SIGTERM complete (the first wave, one per worker, is).
    in_flight = [j for j in jobs if j.started_at and j.started_at[0] < term_at < j.ended_at[0]]
    assert len(in_flight) >= workers // 2, "SIGTERM should have found requests in flight"
    assert all(job.outcomes == ["200"] for job in in_flight), [j.outcomes for j in in_flight]
    assert all(job.outcomes == ["200"] for job in jobs[:workers]), [j.outcomes for j in jobs]
    assert seen[REFUSED] >= 1, "after SIGTERM new connections must be refused"

    stored = stored_fingerprints(database_url)
    for job in jobs:
        present = {fp for fp in job.fingerprints if stored[fp] == 1}
        expected = job.fingerprints if job.acked else set()
        if DROPPED in job.outcomes:  # accepted by the kernel, closed before it was read
            assert present in (set(), job.fingerprints), f"request {job.index} half stored"
        else:
            assert present == expected, f"request {job.index}: {job.outcomes}"
    logged = query(database_url, "SELECT http_status, count(*) FROM deliveries GROUP BY 1")
    assert dict(logged) == {200: seen["200"]}, "the delivery log must be flushed at shutdown"
