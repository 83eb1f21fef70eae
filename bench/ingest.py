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
``harness/postgres.py`` does) and measures the same server on it: ``pg`` is one process, and with
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
import itertools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from harness.postgres import Cluster, find_bindir  # noqa: E402
from harness.processes import HOST, Service, free_port  # noqa: E402
from harness.server import ServerProcess, server_env  # noqa: E402
from ingest_checks import TARGET_CONNECTIONS, TARGET_SIZE  # noqa: E402
from ingest_httpx import run_httpx  # noqa: E402
from ingest_load import TOKEN, Pending, Spec, merge_loads, resend, run_wrk  # noqa: E402
from ingest_measure import (  # noqa: E402
    COUNTED_TABLES,
    CpuMark,
    RunResult,
    alert_rows,
    db_counts,
    pg_counts,
    service_pid,
    to_result,
    wait_idle,
)
from ingest_payload import SCENARIOS, expected_body  # noqa: E402
from ingest_report import HEADER, LEGEND, report, row  # noqa: E402

ADMIN_TOKEN = "bench-admin-token"
POOL_MAX = 256  # distinct bodies per client thread that the repeat scenarios cycle through
# What each target measures: its server processes (services) and its database.
PROCESSES = {"bare": ("bare",), "server": ("server",), "pg": ("pg",), "pg2": ("pg", "pg-b")}

# --- processes ---------------------------------------------------------------------------------


def start_server(tmp: Path, name: str = "server", database_url: str | None = None) -> Service:
    """``migrate`` then ``serve`` (log level WARNING, JSON logs) on SQLite or ``database_url``."""
    env = server_env(
        database_url or f"sqlite:///{tmp / 'bench.db'}",
        tmp / ("data" if name == "server" else f"data-{name}"),
        ingest_token=TOKEN,
        admin_token=ADMIN_TOKEN,
        RUNBOOK_ROUTER_LOG_LEVEL="WARNING",
        RUNBOOK_ROUTER_LOG_FORMAT="json",
    )
    return ServerProcess(env, tmp / f"{name}.log", name=name, stop_timeout=30).start()


def start_bare(tmp: Path) -> Service:
    port = free_port()
    cmd = [sys.executable, str(BENCH / "bare_app.py"), "--host", HOST, "--port", str(port)]
    bare = Service(
        "bare", cmd, dict(os.environ), tmp / "bare.log", port=port, ready_path="/healthz"
    )
    return bare.start()


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
        pids = [service_pid(service) for service in services]
        before = CpuMark.take(pids, self.pg_data)
        if self.client == "wrk":
            loads = run_wrk(specs, services, self.tmp)
        else:
            loads = run_httpx(specs, services)
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


def start_postgres(bench: Bench) -> Cluster:
    """A private cluster as the tests start one (Debian's binaries, loopback, fsync off)."""
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
            service.stop()
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
