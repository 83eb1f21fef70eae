"""KPI series from the database: hand-computed values, restarts, and two replicas."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from typer.testing import CliRunner

from app.cli import cli
from app.main import create_app
from app.metrics.instruments import PROCESS_PREFIXES
from app.settings import Settings
from tests.conftest import WEBHOOK, FakeClock, admin_headers, ingest_headers
from tests.factories import alert, payload

pytestmark = pytest.mark.anyio

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def kpi_only(samples: Samples) -> Samples:
    """The database-backed series (process series differ between replicas by design)."""
    process = PROCESS_PREFIXES
    return {
        k: v
        for k, v in samples.items()
        if k[0].startswith("runbook_") and not k[0].startswith(process)
    }


async def scrape(client: AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return parse(response.text)


async def history(client: AsyncClient, clock: FakeClock) -> None:
    """Three workflow-500 incidents with known MTTA/MTTR, one flap, one recurrence."""
    t0 = clock.now
    # Incident 1: acked after 45 s, resolved by Alertmanager after 10 min (600 s).
    await client.post(WEBHOOK, json=payload(alert("a", starts_at=t0)), headers=ingest_headers())
    clock.advance(seconds=45)
    await client.post("/api/v1/incidents/1/ack", headers=admin_headers())
    end = t0 + timedelta(minutes=10)
    await client.post(
        WEBHOOK, json=payload(alert("a", starts_at=t0, ends_at=end)), headers=ingest_headers()
    )
    # Flap: fires again 2 min after resolution, resolved again at 20 min (1200 s).
    t1 = end + timedelta(minutes=2)
    await client.post(WEBHOOK, json=payload(alert("a", starts_at=t1)), headers=ingest_headers())
    await client.post(
        WEBHOOK,
        json=payload(alert("a", starts_at=t1, ends_at=t0 + timedelta(minutes=20))),
        headers=ingest_headers(),
    )
    # Incident 2: a recurrence an hour later, resolved by hand after 2 h (7200 s).
    t2 = t0 + timedelta(hours=1)
    clock.now = t2
    await client.post(WEBHOOK, json=payload(alert("b", starts_at=t2)), headers=ingest_headers())
    clock.advance(hours=2)
    await client.post("/api/v1/incidents/2/resolve", json={}, headers=admin_headers())
    # Incident 3: an uncovered alert, still open.
    await client.post(
        WEBHOOK,
        json=payload(alert("c", starts_at=clock.now, alertname="Odd")),
        headers=ingest_headers(),
    )


async def test_values_match_a_hand_computed_history(client: AsyncClient, clock: FakeClock) -> None:
    await history(client, clock)
    s = await scrape(client)
    w = "workflow-500"
    assert value(s, "runbook_incidents_total", **{"class": w, "severity": "critical"}) == 2
    assert value(s, "runbook_incident_recurrences_total", **{"class": w}) == 1
    assert value(s, "runbook_incident_flaps_total", **{"class": w}) == 1
    assert value(s, "runbook_alerts_classified_total", **{"class": w}) == 3
    assert value(s, "runbook_alerts_classified_total", **{"class": "generic"}) == 1
    # MTTA: one observation of 45 s.
    mtta = "runbook_incident_acknowledge_seconds"
    assert value(s, f"{mtta}_bucket", **{"class": w, "le": "30.0"}) == 0
    assert value(s, f"{mtta}_bucket", **{"class": w, "le": "60.0"}) == 1
    assert value(s, f"{mtta}_sum", **{"class": w}) == 45
    assert value(s, f"{mtta}_count", **{"class": w}) == 1
    # MTTR: 600 s, then 1200 s after the flap (once per resolution), then 7200 s.
    mttr = "runbook_incident_resolution_seconds"
    expected = {
        "300.0": 0,
        "600.0": 1,
        "900.0": 1,
        "1800.0": 2,
        "3600.0": 2,
        "7200.0": 3,
        "+Inf": 3,
    }
    for le, count in expected.items():
        assert value(s, f"{mttr}_bucket", **{"class": w, "le": le}) == count, le
    assert value(s, f"{mttr}_sum", **{"class": w}) == 600 + 1200 + 7200
    assert value(s, "runbook_incidents_open", **{"class": "generic", "status": "triggered"}) == 1
    assert value(s, "runbook_incidents_open", **{"class": w, "status": "triggered"}) == 0


async def test_every_class_starts_at_zero(client: AsyncClient) -> None:
    s = await scrape(client)
    for cls in ("generic", "pdf-404", "queue-failure", "storage-permissions", "workflow-500"):
        assert value(s, "runbook_incident_flaps_total", **{"class": cls}) == 0
        assert value(s, "runbook_incident_resolution_seconds_count", **{"class": cls}) == 0
        assert value(s, "runbook_alerts_classified_total", **{"class": cls}) == 0
        assert value(s, "runbook_postmortems_pending", **{"class": cls}) == 0


async def test_values_survive_a_restart_and_agree_across_replicas(
    client: AsyncClient, clock: FakeClock, settings: Settings
) -> None:
    await history(client, clock)
    before = kpi_only(await scrape(client))
    for _ in range(2):  # a restarted process, then a second replica beside the first
        other = create_app(settings, registry=CollectorRegistry(), clock=clock)
        async with (
            LifespanManager(other),
            AsyncClient(transport=ASGITransport(app=other), base_url="http://b") as second,
        ):
            assert kpi_only(await scrape(second)) == before
            assert kpi_only(await scrape(client)) == before
    assert len(before) > 100


async def test_kpi_api_reports_the_window(client: AsyncClient, clock: FakeClock) -> None:
    await history(client, clock)
    response = await client.get("/api/v1/kpis", params={"window": "30d"}, headers=admin_headers())
    assert response.status_code == 200
    body = response.json()
    by_class = {c["runbook_class"]: c for c in body["classes"]}
    w = by_class["workflow-500"]
    assert (w["incidents"], w["open"], w["recurrences"], w["flaps"]) == (2, 0, 1, 1)
    assert w["recurrence_rate"] == 0.5
    assert w["mtta"] == {"count": 1, "median_seconds": 45.0, "p90_seconds": 45.0}
    assert w["mttr"] == {"count": 2, "median_seconds": 4200.0, "p90_seconds": 6600.0}
    assert by_class["generic"]["open"] == 1
    assert by_class["pdf-404"]["incidents"] == 0
    coverage = body["coverage"]
    assert coverage["covered_share"] == 0.5
    assert coverage["uncovered"] == ["Odd"]
    assert [a["alertname"] for a in coverage["alertnames"]] == ["Workflow500", "Odd"]
    narrow = await client.get("/api/v1/kpis", params={"window": "1m"}, headers=admin_headers())
    assert {c["runbook_class"]: c["incidents"] for c in narrow.json()["classes"]}["generic"] == 1
    assert sum(c["incidents"] for c in narrow.json()["classes"]) == 1


async def test_kpi_api_rejects_a_bad_window(client: AsyncClient) -> None:
    response = await client.get(
        "/api/v1/kpis", params={"window": "a month"}, headers=admin_headers()
    )
    assert response.status_code == 422
    assert "window" in response.json()["error"]["message"]


async def test_kpis_command_prints_the_table(
    client: AsyncClient, clock: FakeClock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await history(client, clock)
    monkeypatch.setenv("RUNBOOK_ROUTER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RUNBOOK_ROUTER_CATALOG_DIR", str(settings.catalog_dir))
    monkeypatch.setattr("app.cli.datetime", FrozenDatetime.at(clock.now))
    monkeypatch.setattr("app.cli.out", Console(width=200, soft_wrap=True))
    result = CliRunner().invoke(cli, ["kpis", "--window", "30d"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "workflow-500" in line)
    assert "45s / 45s" in row
    assert "1h10m / 1h50m" in row
    assert "50%" in row
    assert "coverage of the top 10 alertnames: 50%; uncovered: Odd" in result.output


class FrozenDatetime(datetime):
    """``datetime`` whose ``now()`` is the test clock's time (the CLI reads the wall clock)."""

    frozen: datetime

    @classmethod
    def at(cls, moment: datetime) -> type[FrozenDatetime]:
        return type("Frozen", (cls,), {"frozen": moment})

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> FrozenDatetime:
        return cls.frozen  # type: ignore[return-value]
