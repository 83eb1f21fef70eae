"""Report: the table of runs, the verdicts, the SQLite/PostgreSQL comparison, the JSON summary."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ingest_checks import (
    BARE_SATURATED_CPU,
    NOISY_OTHER_CPU,
    TARGET_CONNECTIONS,
    TARGET_NEW_RATIO,
    TARGET_P99_MS,
    TARGET_PG_NEW_ALERTS,
    TARGET_REPEAT_RATIO,
    TARGET_REPLICA_GAIN,
    TARGET_SIZE,
    Check,
    check_postgres,
    check_targets,
    correctness,
    find,
)
from ingest_measure import RunResult
from ingest_payload import SCENARIOS

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"


class Outcome(Protocol):
    """What the report reads of a finished benchmark (``ingest.Bench``)."""

    args: argparse.Namespace
    results: list[RunResult]
    generator_mismatches: int

    @property
    def client(self) -> str: ...


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
            r = find(results, target, scenario, TARGET_SIZE)
            if r is None:
                continue
            db = f"{r.db_cpu * 100:.0f}%" if target.startswith("pg") else "-"
            print(
                f"{scenario:<8} {name:<25} {r.alerts_per_s:>9.0f} {r.p99_ms:>7.2f} "
                f"{r.target_cpu * 100:>6.0f}% {db:>6} {r.other_cpu * 100:>4.0f}%"
            )


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


def report_postgres(bench: Outcome, counts: dict[str, int] | None) -> list[Check]:
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


def report(bench: Outcome, all_counts: dict[str, dict[str, int]], started: float) -> list[Check]:
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
