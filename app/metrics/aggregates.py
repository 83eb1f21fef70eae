"""KPI series kept in the database, updated in the same transaction as the state change.

Every replica reads the same rows, the values survive restarts, and a scrape reads
``O(classes x buckets)`` rows however long the incident history is. Histograms are stored
as non-cumulative bucket counts plus ``_sum`` and ``_count``.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping
from datetime import datetime
from functools import cache

from sqlalchemy import Column, Connection, Float, String, bindparam
from sqlalchemy.sql.dml import Insert
from sqlmodel import Field, Session, SQLModel

from app.db import dialect_insert

DURATION_BUCKETS = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)
SEVERITIES = ("critical", "error", "warning", "info", "none")

INCIDENTS = "runbook_incidents_total"
RECURRENCES = "runbook_incident_recurrences_total"
FLAPS = "runbook_incident_flaps_total"
CLASSIFIED = "runbook_alerts_classified_total"
ESCALATIONS = "runbook_escalations_total"
ACKNOWLEDGE = "runbook_incident_acknowledge_seconds"
RESOLUTION = "runbook_incident_resolution_seconds"
FIRST_VIEW = "runbook_incident_first_view_seconds"
HISTOGRAMS = (ACKNOWLEDGE, RESOLUTION, FIRST_VIEW)


class KpiSeries(SQLModel, table=True):
    """One stored sample: ``metric`` + canonical JSON ``labels`` -> ``value``."""

    __tablename__ = "kpi_series"

    metric: str = Field(sa_column=Column(String(128), primary_key=True))
    labels: str = Field(sa_column=Column(String(512), primary_key=True))
    value: float = Field(sa_column=Column(Float, nullable=False))


_TABLE = KpiSeries.__table__  # type: ignore[attr-defined]


def severity_label(value: str) -> str:
    """Severity as a bounded label: one of SEVERITIES, or ``other``."""
    cleaned = value.strip().lower() or "none"
    return cleaned if cleaned in SEVERITIES else "other"


def bucket_label(seconds: float) -> str:
    """The ``le`` of the first bucket that holds ``seconds`` (non-cumulative storage)."""
    index = bisect.bisect_left(DURATION_BUCKETS, seconds)
    return le_label(DURATION_BUCKETS[index]) if index < len(DURATION_BUCKETS) else "+Inf"


def le_label(bound: float) -> str:
    """The bucket bound as prometheus-client writes it (``30.0``)."""
    return str(float(bound))


def encode(labels: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"))


@cache
def _upsert(dialect: str) -> Insert:
    """``INSERT … ON CONFLICT DO UPDATE value = value + excluded.value``, built once."""
    statement = dialect_insert(_TABLE, dialect).values(
        metric=bindparam("m"), labels=bindparam("l"), value=bindparam("v")
    )
    return statement.on_conflict_do_update(
        index_elements=["metric", "labels"],
        set_={"value": _TABLE.c.value + statement.excluded.value},
    )


def add(session: Session, metric: str, labels: Mapping[str, str], delta: float = 1.0) -> None:
    """``value += delta`` for one series, creating it if needed (an atomic upsert)."""
    statement = _upsert(session.get_bind().dialect.name)
    session.execute(statement, {"m": metric, "l": encode(labels), "v": delta})


def add_many(connection: Connection, deltas: Mapping[tuple[str, str], float]) -> None:
    """``add`` for many series at once: ``(metric, encoded labels) -> delta``, one executemany."""
    if deltas:
        statement = _upsert(connection.dialect.name)
        rows = [
            {"m": metric, "l": labels, "v": v} for (metric, labels), v in sorted(deltas.items())
        ]
        connection.execute(statement, rows)


def observation(
    metric: str, runbook_class: str, seconds: float
) -> list[tuple[str, dict[str, str], float]]:
    """The three series one histogram observation adds to (negative durations count as 0)."""
    seconds = max(seconds, 0.0)
    return [
        (f"{metric}_bucket", {"class": runbook_class, "le": bucket_label(seconds)}, 1.0),
        (f"{metric}_sum", {"class": runbook_class}, seconds),
        (f"{metric}_count", {"class": runbook_class}, 1.0),
    ]


def observe(session: Session, metric: str, runbook_class: str, seconds: float) -> None:
    """One histogram observation for ``runbook_class``."""
    for series, labels, delta in observation(metric, runbook_class, seconds):
        add(session, series, labels, delta)


def observe_between(
    session: Session, metric: str, runbook_class: str, start: datetime, end: datetime
) -> None:
    observe(session, metric, runbook_class, (end - start).total_seconds())
