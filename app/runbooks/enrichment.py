"""Live context for a runbook: Prometheus instant queries and allow-listed HTTP probes.

Every item has its own timeout and all of them share one budget; they run concurrently.
Results are cached briefly, so a crowd refreshing the page does not hammer Prometheus.
A failure is a result ("unavailable: why"), never an exception, and every attempt counts in
``runbook_enrichment_requests_total``. Probe URLs come only from ``enrichment.targets``
(base URL) and the runbook's static path: no label value ever becomes part of a host.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import httpx
from pydantic import BaseModel

from app.classification.catalog import Probe, PromQuery
from app.config import Enrichment
from app.metrics.instruments import Instruments

log = logging.getLogger(__name__)

CACHE_TTL = timedelta(seconds=15)
CACHE_SIZE = 2048


class Result(BaseModel):
    ok: bool
    summary: str = ""
    error: str | None = None
    status: int | None = None
    elapsed_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Plan:
    """What to fetch for one page: rendered queries and probes, by name."""

    queries: dict[str, str]
    probes: dict[str, Probe]


def _summarize_vector(data: Mapping[str, Any]) -> str:
    kind, result = data.get("resultType"), data.get("result")
    if kind in ("scalar", "string") and isinstance(result, list):
        return str(result[1])
    if not isinstance(result, list) or not result:
        return "no data"
    parts = []
    for series in result[:5]:
        metric = {k: v for k, v in series.get("metric", {}).items() if k != "__name__"}
        value = series.get("value", [None, "?"])[1]
        labels = ", ".join(f"{k}={v}" for k, v in sorted(metric.items()))
        parts.append(f"{value} ({labels})" if labels else str(value))
    more = f" (+{len(result) - 5} more)" if len(result) > 5 else ""
    return "; ".join(parts) + more


class Enricher:
    """Runs a Plan against Prometheus and the probe targets, within time limits."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        config: Enrichment,
        prometheus_url: str | None,
        instruments: Instruments,
    ) -> None:
        self._client = client
        self._config = config
        self._prometheus = prometheus_url.rstrip("/") if prometheus_url else None
        self._instruments = instruments
        self._cache: dict[tuple[str, str], tuple[float, Result]] = {}
        for name, target in config.targets.items():
            if target.token_env and not os.environ.get(target.token_env):
                log.warning(
                    "probe target has no token; probes to it are disabled",
                    extra={"target": name, "token_env": target.token_env},
                )

    async def run(self, plan: Plan) -> dict[str, dict[str, Result]]:
        """All results by kind and name; what missed the budget says so."""
        jobs: dict[tuple[str, str], Awaitable[Result]] = {}
        for name, query in plan.queries.items():
            jobs[("prometheus", name)] = self._cached(
                "prometheus", query, partial(self._query, query)
            )
        for name, probe in plan.probes.items():
            jobs[("probe", name)] = self._cached(
                "probe",
                f"{probe.target}{probe.path}#{probe.expect_status}",
                partial(self._probe, probe),
            )
        tasks = {key: asyncio.ensure_future(job) for key, job in jobs.items()}
        budget = self._config.budget.total_seconds()
        if tasks:
            await asyncio.wait(tasks.values(), timeout=budget)
        out: dict[str, dict[str, Result]] = {"prometheus": {}, "probes": {}}
        for (kind, name), task in tasks.items():
            if task.done():
                result = task.result()
            else:
                task.cancel()
                result = Result(ok=False, error=f"unavailable: page budget of {budget:g}s spent")
                self._count(kind, "timeout")
            out["prometheus" if kind == "prometheus" else "probes"][name] = result
        return out

    async def _cached(self, kind: str, key: str, fetch: Callable[[], Awaitable[Result]]) -> Result:
        now = time.monotonic()
        hit = self._cache.get((kind, key))
        if hit is not None and hit[0] > now:
            return hit[1]
        result = await fetch()
        if len(self._cache) >= CACHE_SIZE:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        self._cache[(kind, key)] = (now + CACHE_TTL.total_seconds(), result)
        return result

    def _count(self, kind: str, outcome: str) -> None:
        self._instruments.enrichment_requests.labels(kind, outcome).inc()

    async def _get(
        self, kind: str, url: str, **kwargs: Any
    ) -> tuple[httpx.Response | None, Result]:
        started = time.perf_counter()
        timeout = self._config.timeout.total_seconds()
        try:
            response = await self._client.get(url, timeout=timeout, **kwargs)
        except httpx.TimeoutException:
            self._count(kind, "timeout")
            return None, Result(ok=False, error=f"unavailable: timeout after {timeout:g}s")
        except httpx.HTTPError as err:
            self._count(kind, "error")
            return None, Result(ok=False, error=f"unavailable: {type(err).__name__}")
        elapsed = (time.perf_counter() - started) * 1000
        return response, Result(ok=True, status=response.status_code, elapsed_ms=round(elapsed, 1))

    async def _query(self, query: str) -> Result:
        if self._prometheus is None:
            return Result(ok=False, error="unavailable: no Prometheus URL configured")
        response, result = await self._get(
            "prometheus", f"{self._prometheus}/api/v1/query", params={"query": query}
        )
        if response is None:
            return result
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or body.get("status") != "success":
            self._count("prometheus", "error")
            reason = body.get("error") or f"HTTP {response.status_code}"
            return result.model_copy(update={"ok": False, "error": f"unavailable: {reason}"})
        self._count("prometheus", "ok")
        return result.model_copy(update={"summary": _summarize_vector(body.get("data", {}))})

    async def _probe(self, probe: Probe) -> Result:
        target = self._config.targets.get(probe.target)
        if target is None:
            return Result(
                ok=False, error=f"unavailable: target {probe.target!r} is not allow-listed"
            )
        headers = {}
        if target.token_env:
            token = os.environ.get(target.token_env)
            if not token:
                return Result(ok=False, error=f"disabled: {target.token_env} is not set")
            headers["Authorization"] = f"Bearer {token}"
        url = target.base_url.rstrip("/") + probe.path
        response, result = await self._get("probe", url, headers=headers)
        if response is None:
            return result
        ok = response.status_code == probe.expect_status
        self._count("probe", "ok" if ok else "error")
        summary = f"{response.status_code} {response.reason_phrase}".strip()
        identity = _identity(response)
        summary = f"{summary}; {identity}" if identity else summary
        error = None if ok else f"expected HTTP {probe.expect_status}, got {response.status_code}"
        return result.model_copy(update={"ok": ok, "summary": summary, "error": error})


def _identity(response: httpx.Response) -> str:
    """``name=… role=…`` from a ``/api/v1/me``-style JSON answer, if there is one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    keys = ("name", "role", "team")
    parts = [f"{k}={body[k]}" for k in keys if isinstance(body.get(k), str | int)]
    perms = body.get("permissions")
    if isinstance(perms, list):
        parts.append(f"permissions={len(perms)}")
    return " ".join(parts)[:200]


__all__ = ["Enricher", "Plan", "PromQuery", "Result"]
