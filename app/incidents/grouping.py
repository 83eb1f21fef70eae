"""Alert-driven incident changes: open, group, reopen (flap), recurrence, auto-resolve.

Called by ``alerts.service.ingest`` inside its transaction. Identity is
``(runbook class, groupKey)`` while open, enforced by the unique ``open_key`` column.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, update
from sqlmodel import Session, col, select

from app.alerts.models import Alert, AlertStatus
from app.escalation.hooks import Signal, on_incident_event
from app.incidents.lifecycle import Event, next_step
from app.incidents.models import Incident
from app.incidents.models import IncidentStatus as S
from app.incidents.timeline import Kind, record
from app.metrics import aggregates as kpi

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """A new alert occurrence as grouping sees it."""

    fingerprint: str
    alertname: str
    starts_at: datetime
    ends_at: datetime | None
    firing: bool


@dataclass(frozen=True, slots=True)
class Identity:
    runbook_class: str
    group_key: str

    @property
    def open_key(self) -> str:
        """Digest of the identity: short enough for any unique index."""
        raw = f"{self.runbook_class}\x1f{self.group_key}".encode()
        return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True, slots=True)
class Template:
    """What a new incident is made of: taken from the first alert of the group."""

    title: str
    severity: str
    team: str
    labels: dict[str, str]
    truncated_alerts: int
    alertmanager_url: str = ""


@dataclass(frozen=True, slots=True)
class Windows:
    flap: timedelta
    recurrence: timedelta


# Built once: these run for every new occurrence on the webhook's hot path.
_OPEN = select(Incident).where(col(Incident.open_key) == bindparam("key")).with_for_update()
_LAST_RESOLVED = (
    select(Incident)
    .where(
        col(Incident.runbook_class) == bindparam("cls"),
        col(Incident.group_key) == bindparam("group"),
        col(Incident.resolved_at).is_not(None),
    )
    .order_by(col(Incident.resolved_at).desc(), col(Incident.id).desc())
    .limit(1)
)


def _open_incident(session: Session, identity: Identity) -> Incident | None:
    return session.exec(_OPEN, params={"key": identity.open_key}).first()


def _last_resolved(session: Session, identity: Identity) -> Incident | None:
    params = {"cls": identity.runbook_class, "group": identity.group_key}
    return session.exec(_LAST_RESOLVED, params=params).first()


def _create(
    session: Session,
    *,
    identity: Identity,
    template: Template,
    occurrences: Sequence[Occurrence],
    previous: Incident | None,
    now: datetime,
) -> Incident:
    firing = any(o.firing for o in occurrences)
    incident = Incident(
        runbook_class=identity.runbook_class,
        group_key=identity.group_key,
        open_key=identity.open_key if firing else None,
        title=template.title,
        status=S.TRIGGERED if firing else S.RESOLVED,
        severity=template.severity,
        team=template.team,
        labels=template.labels,
        started_at=min(o.starts_at for o in occurrences),
        created_at=now,
        updated_at=now,
        recurrence_of=previous.id if previous else None,
        truncated_alerts=template.truncated_alerts,
        alertmanager_url=template.alertmanager_url,
    )
    if not firing:
        incident.resolved_at = max((o.ends_at or now) for o in occurrences)
        incident.resolved_by = "alertmanager"
    session.add(incident)
    session.flush()
    assert incident.id is not None
    rule = "OPEN-1" if firing else "OPEN-2"
    _count_opened(session, incident)
    fingerprints = [o.fingerprint for o in occurrences]
    record(
        session,
        incident_id=incident.id,
        kind=Kind.OPENED,
        at=now,
        rule=rule,
        fingerprints=fingerprints,
        recurrence_of=incident.recurrence_of,
    )
    if not firing:
        record(
            session,
            incident_id=incident.id,
            kind=Kind.RESOLVED,
            at=now,
            rule=rule,
            reason="resolved notification arrived before any firing one",
        )
    on_incident_event(
        session, incident=incident, event=Signal.OPENED if firing else Signal.RESOLVED, now=now
    )
    log.info(
        "incident opened",
        extra={
            "incident_id": incident.id,
            "class": identity.runbook_class,
            "rule": rule,
            "group_key": identity.group_key,
            "recurrence_of": incident.recurrence_of,
        },
    )
    return incident


def _count_opened(session: Session, incident: Incident) -> None:
    cls = incident.runbook_class
    kpi.add(
        session, kpi.INCIDENTS, {"class": cls, "severity": kpi.severity_label(incident.severity)}
    )
    if incident.recurrence_of is not None:
        kpi.add(session, kpi.RECURRENCES, {"class": cls})
    if incident.resolved_at is not None:
        kpi.observe_between(session, kpi.RESOLUTION, cls, incident.started_at, incident.resolved_at)


def _reopen(session: Session, incident: Incident, identity: Identity, now: datetime) -> bool:
    """Reopen a resolved incident; False when another writer changed it first."""
    step = next_step(S(incident.status), Event.FIRE)
    result = session.execute(
        update(Incident)
        .where(col(Incident.id) == incident.id, col(Incident.open_key).is_(None))
        .values(
            status=step.status,
            open_key=identity.open_key,
            resolved_at=None,
            resolved_by=None,
            flap_count=Incident.flap_count + 1,
            updated_at=now,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.refresh(incident)
    assert incident.id is not None
    kpi.add(session, kpi.FLAPS, {"class": incident.runbook_class})
    record(
        session,
        incident_id=incident.id,
        kind=Kind.REOPENED,
        at=now,
        rule=step.rule,
        flap_count=incident.flap_count,
    )
    on_incident_event(session, incident=incident, event=Signal.REOPENED, now=now)
    log.info(
        "incident reopened",
        extra={"incident_id": incident.id, "rule": step.rule, "class": identity.runbook_class},
    )
    return True


def place(
    session: Session,
    *,
    identity: Identity,
    template: Template,
    occurrences: Sequence[Occurrence],
    windows: Windows,
    now: datetime,
) -> Incident:
    """Find or make the incident that new occurrences of one identity belong to."""
    current = _open_incident(session, identity)
    if current is not None:
        assert current.id is not None
        step = next_step(S(current.status), Event.FIRE)
        earliest = min(o.starts_at for o in occurrences)
        if earliest < current.started_at:
            current.started_at = earliest
        current.truncated_alerts = max(current.truncated_alerts, template.truncated_alerts)
        current.updated_at = now
        record(
            session,
            incident_id=current.id,
            kind=Kind.ALERTS_ADDED,
            at=now,
            rule=step.rule,
            fingerprints=[o.fingerprint for o in occurrences],
        )
        return current
    previous = _last_resolved(session, identity)
    firing = [o for o in occurrences if o.firing]
    if previous is not None and previous.resolved_at is not None and firing:
        gap = min(o.starts_at for o in firing) - previous.resolved_at
        if gap <= windows.flap and _reopen(session, previous, identity, now):
            return previous
    recurrent = None
    if previous is not None and previous.resolved_at is not None:
        gap = min(o.starts_at for o in occurrences) - previous.resolved_at
        recurrent = previous if gap <= windows.recurrence else None
    return _create(
        session,
        identity=identity,
        template=template,
        occurrences=occurrences,
        previous=recurrent,
        now=now,
    )


def settle(session: Session, *, incident_ids: set[int], now: datetime) -> None:
    """Resolve each open incident whose alerts have all ended (Alertmanager-driven)."""
    for incident_id in sorted(incident_ids):
        incident = session.get(Incident, incident_id, with_for_update=True)
        if incident is None or incident.status == S.RESOLVED:
            continue
        firing, last_end = session.execute(
            select(
                func.count().filter(col(Alert.status) == AlertStatus.FIRING),
                func.max(Alert.ends_at),
            ).where(Alert.incident_id == incident_id)
        ).one()
        if firing:
            continue
        step = next_step(S(incident.status), Event.ALERTS_RESOLVED)
        incident.status = step.status
        incident.open_key = None
        incident.resolved_at = last_end or now
        incident.resolved_by = "alertmanager"
        incident.updated_at = now
        kpi.observe_between(
            session,
            kpi.RESOLUTION,
            incident.runbook_class,
            incident.started_at,
            incident.resolved_at,
        )
        record(
            session,
            incident_id=incident_id,
            kind=Kind.RESOLVED,
            at=now,
            rule=step.rule,
            reason="all alerts resolved",
        )
        on_incident_event(session, incident=incident, event=Signal.RESOLVED, now=now)
        log.info(
            "incident resolved",
            extra={"incident_id": incident_id, "rule": step.rule, "reason": "all alerts resolved"},
        )
