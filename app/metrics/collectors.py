"""The KPI collector: database-backed series, identical on every replica.

A scrape reads the pre-aggregated ``kpi_series`` rows and counts open incidents by status
(an index range over open incidents only), so its cost does not grow with history. Every
class in the catalog is present from the first scrape, at zero.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from app.db import Database
from app.incidents.models import Incident, IncidentStatus
from app.metrics import aggregates as kpi
from app.postmortems.models import PENDING, ActionItem, ActionStatus, Postmortem

log = logging.getLogger(__name__)

Rows = dict[str, dict[str, float]]  # metric -> encoded labels -> value
Pending = tuple[dict[str, int], dict[tuple[str, str], int]]  # post-mortems, action items

_COUNTERS = (
    (kpi.INCIDENTS, "Incidents opened, by class and severity.", ("class", "severity")),
    (kpi.RECURRENCES, "Incidents that recurred within the recurrence window.", ("class",)),
    (kpi.FLAPS, "Incidents reopened within the flap window.", ("class",)),
    (kpi.CLASSIFIED, "Alert occurrences by runbook class (generic = no runbook).", ("class",)),
    (kpi.ESCALATIONS, "Escalation steps sent, by class and level.", ("class", "level")),
)
_HISTOGRAMS = (
    (kpi.ACKNOWLEDGE, "Time from start to first acknowledgement (MTTA)."),
    (kpi.RESOLUTION, "Time from start to resolution (MTTR)."),
    (kpi.FIRST_VIEW, "Time from start to the first runbook view (time to diagnose)."),
)


class KpiCollector(Collector):
    """A prometheus-client collector over the database (registered per app)."""

    def __init__(
        self,
        db: Database,
        classes: Sequence[str],
        severities: dict[str, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._families = KpiFamilies(classes, severities)
        self._clock = clock

    def _read(self) -> tuple[Rows, list[tuple[str, str, int]]]:
        rows: Rows = defaultdict(dict)
        with self._db.engine.connect() as conn:
            table = kpi.KpiSeries.__table__  # type: ignore[attr-defined]
            series = conn.execute(select(table.c.metric, table.c.labels, table.c.value))
            for metric, labels, value in series:
                rows[metric][labels] = value
            open_counts = conn.execute(
                select(col(Incident.runbook_class), col(Incident.status), func.count())
                .where(
                    col(Incident.status).in_(
                        [IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED]
                    )
                )
                .group_by(col(Incident.runbook_class), col(Incident.status))
            ).all()
        return rows, [(c, s, int(n)) for c, s, n in open_counts]

    def collect(self) -> Iterator[Metric]:
        try:
            rows, open_counts = self._read()
            pending = self._read_pending(self._clock().date())
        except SQLAlchemyError as err:
            log.warning("KPI series unavailable: database error", extra={"error": str(err)})
            return
        yield from self._families.build(rows, open_counts, pending)

    def describe(self) -> Iterator[Metric]:
        """Names and types without reading the database (the registry calls it on register)."""
        return self._families.empty()

    def _read_pending(self, today: date) -> Pending:
        """Post-mortems not yet published, open action items (index ranges on ``status``)."""
        overdue = col(ActionItem.due_date) < today
        with self._db.engine.connect() as conn:
            postmortems = conn.execute(
                select(col(Postmortem.runbook_class), func.count())
                .where(col(Postmortem.status).in_(PENDING))
                .group_by(col(Postmortem.runbook_class))
            ).all()
            items = conn.execute(
                select(col(ActionItem.runbook_class), overdue, func.count())
                .where(col(ActionItem.status) == ActionStatus.OPEN)
                .group_by(col(ActionItem.runbook_class), overdue)
            ).all()
        return (
            {c: int(n) for c, n in postmortems},
            {(c, "true" if late else "false"): int(n) for c, late, n in items},
        )


class KpiFamilies:
    """The KPI metric families for the catalog's classes (each class present at zero)."""

    def __init__(self, classes: Sequence[str], severities: dict[str, str] | None = None) -> None:
        self._classes = list(classes)
        self._severities = severities or {}

    def build(
        self, rows: Rows, open_counts: list[tuple[str, str, int]], pending: Pending
    ) -> Iterator[Metric]:
        yield from self._counters(rows)
        yield from self._histograms(rows)
        yield self._open(open_counts)
        yield from self._pending_work(pending)

    def empty(self) -> Iterator[Metric]:
        """Every family with no data: what ``/metrics`` exports, by name and type."""
        return self.build({}, [], ({}, {}))

    def _counters(self, rows: Rows) -> Iterator[Metric]:
        for name, doc, label_names in _COUNTERS:
            family = CounterMetricFamily(name.removesuffix("_total"), doc, labels=label_names)
            values = dict(self._zeros(name))
            for encoded, value in rows.get(name, {}).items():
                values[encoded] = value
            for encoded, value in sorted(values.items()):
                labels = json.loads(encoded)
                family.add_metric([labels.get(n, "") for n in label_names], value)
            yield family

    def _zeros(self, name: str) -> Iterable[tuple[str, float]]:
        for cls in self._classes:
            if name == kpi.INCIDENTS:
                severity = kpi.severity_label(self._severities.get(cls, ""))
                yield kpi.encode({"class": cls, "severity": severity}), 0.0
            elif name == kpi.ESCALATIONS:
                yield kpi.encode({"class": cls, "level": "1"}), 0.0
            else:
                yield kpi.encode({"class": cls}), 0.0

    def _histograms(self, rows: Rows) -> Iterator[Metric]:
        for name, doc in _HISTOGRAMS:
            family = HistogramMetricFamily(name, doc, labels=["class"])
            buckets = rows.get(f"{name}_bucket", {})
            sums = rows.get(f"{name}_sum", {})
            per_class: dict[str, dict[str, float]] = defaultdict(dict)
            for encoded, value in buckets.items():
                labels = json.loads(encoded)
                per_class[labels["class"]][labels["le"]] = value
            for cls in sorted(set(self._classes) | set(per_class)):
                running, cumulative = 0.0, []
                for bound in [*map(kpi.le_label, kpi.DURATION_BUCKETS), "+Inf"]:
                    running += per_class[cls].get(bound, 0.0)
                    cumulative.append((bound, running))
                key = kpi.encode({"class": cls})
                family.add_metric([cls], cumulative, sum_value=sums.get(key, 0.0))
            yield family

    def _open(self, open_counts: list[tuple[str, str, int]]) -> Metric:
        family = GaugeMetricFamily(
            "runbook_incidents_open",
            "Open incidents by class and state.",
            labels=["class", "status"],
        )
        values: dict[tuple[str, str], int] = {
            (cls, status.value): 0
            for cls in self._classes
            for status in (IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED)
        }
        for cls, status, count in open_counts:
            values[(cls, status)] = count
        for (cls, status), count in sorted(values.items()):
            family.add_metric([cls, status], count)
        return family

    def _pending_work(self, pending: Pending) -> Iterator[Metric]:
        """Post-mortems pending by class; open action items by class and overdue."""
        postmortems, items = pending
        gauge = GaugeMetricFamily(
            "runbook_postmortems_pending",
            "Post-mortems required and not yet published.",
            labels=["class"],
        )
        actions = GaugeMetricFamily(
            "runbook_action_items_open",
            "Open post-mortem action items.",
            labels=["class", "overdue"],
        )
        for cls in sorted(set(self._classes) | set(postmortems)):
            gauge.add_metric([cls], postmortems.get(cls, 0))
        keys = {(c, o) for c in self._classes for o in ("false", "true")} | set(items)
        for cls, overdue in sorted(keys):
            actions.add_metric([cls, overdue], items.get((cls, overdue), 0))
        yield gauge
        yield actions
