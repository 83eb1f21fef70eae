"""The worker's database side: turn queued incident changes and due escalation levels into
outbox rows, timeline events, KPI updates and post-mortem drafts, one transaction per batch.

Rows are claimed with ``FOR UPDATE SKIP LOCKED``, so replicas share the work and never do
the same row twice; the effects commit together with the claim (an event row is deleted, an
escalation's ``sent`` count moves on), so a crash repeats nothing and loses nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from app.classification.catalog import Catalog
from app.config import AppConfig
from app.durations import format_duration
from app.escalation import outbox, policy
from app.escalation.config import NotifyEvent, Policy
from app.escalation.messages import IncidentView, Kind, Message, compose
from app.escalation.models import Escalation, EscalationEvent, Signal
from app.incidents.models import Incident, IncidentStatus
from app.incidents.schemas import IncidentOut
from app.incidents.timeline import Kind as TimelineKind
from app.incidents.timeline import record
from app.metrics import aggregates as kpi
from app.postmortems import service as postmortems
from app.runbooks.renderer import Renderer
from app.urls import incident_url

log = logging.getLogger(__name__)

ACTOR = "runbook-router"
_EVENTS: Mapping[Signal, tuple[Kind, NotifyEvent]] = {
    Signal.OPENED: (Kind.OPEN, NotifyEvent.OPEN),
    Signal.REOPENED: (Kind.OPEN, NotifyEvent.OPEN),
    Signal.ACKNOWLEDGED: (Kind.ACK, NotifyEvent.ACK),
    Signal.RESOLVED: (Kind.RESOLVE, NotifyEvent.RESOLVE),
}


@dataclass(frozen=True, slots=True)
class Context:
    """What the worker decides with: policies, channels, runbooks, the public URL."""

    config: AppConfig
    catalog: Catalog
    disabled: Mapping[str, str]  # channel -> why it cannot send
    renderer: Renderer
    public_url: str

    def policy_for(self, runbook_class: str) -> Policy | None:
        runbook = self.catalog.runbooks.get(runbook_class)
        return self.config.escalation.get(runbook.meta.escalation if runbook else "default")

    def view(self, incident: Incident) -> IncidentView:
        assert incident.id is not None
        out = IncidentOut.of(incident, public_url=self.public_url)
        return IncidentView(
            id=incident.id,
            title=incident.title,
            status=incident.status,
            severity=incident.severity,
            team=incident.team,
            runbook_class=incident.runbook_class,
            started_at=incident.started_at,
            acknowledged_at=incident.acknowledged_at,
            acknowledged_by=incident.acknowledged_by,
            resolved_at=incident.resolved_at,
            resolved_by=incident.resolved_by,
            url=incident_url(self.public_url, incident.id),
            runbook_url=out.runbook_url,
        )


def _incidents(session: Session, ids: set[int]) -> dict[int, Incident]:
    """A batch's incidents in one query (not one ``session.get`` each)."""
    query = select(Incident).where(col(Incident.id).in_(sorted(ids)))
    with session.no_autoflush:
        return {i.id: i for i in session.exec(query) if i.id is not None}


def _clocks(session: Session, ids: set[int]) -> dict[int, Escalation]:
    query = select(Escalation).where(col(Escalation.incident_id).in_(sorted(ids)))
    with session.no_autoflush:
        return {e.incident_id: e for e in session.exec(query)}


def _queue(
    session: Session,
    ctx: Context,
    *,
    incident_id: int,
    channels: list[str],
    message: Message,
    now: datetime,
    skipped: Counter[str],
) -> dict[str, str]:
    """Queue ``message`` for each channel; return the disabled ones (kept as skipped) and why,
    counting them in ``skipped`` (the caller adds them to the metric once committed)."""
    missed = {}
    for channel in channels:
        reason = ctx.disabled.get(channel)
        outbox.enqueue(
            session,
            incident_id=incident_id,
            channel=channel,
            message=message,
            now=now,
            disabled=reason,
        )
        if reason is not None:
            missed[channel] = reason.removeprefix("disabled: ")
            skipped[channel] += 1
    return missed


def route_events(
    session: Session,
    ctx: Context,
    *,
    now: datetime,
    limit: int,
    skipped: Counter[str],
    only: int | None = None,
) -> tuple[int, int]:
    """Handle up to ``limit`` queued incident changes (or the one with id ``only``);
    return (claimed, handled)."""
    query = (
        select(EscalationEvent)
        .order_by(col(EscalationEvent.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if only is not None:
        query = query.where(col(EscalationEvent.id) == only)
    events = session.exec(query).all()
    ids = {e.incident_id for e in events}
    incidents, clocks = _incidents(session, ids), _clocks(session, ids)
    for event in events:
        incident = incidents.get(event.incident_id)
        if incident is not None:
            _route(session, ctx, event, incident, clocks.get(event.incident_id), now, skipped)
        session.delete(event)
    return len(events), len(events)


def _route(
    session: Session,
    ctx: Context,
    event: EscalationEvent,
    incident: Incident,
    row: Escalation | None,
    now: datetime,
    skipped: Counter[str],
) -> None:
    assert incident.id is not None
    signal = Signal(event.event)
    if signal is Signal.RESOLVED:
        _draft_postmortem(session, ctx, incident, event.at)
    found = ctx.policy_for(incident.runbook_class)
    if found is None:
        return
    kind, notify_event = _EVENTS[signal]
    if notify_event is NotifyEvent.OPEN:
        paging = row is not None and row.started_at == event.at and (row.next_at or row.sent)
        channels = policy.recipients(found, notify_event, paging_at_open=bool(paging))
    else:
        paged = outbox.paged_channels(session, incident_id=incident.id)
        channels = policy.recipients(found, notify_event, paged=paged)
    message = compose(
        kind, ctx.view(incident), reopened=signal is Signal.REOPENED, actor=event.actor
    )
    _queue(
        session,
        ctx,
        incident_id=incident.id,
        channels=list(channels),
        message=message,
        now=now,
        skipped=skipped,
    )


def _draft_postmortem(session: Session, ctx: Context, incident: Incident, at: datetime) -> None:
    runbook = ctx.catalog.runbooks.get(incident.runbook_class)
    override = runbook.meta.postmortem.required_for if runbook else None
    postmortems.draft_on_resolve(
        session,
        incident=incident,
        required_for=override if override is not None else ctx.config.postmortems.required_for,
        checklist=runbook.meta.checklist if runbook else [],
        renderer=ctx.renderer,
        timezone=ctx.config.timezone,
        now=at,
    )


def escalate_due(
    session: Session,
    ctx: Context,
    *,
    now: datetime,
    limit: int,
    skipped: Counter[str],
    only: int | None = None,
) -> tuple[int, int]:
    """Send every due level of up to ``limit`` escalations (or incident ``only``'s);
    return (claimed, levels sent)."""
    query = (
        select(Escalation)
        .where(col(Escalation.next_at) <= now)
        .order_by(col(Escalation.next_at), col(Escalation.incident_id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if only is not None:
        query = query.where(col(Escalation.incident_id) == only)
    counts: Counter[tuple[str, str]] = Counter()
    rows = session.exec(query).all()
    incidents = _incidents(session, {r.incident_id for r in rows})
    with session.no_autoflush:  # the rows' changes go out in one flush at commit
        for row in rows:
            incident = incidents.get(row.incident_id)
            found = ctx.policy_for(incident.runbook_class) if incident else None
            row.updated_at = now
            if incident is None or found is None or incident.status != IncidentStatus.TRIGGERED:
                row.next_at = None
                row.stopped = "no_policy" if incident and not found else "stale"
                continue
            levels = policy.due(found, started_at=row.started_at, sent=row.sent, now=now)
            for level in levels:
                _send_level(session, ctx, incident, level, (row.started_at, now), skipped)
                counts[(incident.runbook_class, str(level.level))] += 1
            row.sent += len(levels)
            row.next_at = policy.next_at(found, started_at=row.started_at, sent=row.sent)
            row.stopped = "" if row.next_at else "completed"
    for (runbook_class, level_label), n in sorted(counts.items()):
        kpi.add(session, kpi.ESCALATIONS, {"class": runbook_class, "level": level_label}, n)
    return len(rows), sum(counts.values())


def _send_level(
    session: Session,
    ctx: Context,
    incident: Incident,
    level: policy.Level,
    times: tuple[datetime, datetime],  # (escalation started, now)
    skipped: Counter[str],
) -> None:
    assert incident.id is not None
    started_at, now = times
    # Each reopen restarts escalation, so a flapped incident's current run began at a reopen.
    reopened = incident.flap_count > 0
    message = compose(Kind.ESCALATION, ctx.view(incident), level=level, reopened=reopened)
    missed = _queue(
        session,
        ctx,
        incident_id=incident.id,
        channels=list(level.channels),
        message=message,
        now=now,
        skipped=skipped,
    )
    record(
        session,
        incident_id=incident.id,
        kind=TimelineKind.ESCALATED,
        at=now,
        actor=ACTOR,
        rule=level.rule,
        level=level.level,
        cycle=level.cycle,
        final=level.final,
        channels=list(level.channels),
        skipped=missed,  # channel -> why it was not notified
        after=format_duration(level.offset),
        due_at=(started_at + level.offset).isoformat(),
    )
    log.info(
        "incident escalated",
        extra={
            "incident_id": incident.id,
            "class": incident.runbook_class,
            "level": level.level,
            "cycle": level.cycle,
            "rule": level.rule,
            "channels": list(level.channels),
            "skipped": missed,
        },
    )
