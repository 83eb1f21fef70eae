"""Ingest benchmark: the real server against a bare Starlette app, over loopback, in one run.

Starts ``python -m app serve`` (one uvicorn worker, SQLite in a temporary folder, log level
WARNING) and ``bench/bare_app.py`` (same uvicorn settings, only reads the body) on free ports,
then drives both with ``wrk`` (``bench/ingest.lua`` builds realistic Alertmanager v4 bodies)
or, without wrk, with a bounded httpx client. Per payload size (1, 10, 100 alerts) it runs:

* ``new``    every request carries new (fingerprint, startsAt) pairs; a new groupKey every
             ten requests, so incidents are opened as well as extended;
* ``repeat`` byte-identical repeats of bodies stored by the ``new`` run (what Alertmanager
             sends every repeat_interval);
* ``mix``    half new, half repeats (alternating requests).

It prints requests/s, alerts/s, p50, p99, non-2xx and the server/bare request-rate ratio, checks
the targets (PASS/FAIL; exit 1 only with ``--strict``), checks that the ``alerts`` table holds
exactly the new alerts acknowledged with 2xx, and writes ``bench/results/ingest-<ts>.json``.

With ``--database postgresql`` it also starts a private PostgreSQL cluster (as
``tests/postgres.py`` does) and measures the same server on it: ``pg`` is one process, and with
``--replicas 2`` ``pg2`` is two processes on the same database, each driven by its own wrk
process with half the connections (wrk targets one URL); their rates are summed. A summary
compares new-alert throughput and p99 at 16 connections and 10 alerts per payload: SQLite one
process, PostgreSQL one process, PostgreSQL two replicas.

    .venv/bin/python bench/ingest.py            # about 2 minutes
    .venv/bin/python bench/ingest.py --quick    # about 20-30 seconds
    .venv/bin/python bench/ingest.py --database postgresql --replicas 2 --sizes 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import itertools
import json
import math
import os
import platform
import re
import resource
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from tests.postgres import Cluster

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
LUA_SCRIPT = BENCH / "ingest.lua"
WEBHOOK = "/api/v1/webhooks/alertmanager"
TOKEN = "bench-ingest-token"
ADMIN_TOKEN = "bench-admin-token"
HOST = "127.0.0.1"

SCENARIOS = ("new", "repeat", "mix")
GROUP_EVERY = 10  # requests per groupKey: one incident opened, then extended nine times
POOL_MAX = 256  # distinct bodies per client thread that the repeat scenarios cycle through

TARGET_CONNECTIONS = 16
TARGET_SIZE = 10
TARGET_NEW_RATIO = 0.06
TARGET_REPEAT_RATIO = 0.30
TARGET_P99_MS = 50.0
BARE_SATURATED_CPU = 0.8  # below this the bare app was not the bottleneck of its own run
NOISY_OTHER_CPU = 0.25  # median CPU (in cores) used by everything else during the runs
TARGET_PG_NEW_ALERTS = 3000.0  # new alerts/s from one process on PostgreSQL (2-core machine)
TARGET_REPLICA_GAIN = 1.0  # two replicas must ingest more than one (ratio above this)
# What each target measures: its server processes (services) and its database.
PROCESSES = {"bare": ("bare",), "server": ("server",), "pg": ("pg",), "pg2": ("pg", "pg-b")}

# --- payloads (byte-identical to bench/ingest.lua) ---------------------------------------------

SERVICES = (
    (
        "Workflow500",
        "workflow-api",
        "critical",
        "workflow-api returns HTTP 500",
        "https://runbooks.example.com/workflow-api/workflow500",
    ),
    (
        "QueueBacklog",
        "queue-worker",
        "warning",
        "queue-worker backlog keeps growing",
        "https://runbooks.example.com/queue-worker/backlog",
    ),
    (
        "PdfNotFound",
        "pdf-renderer",
        "warning",
        "pdf-renderer answers 404 for stored documents",
        "https://runbooks.example.com/pdf-renderer/not-found",
    ),
    (
        "StoragePermissionDenied",
        "storage-gateway",
        "critical",
        "storage-gateway is denied access to its bucket",
        "https://runbooks.example.com/storage-gateway/permissions",
    ),
    (
        "HighRequestLatency",
        "checkout-api",
        "warning",
        "checkout-api p99 latency above 1s",
        "https://runbooks.example.com/checkout-api/latency",
    ),
)
GENERATOR_URL = (
    "http://prometheus-0.monitoring.svc:9090/graph?g0.expr=sum+by+%28service%2C+pod"
    "%29+%28rate%28http_requests_total%7Bcode%3D~%225..%22%7D%5B5m%5D%29%29+%3E+0.05&g0.tab=1"
)
ALERT = (
    '{"status":"firing","labels":{"alertname":"%s","cluster":"%s","instance":"%s",'
    '"job":"%s","namespace":"prod","pod":"%s","service":"%s","severity":"%s"},'
    '"annotations":{"description":"%s","runbook_url":"%s","summary":"%s"},'
    '"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z","generatorURL":"%s","fingerprint":"%s"}'
)
HEAD = '{"receiver":"runbook-router","status":"firing","alerts":['
TAIL = (
    '],"groupLabels":{"alertname":"%s","cluster":"%s"},"commonLabels":{%s},'
    '"commonAnnotations":{%s},"externalURL":"http://alertmanager-0.monitoring.svc:9093",'
    '"version":"4","groupKey":"{}/{severity=~\\"critical|warning\\"}:{alertname=\\"%s\\", '
    'cluster=\\"%s\\"}","truncatedAlerts":0}'
)
_REQUEST_ID = re.compile(r"^r(\d+)-t(\d+)-(\d+)$")


def make_body(run: int, tid: int, n: int, size: int, group_every: int = GROUP_EVERY) -> str:
    """Body number ``n`` (1-based) of client thread ``tid`` in run ``run``."""
    g = (n - 1) // group_every
    alertname, service, severity, summary, url = SERVICES[g % len(SERVICES)]
    cluster = f"bench-r{run}-t{tid}-g{g}"
    parts = []
    pod = instance = description = ""
    for i in range(1, size + 1):
        seq = (n - 1) * size + i
        t = (n * 7 + i) % 86400
        pod = f"{service}-7d9f8b6c5-{seq % 100000:05d}"
        instance = f"10.{seq // 65536 % 256}.{seq // 256 % 256}.{seq % 256}:8080"
        description = f"{summary} on {pod} ({instance}) for more than 5 minutes"
        starts = f"2026-11-28T{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}.{seq % 1000:03d}Z"
        fingerprint = f"{run:04x}{tid:04x}{seq:08x}"
        parts.append(
            ALERT
            % (
                alertname,
                cluster,
                instance,
                service,
                pod,
                service,
                severity,
                description,
                url,
                summary,
                starts,
                GENERATOR_URL,
                fingerprint,
            )
        )
    if size == 1:
        labels = (
            f'"alertname":"{alertname}","cluster":"{cluster}","instance":"{instance}",'
            f'"job":"{service}","namespace":"prod","pod":"{pod}","service":"{service}",'
            f'"severity":"{severity}"'
        )
        annotations = f'"description":"{description}","runbook_url":"{url}","summary":"{summary}"'
    else:
        labels = (
            f'"alertname":"{alertname}","cluster":"{cluster}","job":"{service}",'
            f'"namespace":"prod","service":"{service}","severity":"{severity}"'
        )
        annotations = f'"runbook_url":"{url}","summary":"{summary}"'
    tail = TAIL % (alertname, cluster, labels, annotations, alertname, cluster)
    return HEAD + ",".join(parts) + tail


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Service:
    name: str  # "server" (SQLite), "bare", "pg" or "pg-b" (PostgreSQL replicas)
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    log_file: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        self.log_file.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(tmp: Path, database_url: str | None = None, name: str = "server") -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "RUNBOOK_ROUTER_DATABASE_URL": database_url or f"sqlite:///{tmp / 'bench.db'}",
            "RUNBOOK_ROUTER_WEBHOOK_TOKENS": TOKEN,
            "RUNBOOK_ROUTER_ADMIN_TOKEN": ADMIN_TOKEN,
            "RUNBOOK_ROUTER_CATALOG_DIR": str(ROOT / "runbook_templates"),
            "RUNBOOK_ROUTER_CONFIG": str(ROOT / "config" / "runbook-router.yaml"),
            "RUNBOOK_ROUTER_DATA_DIR": str(tmp / ("data" if name == "server" else f"data-{name}")),
            "RUNBOOK_ROUTER_LOG_LEVEL": "WARNING",
            "RUNBOOK_ROUTER_HOST": HOST,
        }
    )
    return env


def start(name: str, cmd: list[str], env: dict[str, str], tmp: Path, port: int) -> Service:
    log_path = tmp / f"{name}.log"
    log_file = log_path.open("wb")
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
    service = Service(name, proc, port, log_path, log_file)
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{service.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{service.url}/healthz").status_code == 200:
                    return service
            time.sleep(0.1)
    stop(service)
    raise RuntimeError(f"{name} did not answer /healthz within 30 s:\n{service.log_tail()}")


def start_server(tmp: Path, name: str = "server", database_url: str | None = None) -> Service:
    env = server_env(tmp, database_url, name)
    done = subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        env=env,
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).splitlines()[-15:])
        raise RuntimeError(f"python -m app migrate failed ({done.returncode}):\n{tail}")
    port = free_port()
    cmd = [sys.executable, "-m", "app", "serve", "--host", HOST, "--port", str(port)]
    return start(name, cmd, env, tmp, port)


def start_bare(tmp: Path) -> Service:
    port = free_port()
    cmd = [sys.executable, str(BENCH / "bare_app.py"), "--host", HOST, "--port", str(port)]
    return start("bare", cmd, dict(os.environ), tmp, port)


def stop(service: Service) -> None:
    if service.proc.poll() is None:
        service.proc.terminate()
        try:
            service.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            service.proc.kill()
            service.proc.wait(timeout=10)
    service.log_file.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(service: Service, timeout: float = 30.0) -> bool:
    """Wait until the process stops using CPU: requests cut off by the client are done."""
    deadline = time.monotonic() + timeout
    quiet = 0
    last = cpu_seconds(service.proc.pid)
    while quiet < 2:
        if time.monotonic() > deadline:
            print(f"warning: {service.name} still busy after {timeout:.0f} s", file=sys.stderr)
            return False
        time.sleep(0.05)
        now = cpu_seconds(service.proc.pid)
        quiet = quiet + 1 if now - last <= 0.01 else 0  # at most one clock tick in 50 ms
        last = now
    return True


def client_cpu() -> float:
    """CPU time of this process plus its finished children (each wrk run, once it exited)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def system_busy() -> float:
    """CPU seconds all CPUs spent busy since boot (``/proc/stat``: all but idle and iowait)."""
    try:
        fields = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()[1:9]
    except OSError:
        return 0.0
    ticks = [int(f) for f in fields]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def postgres_pids(data_dir: Path | None) -> list[int]:
    """The postmaster of the cluster in ``data_dir`` and its children (backends, walwriter…)."""
    if data_dir is None:
        return []
    try:
        postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                pids.append(int(stat.parent.name))
    return pids


@dataclass(frozen=True)
class CpuMark:
    target: float
    client: float
    system: float
    db: float = 0.0  # the PostgreSQL cluster's processes (SQLite runs inside the target)

    @classmethod
    def take(cls, pids: list[int], db_dir: Path | None = None) -> CpuMark:
        target = sum(cpu_seconds(pid) for pid in pids)
        db = sum(cpu_seconds(pid) for pid in postgres_pids(db_dir))
        return cls(target, client_cpu(), system_busy(), db)

    def since(self, earlier: CpuMark) -> CpuMark:
        return CpuMark(
            self.target - earlier.target,
            self.client - earlier.client,
            self.system - earlier.system,
            max(0.0, self.db - earlier.db),  # backends that exited take their time with them
        )


def alert_rows(tmp: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{tmp / 'bench.db'}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM alerts").fetchone()[0])


def pg_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def pg_counts(database_url: str, tables: tuple[str, ...] = ("alerts",)) -> dict[str, int]:
    import psycopg  # only with --database postgresql

    with psycopg.connect(pg_dsn(database_url), autocommit=True) as db:
        return {
            t: int(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]  # noqa: S608
            for t in tables
        }


# --- load generation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    scenario: str
    size: int
    run: int
    pool_run: int
    pool: int
    duration: int
    connections: int
    threads: int


@dataclass(frozen=True)
class Pending:
    """A new-alert request the client did not see acknowledged with 2xx."""

    size: int
    request_id: str
    body: str


@dataclass
class Load:
    summary: dict[str, Any]
    pending: list[Pending]
    client: str


def lua_literal(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # ASCII only here: a valid Lua string literal
    return str(value)


def _wrk_command(spec: Spec, service: Service, tmp: Path) -> tuple[list[str], Path]:
    result_path = tmp / f"run-{spec.run}.out"
    params = {
        "mode": spec.scenario,
        "size": spec.size,
        "run": spec.run,
        "pool_run": spec.pool_run,
        "pool": max(spec.pool, 1),
        "group_every": GROUP_EVERY,
        "token": TOKEN,
        "path": WEBHOOK,
        "result_path": str(result_path),
    }
    header = "BENCH = {" + ", ".join(f"{k} = {lua_literal(v)}" for k, v in params.items()) + "}\n"
    script = tmp / f"run-{spec.run}.lua"
    script.write_text(header + LUA_SCRIPT.read_text(encoding="utf-8"), encoding="utf-8")
    cmd = [
        "wrk",
        f"-t{spec.threads}",
        f"-c{spec.connections}",
        f"-d{spec.duration}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        service.url + WEBHOOK,
    ]
    return cmd, result_path


def run_wrk(specs: list[Spec], services: list[Service], tmp: Path) -> list[Load]:
    """One wrk process per (spec, service), all running at the same time."""
    running = []
    for spec, service in zip(specs, services, strict=True):
        cmd, result_path = _wrk_command(spec, service, tmp)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        running.append((proc, result_path, spec))
    loads = []
    for proc, result_path, spec in running:
        out, err = proc.communicate(timeout=spec.duration + 120)
        if proc.returncode != 0 or not result_path.exists():
            raise RuntimeError(f"wrk failed ({proc.returncode}): {err or out}")
        loads.append(_wrk_result(result_path))
    return loads


def _wrk_result(result_path: Path) -> Load:
    summary: dict[str, Any] = {}
    pending = []
    for line in result_path.read_text(encoding="utf-8").splitlines():
        kind, _, rest = line.partition("\t")
        if kind == "summary":
            summary = json.loads(rest)
        elif kind == "inflight":
            size, request_id, body = rest.split("\t", 2)
            pending.append(Pending(int(size), request_id, body))
    return Load(summary, pending, "wrk")


def merge_loads(loads: list[Load]) -> Load:
    """Several clients' loads as one: counts summed; latency percentiles are the worse one.

    The processes' histograms are not merged, so p50/p90/p99 are the highest of the clients'
    (an upper bound of the combined percentile; the clients are symmetric, so close to it).
    """
    if len(loads) == 1:
        return loads[0]
    summaries = [load.summary for load in loads]
    latencies = [s["latency_us"] for s in summaries]
    requests = sum(s["requests"] for s in summaries)
    latency: dict[str, float] = {k: max(lat[k] for lat in latencies) for k in latencies[0]}
    latency["min"] = min(lat["min"] for lat in latencies)
    latency["mean"] = sum(
        lat["mean"] * s["requests"] for lat, s in zip(latencies, summaries, strict=True)
    ) / max(requests, 1)
    summary = {
        "requests": requests,
        "duration_us": max(s["duration_us"] for s in summaries),
        "bytes": sum(s.get("bytes", 0) for s in summaries),
        "errors": {k: sum(s["errors"][k] for s in summaries) for k in summaries[0]["errors"]},
        "latency_us": latency,
        "threads": [thread for s in summaries for thread in s["threads"]],
    }
    return Load(summary, [p for load in loads for p in load.pending], loads[0].client)


def percentile_us(sorted_seconds: list[float], p: float) -> int:
    if not sorted_seconds:
        return 0
    index = max(0, math.ceil(p / 100 * len(sorted_seconds)) - 1)
    return round(sorted_seconds[index] * 1e6)


@dataclass
class _PyState:
    spec: Spec
    pool: list[bytes]
    latencies: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    pending: list[Pending] = field(default_factory=list)

    def add(self, key: str, value: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + value

    def request(self, n: int) -> tuple[bytes, str | None]:
        """Body of request ``n`` and, for new alerts, the request id (same plan as the Lua)."""
        spec = self.spec
        if spec.scenario == "repeat" or (spec.scenario == "mix" and n % 2 == 0):
            index = (n - 1) if spec.scenario == "repeat" else (n // 2 - 1)
            return self.pool[index % len(self.pool)], None
        k = n if spec.scenario == "new" else (n + 1) // 2
        self.add("new_requests")
        self.add("sent_new_alerts", spec.size)
        return make_body(spec.run, 1, k, spec.size).encode(), f"r{spec.run}-t1-{k}"


async def _py_one(client: httpx.AsyncClient, state: _PyState, n: int) -> None:
    body, request_id = state.request(n)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    if request_id:
        headers["X-Request-ID"] = request_id
    started = time.perf_counter()
    try:
        response = await client.post(WEBHOOK, content=body, headers=headers)
    except httpx.HTTPError:
        state.errors += 1
        if request_id:
            state.pending.append(Pending(state.spec.size, request_id, body.decode()))
        return
    state.latencies.append(time.perf_counter() - started)
    state.add("responses")
    if not response.is_success:
        state.add("non2xx")
        if request_id:
            state.pending.append(Pending(state.spec.size, request_id, body.decode()))
        return
    if request_id:
        state.add("acked_new_alerts", state.spec.size)
    state.add("server_new", int(response.json().get("new", 0)))


async def _py_loads(specs: list[Spec], services: list[Service]) -> list[Load]:
    loads = [_py_load(spec, s.url) for spec, s in zip(specs, services, strict=True)]
    return list(await asyncio.gather(*loads))


async def _py_load(spec: Spec, url: str) -> Load:
    pool = [make_body(spec.pool_run, 1, i, spec.size).encode() for i in range(1, spec.pool + 1)]
    state = _PyState(spec, pool)
    numbers = itertools.count(1)
    limits = httpx.Limits(
        max_connections=spec.connections, max_keepalive_connections=spec.connections
    )
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10.0) as client:
        started = time.perf_counter()
        deadline = started + spec.duration

        async def worker() -> None:
            while time.perf_counter() < deadline:
                await _py_one(client, state, next(numbers))

        await asyncio.gather(*(worker() for _ in range(spec.connections)))
        elapsed = time.perf_counter() - started
    lat = sorted(state.latencies)
    c = state.counts
    thread = {
        "tid": 1,
        "sent": c.get("responses", 0) + state.errors,
        "responses": c.get("responses", 0),
        "non2xx": c.get("non2xx", 0),
        "new_requests": c.get("new_requests", 0),
        "sent_new_alerts": c.get("sent_new_alerts", 0),
        "acked_new_alerts": c.get("acked_new_alerts", 0),
        "server_new": c.get("server_new", 0),
        "inflight": len(state.pending),
    }
    summary = {
        "requests": len(lat),
        "duration_us": round(elapsed * 1e6),
        "errors": {"connect": 0, "read": state.errors, "write": 0, "status": 0, "timeout": 0},
        "latency_us": {
            "min": percentile_us(lat, 0),
            "mean": sum(lat) / len(lat) * 1e6 if lat else 0.0,
            "p50": percentile_us(lat, 50),
            "p90": percentile_us(lat, 90),
            "p99": percentile_us(lat, 99),
            "p999": percentile_us(lat, 99.9),
            "max": percentile_us(lat, 100),
        },
        "threads": [thread],
    }
    return Load(summary, state.pending, "httpx")


# --- one measured run --------------------------------------------------------------------------


@dataclass
class RunResult:
    label: str  # scenario, or "warmup"
    scenario: str
    size: int
    target: str
    client: str
    run: int
    requests: int
    duration_s: float
    rps: float
    alerts_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int
    sent_per_thread: list[int]
    new_requests: int
    sent_new_alerts: int
    acked_new_alerts: int
    server_new: int
    cut_off: int
    # CPU seconds per wall second (1.0 = one core): the target process, the load generator,
    # and everything else on the machine (other processes, loopback softirq work): noise.
    target_cpu: float
    client_cpu: float
    other_cpu: float
    cpu_ms_per_request: float  # the target's CPU time per request: steadier than req/s
    rows_before: int | None = None  # alerts already stored when a server run started
    retried: int = 0
    retried_acked_alerts: int = 0
    retried_server_new: int = 0
    retry_failures: int = 0
    vs_bare: float | None = None
    db_cpu: float = 0.0  # the PostgreSQL cluster's processes (0 for SQLite: in the target)

    @property
    def acked_total(self) -> int:
        return self.acked_new_alerts + self.retried_acked_alerts


def to_result(label: str, spec: Spec, target: str, load: Load, cpu: CpuMark) -> RunResult:
    s = load.summary
    threads = s["threads"]
    seconds = s["duration_us"] / 1e6
    lat = s["latency_us"]
    total = {k: sum(int(t[k]) for t in threads) for k in threads[0]}
    errors = s["errors"]
    return RunResult(
        label=label,
        scenario=spec.scenario,
        size=spec.size,
        target=target,
        client=load.client,
        run=spec.run,
        requests=s["requests"],
        duration_s=round(seconds, 3),
        rps=round(s["requests"] / seconds, 1),
        alerts_per_s=round(s["requests"] * spec.size / seconds, 1),
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        max_ms=lat["max"] / 1000,
        non2xx=total["non2xx"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        sent_per_thread=[int(t["sent"]) for t in threads],
        new_requests=total["new_requests"],
        sent_new_alerts=total["sent_new_alerts"],
        acked_new_alerts=total["acked_new_alerts"],
        server_new=total["server_new"],
        cut_off=len(load.pending),
        target_cpu=round(cpu.target / seconds, 2),
        client_cpu=round(cpu.client / seconds, 2),
        other_cpu=round(max(0.0, cpu.system - cpu.target - cpu.client - cpu.db) / seconds, 2),
        cpu_ms_per_request=round(cpu.target * 1000 / max(s["requests"], 1), 3),
        db_cpu=round(cpu.db / seconds, 2),
    )


def expected_body(request_id: str, size: int) -> str | None:
    """What ``make_body`` builds for a request id ``r<run>-t<thread>-<n>``."""
    match = _REQUEST_ID.match(request_id)
    if match is None:
        return None
    run, tid, n = (int(x) for x in match.groups())
    return make_body(run, tid, n, size)


def resend(client: httpx.Client, item: Pending) -> dict[str, Any] | None:
    """POST one body until it is acknowledged (three tries); its answer, or None."""
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/json",
        "X-Request-ID": item.request_id,
    }
    for attempt in range(3):
        with contextlib.suppress(httpx.HTTPError):
            response = client.post(WEBHOOK, content=item.body, headers=headers)
            if response.is_success:
                answer: dict[str, Any] = response.json()
                return answer
        time.sleep(0.2 * (attempt + 1))
    return None


def retry(service: Service, result: RunResult, pending: list[Pending]) -> int:
    """Resend cut-off or failed new-alert requests, as Alertmanager would; return mismatches.

    Also checks that each body is the one ``make_body`` builds for its id, which keeps the Lua
    and Python generators identical (the fallback client uses ``make_body``).
    """
    mismatched = sum(1 for p in pending if p.body != expected_body(p.request_id, p.size))
    if service.name == "bare":
        return mismatched
    with httpx.Client(base_url=service.url, timeout=30.0) as client:
        for item in pending:
            result.retried += 1
            answer = resend(client, item)
            if answer is None:
                result.retry_failures += 1
                continue
            result.retried_acked_alerts += item.size
            result.retried_server_new += int(answer["new"])
    return mismatched


# --- the whole benchmark -----------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    tmp: Path
    services: dict[str, Service] = field(default_factory=dict)
    results: list[RunResult] = field(default_factory=list)
    pools: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    generator_mismatches: int = 0
    pg_url: str | None = None  # with --database postgresql: the database of "pg" and "pg2"
    pg_data: Path | None = None  # its cluster's data folder (to find its processes' CPU)
    _runs: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def client(self) -> str:
        if self.args.client == "auto":
            return "wrk" if shutil.which("wrk") else "httpx"
        return str(self.args.client)

    def targets(self) -> list[str]:
        """Targets in the order they run: bare, SQLite, then PostgreSQL ones if asked for."""
        pg = ["pg", "pg2"][: self.args.replicas] if self.pg_url else []
        return ["bare", "server", *pg]

    def rows_before(self, target: str, services: list[Service]) -> int | None:
        """Alerts already stored when a server run starts (once the servers are idle)."""
        if target == "bare":
            return None
        for service in services:
            wait_idle(service)
        if target == "server":
            return alert_rows(self.tmp)
        assert self.pg_url is not None
        return pg_counts(self.pg_url)["alerts"]

    def specs(self, target: str, scenario: str, size: int, label: str) -> list[Spec]:
        """One spec per server process of ``target``; the connections are shared among them."""
        processes = len(PROCESSES[target])
        pool_run, pool = self.pools.get((target, size), (0, 0))
        threads = self.args.threads if self.client == "wrk" else 1
        duration = self.args.warmup if label else self.args.duration
        connections = max(1, self.args.connections // processes)
        return [  # consecutive run ids: process i repeats the bodies of run pool_run + i
            Spec(
                scenario,
                size,
                next(self._runs),
                pool_run + i if pool_run else 0,
                pool,
                duration,
                connections,
                threads,
            )
            for i in range(processes)
        ]

    def measure(self, target: str, scenario: str, size: int, *, label: str = "") -> RunResult:
        services = [self.services[name] for name in PROCESSES[target]]
        rows = self.rows_before(target, services)
        specs = self.specs(target, scenario, size, label)
        pids = [service.proc.pid for service in services]
        before = CpuMark.take(pids, self.pg_data)
        if self.client == "wrk":
            loads = run_wrk(specs, services, self.tmp)
        else:
            loads = asyncio.run(_py_loads(specs, services))
        cpu = CpuMark.take(pids, self.pg_data).since(before)
        load = merge_loads(loads)
        result = to_result(label or scenario, specs[0], target, load, cpu)
        result.rows_before = rows
        if load.pending:
            if target != "bare":
                for service in services:
                    wait_idle(service)
            self.generator_mismatches += retry(services[0], result, load.pending)
        if scenario == "new":
            sent = min(result.sent_per_thread)
            self.pools[(target, size)] = (specs[0].run, min(POOL_MAX, sent))
        self.results.append(result)
        return result

    def run(self) -> None:
        if self.args.warmup > 0:
            for target in self.targets():
                self.measure(target, "new", TARGET_SIZE, label="warmup")
        print(LEGEND)
        print(HEADER)
        for size in self.args.sizes:
            for scenario in SCENARIOS:
                bare = self.measure("bare", scenario, size)
                print(row(bare), flush=True)
                for target in self.targets()[1:]:
                    server = self.measure(target, scenario, size)
                    server.vs_bare = server.rps / bare.rps if bare.rps else None
                    print(row(server), flush=True)


HEADER = (
    f"{'scenario':<8} {'alerts':>6} {'target':<6} {'req/s':>8} {'alerts/s':>9} {'p50 ms':>7} "
    f"{'p99 ms':>7} {'non-2xx':>7} {'srv/bare':>8} {'cpu ms/req':>10} {'cpu':>5} "
    f"{'client':>6} {'db':>5} {'other':>5} {'rows':>6}"
)
LEGEND = (
    "cpu ms/req and cpu: the target process(es); client: the load generator; db: the PostgreSQL\n"
    "cluster (SQLite runs inside the target); other: the rest of the machine during the run\n"
    "(other processes, loopback softirqs) - high means noisy numbers; rows: alerts already\n"
    "stored when the server run started. Targets: server = SQLite, one process; pg = PostgreSQL,\n"
    "one process; pg2 = PostgreSQL, two processes (one wrk each, half the connections each;\n"
    "their rates summed, their latency percentiles the worse of the two)."
)


def row(r: RunResult) -> str:
    ratio = f"{r.vs_bare * 100:.1f}%" if r.vs_bare is not None else "-"
    rows = "" if r.rows_before is None else str(r.rows_before)
    db = f"{r.db_cpu * 100:.0f}%" if r.target.startswith("pg") else "-"
    return (
        f"{r.scenario:<8} {r.size:>6} {r.target:<6} {r.rps:>8.1f} {r.alerts_per_s:>9.0f} "
        f"{r.p50_ms:>7.2f} {r.p99_ms:>7.2f} {r.non2xx + r.socket_errors:>7} {ratio:>8} "
        f"{r.cpu_ms_per_request:>10.3f} {r.target_cpu * 100:>4.0f}% {r.client_cpu * 100:>5.0f}% "
        f"{db:>5} {r.other_cpu * 100:>4.0f}% {rows:>6}"
        f"{' *' if r.target == 'bare' and r.target_cpu < BARE_SATURATED_CPU else ''}"
    )


# --- targets and correctness -------------------------------------------------------------------


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


def _find(results: list[RunResult], target: str, scenario: str, size: int) -> RunResult | None:
    for r in results:
        if (r.label, r.target, r.size) == (scenario, target, size):
            return r
    return None


def check_targets(results: list[RunResult]) -> list[Check]:
    checks = []
    for scenario, minimum in (("new", TARGET_NEW_RATIO), ("repeat", TARGET_REPEAT_RATIO)):
        server = _find(results, "server", scenario, TARGET_SIZE)
        bare = _find(results, "bare", scenario, TARGET_SIZE)
        if server is None or bare is None or server.vs_bare is None:
            continue
        # Both processes are bound by one core (the GIL), so the ratio of their CPU time per
        # request estimates the rate ratio even when other load skews the wall-clock rates.
        by_cpu = bare.cpu_ms_per_request / max(server.cpu_ms_per_request, 1e-9)
        checks.append(
            Check(
                f"{scenario} rate",
                server.vs_bare >= minimum,
                f"{scenario}, {TARGET_SIZE} alerts/payload: server {server.rps:.1f} req/s = "
                f"{server.vs_bare * 100:.1f}% of bare {bare.rps:.1f} req/s "
                f"(target >= {minimum * 100:.0f}%; by CPU ms/request: {by_cpu * 100:.1f}%)",
            )
        )
    for scenario in SCENARIOS:
        server = _find(results, "server", scenario, TARGET_SIZE)
        if server is None:
            continue
        checks.append(
            Check(
                f"{scenario} p99",
                server.p99_ms < TARGET_P99_MS and server.non2xx + server.socket_errors == 0,
                f"{scenario}, {TARGET_SIZE} alerts/payload: server p99 {server.p99_ms:.2f} ms, "
                f"{server.non2xx + server.socket_errors} non-2xx/errors "
                f"(target p99 < {TARGET_P99_MS:.0f} ms, no errors)",
            )
        )
    return checks


def check_postgres(results: list[RunResult]) -> list[Check]:
    """The issue's targets on PostgreSQL, at 16 connections and 10 alerts per payload."""
    one = _find(results, "pg", "new", TARGET_SIZE)
    two = _find(results, "pg2", "new", TARGET_SIZE)
    checks = []
    if one is not None:
        checks.append(
            Check(
                "pg new alerts/s",
                one.alerts_per_s >= TARGET_PG_NEW_ALERTS and one.non2xx + one.socket_errors == 0,
                f"new, {TARGET_SIZE} alerts/payload, PostgreSQL, one process: "
                f"{one.alerts_per_s:.0f} new alerts/s, p99 {one.p99_ms:.2f} ms, "
                f"{one.non2xx + one.socket_errors} non-2xx/errors "
                f"(target >= {TARGET_PG_NEW_ALERTS:.0f} new alerts/s, no errors)",
            )
        )
    if one is not None and two is not None:
        gain = two.alerts_per_s / one.alerts_per_s if one.alerts_per_s else 0.0
        checks.append(
            Check(
                "pg second replica",
                gain > TARGET_REPLICA_GAIN and two.non2xx + two.socket_errors == 0,
                f"new, {TARGET_SIZE} alerts/payload, PostgreSQL, two replicas: "
                f"{two.alerts_per_s:.0f} new alerts/s = x{gain:.2f} of one process, p99 "
                f"{two.p99_ms:.2f} ms (target: more than one process, i.e. > "
                f"x{TARGET_REPLICA_GAIN:.2f}, no errors)",
            )
        )
    return checks


TARGET_NAMES = {
    "server": "SQLite, one process",
    "pg": "PostgreSQL, one process",
    "pg2": "PostgreSQL, two replicas",
}


def print_comparison(results: list[RunResult], connections: int) -> None:
    """SQLite against PostgreSQL (one and two processes) at the target point, same run."""
    print(f"\nSQLite vs PostgreSQL, {connections} connections, {TARGET_SIZE} alerts/payload:")
    print(
        f"{'scenario':<8} {'target':<25} {'alerts/s':>9} {'p99 ms':>7} {'app cpu':>7} "
        f"{'db cpu':>6} {'other':>5}"
    )
    for scenario in SCENARIOS:
        for target, name in TARGET_NAMES.items():
            r = _find(results, target, scenario, TARGET_SIZE)
            if r is None:
                continue
            db = f"{r.db_cpu * 100:.0f}%" if target.startswith("pg") else "-"
            print(
                f"{scenario:<8} {name:<25} {r.alerts_per_s:>9.0f} {r.p99_ms:>7.2f} "
                f"{r.target_cpu * 100:>6.0f}% {db:>6} {r.other_cpu * 100:>4.0f}%"
            )


COUNTED_TABLES = ("alerts", "incidents", "timeline_events", "deliveries")


def db_counts(tmp: Path) -> dict[str, int]:
    tables = COUNTED_TABLES
    with contextlib.closing(sqlite3.connect(f"file:{tmp / 'bench.db'}?mode=ro", uri=True)) as db:
        return {t: int(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}  # noqa: S608


def correctness(
    results: list[RunResult],
    counts: dict[str, int],
    mismatches: int,
    targets: tuple[str, ...] = ("server",),
) -> Check:
    """The alerts rows of one database hold exactly what its targets acknowledged."""
    server = [r for r in results if r.target in targets]
    acked = sum(r.acked_total for r in server)
    sent = sum(r.sent_new_alerts for r in server)
    reported = sum(r.server_new + r.retried_server_new for r in server)
    failures = sum(r.retry_failures for r in server)
    rows = counts["alerts"]
    passed = rows == acked and reported <= rows and mismatches == 0
    detail = (
        f"alerts rows = {rows}, unique new alerts acknowledged with 2xx = {acked} "
        f"(sent {sent}; {sum(r.cut_off for r in server)} requests cut off by the client's "
        f"stop and resent, {failures} still failing; server-reported 'new' total = {reported})"
    )
    if mismatches:
        detail += f"; {mismatches} bodies differ between ingest.lua and make_body()"
    return Check(f"correctness ({', '.join(targets)})", passed, detail)


def environment(client: str) -> dict[str, Any]:
    def version(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    wrk = ""
    if client == "wrk":
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        wrk = (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else ""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "client": client,
        "wrk": wrk,
        "packages": {
            name: version(name)
            for name in ("uvicorn", "uvloop", "httptools", "starlette", "fastapi", "sqlalchemy")
        },
    }


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark webhook ingest against a bare Starlette app."
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 s per run, no warm-up (20-30 s in all)"
    )
    parser.add_argument("--duration", type=int, help="seconds per run (default 5; quick 1)")
    parser.add_argument("--warmup", type=int, help="warm-up seconds per target (1; quick 0)")
    parser.add_argument("--connections", type=int, default=TARGET_CONNECTIONS)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (2 cores: keep 1)")
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 10, 100]
    )
    parser.add_argument("--client", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a check fails")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="postgresql: also measure the server on a private PostgreSQL cluster (pg)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        choices=(1, 2),
        default=1,
        help="with --database postgresql: 2 also measures two processes on it (pg2)",
    )
    args = parser.parse_args(argv)
    if args.replicas > 1 and args.database != "postgresql":
        parser.error("--replicas 2 needs --database postgresql")
    if args.duration is None:
        args.duration = 1 if args.quick else 5
    if args.warmup is None:
        args.warmup = 0 if args.quick else 1
    return args


def report_postgres(bench: Bench, counts: dict[str, int] | None) -> list[Check]:
    """PostgreSQL's targets, the comparison with SQLite, and the PostgreSQL correctness."""
    if counts is None:
        return []
    print_comparison(bench.results, bench.args.connections)
    checks = check_postgres(bench.results)
    for check in checks:
        print(f"{'PASS' if check.passed else 'FAIL'} {check.detail}")
    verdict = correctness(bench.results, counts, 0, ("pg", "pg2"))
    print(f"{'PASS' if verdict.passed else 'FAIL'} correctness on PostgreSQL: {verdict.detail}")
    print(
        f"     incidents = {counts['incidents']}, timeline events = {counts['timeline_events']}, "
        f"deliveries logged = {counts['deliveries']}"
    )
    return [*checks, verdict]


def report(bench: Bench, all_counts: dict[str, dict[str, int]], started: float) -> list[Check]:
    counts = all_counts["sqlite"]
    checks = check_targets(bench.results)
    if bench.args.connections != TARGET_CONNECTIONS:
        print(f"\nnote: targets are defined at {TARGET_CONNECTIONS} connections")
    print("\ntargets:")
    if not checks:
        print(f"(not evaluated: they are defined for {TARGET_SIZE} alerts per payload)")
    for check in checks:
        print(f"{'PASS' if check.passed else 'FAIL'} {check.detail}")
    starved = [r for r in bench.results if r.target == "bare" and r.label != "warmup"]
    starved = [r for r in starved if r.target_cpu < BARE_SATURATED_CPU]
    if starved:
        print(
            f"warning: the bare app used < {BARE_SATURATED_CPU * 100:.0f}% of a CPU in "
            f"{len(starved)} run(s) (marked *): its rate there was limited by the client "
            f"({bench.client}) or by other load, so those srv/bare ratios flatter the server"
        )
    noise = statistics.median(r.other_cpu for r in bench.results) if bench.results else 0.0
    if noise > NOISY_OTHER_CPU:
        print(
            f"warning: other processes kept {noise * 100:.0f}% of a CPU busy (median) during "
            "the runs: the rates are noisy; compare cpu ms/req, or rerun on a quiet machine"
        )
    verdict = correctness(bench.results, counts, bench.generator_mismatches)
    print(f"\n{'PASS' if verdict.passed else 'FAIL'} correctness: {verdict.detail}")
    print(
        f"     incidents = {counts['incidents']}, timeline events = {counts['timeline_events']}, "
        f"deliveries logged = {counts['deliveries']}"
    )
    checks += report_postgres(bench, all_counts.get("postgresql"))
    summary = {
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "runtime_s": round(time.time() - started, 1),
        "args": {k: v for k, v in vars(bench.args).items()},
        "environment": environment(bench.client),
        "targets": {
            "connections": TARGET_CONNECTIONS,
            "size": TARGET_SIZE,
            "new_ratio": TARGET_NEW_RATIO,
            "repeat_ratio": TARGET_REPEAT_RATIO,
            "p99_ms": TARGET_P99_MS,
            "pg_new_alerts_per_s": TARGET_PG_NEW_ALERTS,
            "pg_replica_gain": TARGET_REPLICA_GAIN,
        },
        "runs": [asdict(r) for r in bench.results],
        "checks": [asdict(c) for c in [*checks, verdict]],
        "db_counts": counts,
        "pg_counts": all_counts.get("postgresql"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromtimestamp(started, UTC).strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"ingest-{stamp}.json"
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"\nsummary written to {path.relative_to(ROOT)} (total {summary['runtime_s']} s)")
    return [*checks, verdict]


def start_postgres(bench: Bench) -> Cluster:
    """A private cluster as the tests start one (Debian's binaries, loopback, fsync off)."""
    sys.path.insert(0, str(ROOT))
    from tests.postgres import Cluster, find_bindir

    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL binaries not found: install Debian's postgresql")
    cluster = Cluster(bindir).start()
    bench.pg_url, bench.pg_data = cluster.create_database(), cluster.data
    print(f"PostgreSQL {bindir.parent.name} on 127.0.0.1:{cluster.port}, data in {cluster.data}")
    return cluster


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="rr-bench-"))
    bench = Bench(args, tmp)
    print(
        f"client {bench.client}, {args.connections} connections, {args.duration} s per run, "
        f"sizes {args.sizes}, temp {tmp}"
    )
    counts: dict[str, dict[str, int]] = {}
    cluster = start_postgres(bench) if args.database == "postgresql" else None
    try:
        bench.services["server"] = start_server(tmp)
        bench.services["bare"] = start_bare(tmp)
        for name in PROCESSES["pg2"][: args.replicas] if bench.pg_url else ():
            bench.services[name] = start_server(tmp, name, bench.pg_url)
        bench.run()
    finally:
        for service in bench.services.values():
            stop(service)
        if cluster is not None:
            try:
                assert bench.pg_url is not None
                counts["postgresql"] = pg_counts(bench.pg_url, COUNTED_TABLES)
            finally:
                cluster.stop()
    counts["sqlite"] = db_counts(tmp)
    checks = report(bench, counts, started)
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if args.strict and not all(c.passed for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
