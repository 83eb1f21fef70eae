"""Load without wrk: a bounded httpx client sending the same plan as ``ingest.lua``.

On a small machine this client is the bottleneck itself (the report says so).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from dataclasses import dataclass, field

import httpx

from harness.processes import Service
from ingest_load import TOKEN, WEBHOOK, Load, Pending, Spec
from ingest_payload import make_body


def run_httpx(specs: list[Spec], services: list[Service]) -> list[Load]:
    """One client per (spec, service), all running at the same time."""
    return asyncio.run(_py_loads(specs, services))


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
