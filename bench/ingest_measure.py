"""Measurement: CPU time of the targets, the client, the database and the rest of the machine;
rows stored; one run's numbers (``RunResult``)."""

from __future__ import annotations

import contextlib
import os
import resource
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.processes import Service
from ingest_load import Load, Spec

COUNTED_TABLES = ("alerts", "incidents", "timeline_events", "deliveries")


def service_pid(service: Service) -> int:
    assert service.proc is not None, f"{service.name} was not started"
    return service.proc.pid


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
    last = cpu_seconds(service_pid(service))
    while quiet < 2:
        if time.monotonic() > deadline:
            print(f"warning: {service.name} still busy after {timeout:.0f} s", file=sys.stderr)
            return False
        time.sleep(0.05)
        now = cpu_seconds(service_pid(service))
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


def db_counts(tmp: Path) -> dict[str, int]:
    tables = COUNTED_TABLES
    with contextlib.closing(sqlite3.connect(f"file:{tmp / 'bench.db'}?mode=ro", uri=True)) as db:
        return {t: int(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}  # noqa: S608


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
