"""The targets (rates against the bare app, p99, PostgreSQL) and the correctness check."""

from __future__ import annotations

from dataclasses import dataclass

from ingest_measure import RunResult
from ingest_payload import SCENARIOS

TARGET_CONNECTIONS = 16
TARGET_SIZE = 10
TARGET_NEW_RATIO = 0.06
TARGET_REPEAT_RATIO = 0.30
TARGET_P99_MS = 50.0
BARE_SATURATED_CPU = 0.8  # below this the bare app was not the bottleneck of its own run
NOISY_OTHER_CPU = 0.25  # median CPU (in cores) used by everything else during the runs
TARGET_PG_NEW_ALERTS = 3000.0  # new alerts/s from one process on PostgreSQL (2-core machine)
TARGET_REPLICA_GAIN = 1.0  # two replicas must ingest more than one (ratio above this)


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


def find(results: list[RunResult], target: str, scenario: str, size: int) -> RunResult | None:
    for r in results:
        if (r.label, r.target, r.size) == (scenario, target, size):
            return r
    return None


def check_targets(results: list[RunResult]) -> list[Check]:
    checks = []
    for scenario, minimum in (("new", TARGET_NEW_RATIO), ("repeat", TARGET_REPEAT_RATIO)):
        server = find(results, "server", scenario, TARGET_SIZE)
        bare = find(results, "bare", scenario, TARGET_SIZE)
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
        server = find(results, "server", scenario, TARGET_SIZE)
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
    one = find(results, "pg", "new", TARGET_SIZE)
    two = find(results, "pg2", "new", TARGET_SIZE)
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
