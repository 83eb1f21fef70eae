"""Load: what one run sends (``Spec``), wrk driving ``ingest.lua``, and what came back.

``Load`` holds wrk's summary (or the httpx fallback's, same shape, see ``ingest_httpx``) and
the new-alert requests the client did not see acknowledged, which are resent afterwards.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.processes import Service
from ingest_payload import GROUP_EVERY

LUA_SCRIPT = Path(__file__).resolve().parent / "ingest.lua"
WEBHOOK = "/api/v1/webhooks/alertmanager"
TOKEN = "bench-ingest-token"


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
