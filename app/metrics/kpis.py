"""KPI report for a time window: MTTA, MTTR, recurrence, flaps, time to first view, coverage.

Computed from incidents that started in the window (and alerts received in it), so the
cost follows the window, not the whole history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from statistics import median, quantiles

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.alerts.models import Alert
from app.classification.catalog import GENERIC
from app.durations import format_duration, parse_duration
from app.incidents.models import Incident

FIRST_VIEW_TARGET = timedelta(minutes=15)
TOP_ALERTNAMES = 10
MAX_WINDOW = timedelta(days=3650)


def parse_window(text: str) -> timedelta:
    """A KPI window such as ``30d``: longer than zero, at most ten years (ValueError else)."""
    window = parse_duration(text)
    if not timedelta(0) < window <= MAX_WINDOW:
        raise ValueError(f"{text!r} is not between 1s and {format_duration(MAX_WINDOW)}")
    return window


class Durations(BaseModel):
    count: int
    median_seconds: float | None
    p90_seconds: float | None


class ClassKpis(BaseModel):
    runbook_class: str
    incidents: int
    open: int
    mtta: Durations
    mttr: Durations
    recurrences: int
    recurrence_rate: float | None
    flaps: int
    first_view: Durations
    first_view_within_target: float | None


class AlertnameCoverage(BaseModel):
    alertname: str
    alerts: int
    covered: bool
    runbook_class: str


class Coverage(BaseModel):
    top: int
    covered_share: float | None
    alertnames: list[AlertnameCoverage]
    uncovered: list[str]


class KpiReport(BaseModel):
    window_seconds: float
    since: datetime
    until: datetime
    first_view_target_seconds: float
    classes: list[ClassKpis]
    coverage: Coverage


def summarize(values: Sequence[float]) -> Durations:
    """Count, median and 90th percentile (inclusive method) of durations in seconds."""
    if not values:
        return Durations(count=0, median_seconds=None, p90_seconds=None)
    ordered = sorted(values)
    p90 = ordered[0] if len(ordered) == 1 else quantiles(ordered, n=10, method="inclusive")[-1]
    return Durations(count=len(ordered), median_seconds=median(ordered), p90_seconds=p90)


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else max((end - start).total_seconds(), 0.0)


def _class_kpis(name: str, incidents: Sequence[Incident]) -> ClassKpis:
    def durations(attr: str) -> list[float]:
        values = (_seconds(i.started_at, getattr(i, attr)) for i in incidents)
        return [v for v in values if v is not None]

    views = durations("first_viewed_at")
    recurrences = sum(1 for i in incidents if i.recurrence_of is not None)
    target = FIRST_VIEW_TARGET.total_seconds()
    return ClassKpis(
        runbook_class=name,
        incidents=len(incidents),
        open=sum(1 for i in incidents if i.resolved_at is None),
        mtta=summarize(durations("acknowledged_at")),
        mttr=summarize(durations("resolved_at")),
        recurrences=recurrences,
        recurrence_rate=recurrences / len(incidents) if incidents else None,
        flaps=sum(i.flap_count for i in incidents),
        first_view=summarize(views),
        first_view_within_target=(
            sum(1 for v in views if v <= target) / len(views) if views else None
        ),
    )


def _coverage(session: Session, since: datetime) -> Coverage:
    rows = session.execute(
        select(col(Alert.alertname), col(Alert.runbook_class), func.count())
        .where(col(Alert.received_at) >= since)
        .group_by(col(Alert.alertname), col(Alert.runbook_class))
    ).all()
    counts: dict[str, int] = defaultdict(int)
    classes: dict[str, str] = {}
    for alertname, runbook_class, count in rows:
        counts[alertname] += int(count)
        if runbook_class != GENERIC or alertname not in classes:
            classes[alertname] = runbook_class
    top = sorted(counts, key=lambda n: (-counts[n], n))[:TOP_ALERTNAMES]
    items = [
        AlertnameCoverage(
            alertname=n, alerts=counts[n], covered=classes[n] != GENERIC, runbook_class=classes[n]
        )
        for n in top
    ]
    covered = sum(1 for i in items if i.covered)
    return Coverage(
        top=TOP_ALERTNAMES,
        covered_share=covered / len(items) if items else None,
        alertnames=items,
        uncovered=[i.alertname for i in items if not i.covered],
    )


def report(
    session: Session, *, classes: Sequence[str], window: timedelta, now: datetime
) -> KpiReport:
    """KPIs per class for incidents that started within ``window`` before ``now``."""
    since = now - window
    incidents = session.exec(select(Incident).where(col(Incident.started_at) >= since)).all()
    by_class: dict[str, list[Incident]] = defaultdict(list)
    for incident in incidents:
        by_class[incident.runbook_class].append(incident)
    names = sorted(set(classes) | set(by_class))
    return KpiReport(
        window_seconds=window.total_seconds(),
        since=since,
        until=now,
        first_view_target_seconds=FIRST_VIEW_TARGET.total_seconds(),
        classes=[_class_kpis(n, by_class[n]) for n in names],
        coverage=_coverage(session, since),
    )
