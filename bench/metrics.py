"""Scrape cost of ``/metrics`` against incident history: 1k, 100k and 1M incidents (SQLite).

For each size it builds a database (migrated by the app, incidents bulk-inserted, 50 of them
open, KPI rows as ingestion writes them), starts the real server on it, scrapes ``/metrics``
repeatedly and prints the median and p90 scrape time and the body size. The ratio of the
largest to the smallest history is the figure that matters (target <= 1.5): a scrape reads
pre-aggregated rows and an index range of open incidents, never the history.

    .venv/bin/python bench/metrics.py            # 1k, 100k, 1M
    .venv/bin/python bench/metrics.py --quick    # 1k, 100k
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.metrics import aggregates as kpi  # noqa: E402
from app.migrate import migrate  # noqa: E402
from harness.server import ServerProcess, server_env  # noqa: E402

CLASSES = ("workflow-500", "pdf-404", "queue-failure", "storage-permissions", "generic")
OPEN = 50
TOKEN = "bench"
ADMIN_TOKEN = "bench-admin"
CHUNK = 50_000
INSERT_INCIDENT = (
    "INSERT INTO incidents (runbook_class, group_key, open_key, title, status, severity, team, "
    "labels, started_at, created_at, updated_at, resolved_at, resolved_by, flap_count, "
    "truncated_alerts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _ts(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def build(path: Path, incidents: int) -> None:
    """A migrated database holding ``incidents`` incidents and matching KPI rows."""
    migrate(f"sqlite:///{path}")
    rng = random.Random(incidents)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    sums: dict[tuple[str, str], float] = {}
    for offset in range(0, incidents, CHUNK):
        rows = []
        for i in range(offset, min(offset + CHUNK, incidents)):
            cls = CLASSES[i % len(CLASSES)]
            began = start + timedelta(seconds=i * 30)
            is_open = i >= incidents - OPEN
            took = rng.uniform(20, 90_000)
            resolved = None if is_open else _ts(began + timedelta(seconds=took))
            if not is_open:
                le = kpi.bucket_label(took)
                sums[(cls, le)] = sums.get((cls, le), 0) + 1
                sums[(cls, "_sum")] = sums.get((cls, "_sum"), 0) + took
            rows.append(
                (
                    cls,
                    f"g{i}",
                    f"{i:064x}" if is_open else None,
                    "bench",
                    "triggered" if is_open else "resolved",
                    "critical",
                    "",
                    "{}",
                    _ts(began),
                    _ts(began),
                    _ts(began),
                    resolved,
                    None if is_open else "alertmanager",
                    0,
                    0,
                )
            )
        conn.executemany(INSERT_INCIDENT, rows)
    kpi_rows = []
    for (cls, key), value in sums.items():
        name = kpi.RESOLUTION
        if key == "_sum":
            kpi_rows.append((f"{name}_sum", kpi.encode({"class": cls}), value))
        else:
            kpi_rows.append((f"{name}_bucket", kpi.encode({"class": cls, "le": key}), value))
    for cls in CLASSES:
        count = sum(v for (c, k), v in sums.items() if c == cls and k != "_sum")
        kpi_rows.append((f"{kpi.RESOLUTION}_count", kpi.encode({"class": cls}), count))
        kpi_rows.append(
            (
                kpi.INCIDENTS,
                kpi.encode({"class": cls, "severity": "critical"}),
                incidents / len(CLASSES),
            )
        )
    conn.executemany("INSERT INTO kpi_series (metric, labels, value) VALUES (?, ?, ?)", kpi_rows)
    conn.commit()
    conn.close()


def scrape(path: Path, scrapes: int) -> tuple[list[float], int]:
    """Start the real server on ``path``; return scrape times (s) and the body size."""
    env = server_env(
        f"sqlite:///{path}",
        path.parent,
        ingest_token=TOKEN,
        admin_token=ADMIN_TOKEN,
        RUNBOOK_ROUTER_LOG_LEVEL="WARNING",
    )
    server = ServerProcess(env, path.with_suffix(".log"), migrate=False, stop_timeout=20).start()
    url = f"{server.url}/metrics"
    try:
        with httpx.Client(timeout=30) as client:
            for _ in range(5):  # warm-up
                client.get(url)
            times, size = [], 0
            for _ in range(scrapes):
                began = time.perf_counter()
                body = client.get(url).content
                times.append(time.perf_counter() - began)
                size = len(body)
            return times, size
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k and 100k only")
    parser.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args()
    sizes = (1_000, 100_000) if args.quick else (1_000, 100_000, 1_000_000)
    results = {}
    with tempfile.TemporaryDirectory(prefix="rr-bench-metrics-") as tmp:
        for size in sizes:
            path = Path(tmp) / f"h{size}.db"
            began = time.perf_counter()
            build(path, size)
            built = time.perf_counter() - began
            times, body = scrape(path, args.scrapes)
            p50 = statistics.median(times)
            p90 = statistics.quantiles(times, n=10)[-1]
            results[size] = p50
            print(
                f"{size:>9,} incidents: scrape p50 {p50 * 1000:6.2f} ms  p90 "
                f"{p90 * 1000:6.2f} ms  body {body:,} bytes  (db built in {built:.1f} s)"
            )
    ratio = results[sizes[-1]] / results[sizes[0]]
    verdict = "PASS" if ratio <= 1.5 else "FAIL"
    print(
        f"{verdict}: p50 scrape ratio {sizes[-1]:,} / {sizes[0]:,} incidents = {ratio:.2f} "
        "(target <= 1.5)"
    )


if __name__ == "__main__":
    main()
