"""Alert-driven incident changes: open, group, reopen (flap), recurrence, auto-resolve.

Called by ``alerts.service`` for each payload of a batch, against the batch's ``Unit``. Where
new occurrences go is decided by ``placement`` (pure); this module applies the decision.
Identity is ``(runbook class, groupKey)`` while open, enforced by the unique ``open_key``
column.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.escalation.models import Signal
from app.incidents.lifecycle import Event, next_step
from app.incidents.models import IncidentStatus as S
from app.incidents.placement import (
    Existing,
    Join,
    Occurrence,
    Open,
    Reopen,
    Windows,
    placement,
)
from app.incidents.timeline import Kind
from app.incidents.unit import Identity, IncidentState, Unit
from app.metrics import aggregates as kpi

__all__ = ["Identity", "Occurrence", "Template", "Windows", "place", "settle"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Template:
    """What a new incident is made of: taken from the first alert of the group."""

    title: str
    severity: str
    team: str
    labels: dict[str, str]
    truncated_alerts: int
    alertmanager_url: str = ""


def _create(
    unit: Unit,
    *,
    identity: Identity,
    template: Template,
    occurrences: Sequence[Occurrence],
    opened: Open,
    now: datetime,
) -> IncidentState:
    firing = opened.firing
    incident = unit.create(
        {
            "runbook_class": identity.runbook_class,
            "group_key": identity.group_key,
            "open_key": identity.open_key if firing else None,
            "title": template.title,
            "status": S.TRIGGERED.value if firing else S.RESOLVED.value,
            "severity": template.severity,
            "team": template.team,
            "labels": template.labels,
            "started_at": min(o.starts_at for o in occurrences),
            "created_at": now,
            "updated_at": now,
            "resolved_at": opened.resolved_at,
            "resolved_by": None if firing else "alertmanager",
            "recurrence_of": opened.recurrence_of,
            "truncated_alerts": template.truncated_alerts,
            "alertmanager_url": template.alertmanager_url,
            "flap_count": 0,
        }
    )
    rule = opened.rule
    _count_opened(unit, incident, template.severity)
    unit.record(
        incident.id,
        Kind.OPENED,
        now,
        rule,
        fingerprints=[o.fingerprint for o in occurrences],
        recurrence_of=incident.recurrence_of,
    )
    if not firing:
        unit.record(
            incident.id,
            Kind.RESOLVED,
            now,
            rule,
            reason="resolved notification arrived before any firing one",
        )
    unit.signal(incident, Signal.OPENED if firing else Signal.RESOLVED, now)
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


def _count_opened(unit: Unit, incident: IncidentState, severity: str) -> None:
    cls = incident.runbook_class
    unit.count(kpi.INCIDENTS, {"class": cls, "severity": kpi.severity_label(severity)})
    if incident.recurrence_of is not None:
        unit.count(kpi.RECURRENCES, {"class": cls})
    if incident.resolved_at is not None:
        seconds = (incident.resolved_at - incident.started_at).total_seconds()
        unit.observe(kpi.RESOLUTION, cls, seconds)


def _reopen(unit: Unit, incident: IncidentState, reopen: Reopen, now: datetime) -> bool:
    """Reopen a resolved incident; False when another writer changed it first."""
    if not unit.reopen(incident, reopen.status.value, now):
        return False
    unit.count(kpi.FLAPS, {"class": incident.runbook_class})
    unit.record(incident.id, Kind.REOPENED, now, reopen.rule, flap_count=incident.flap_count)
    unit.signal(incident, Signal.REOPENED, now)
    log.info(
        "incident reopened",
        extra={"incident_id": incident.id, "rule": reopen.rule, "class": incident.runbook_class},
    )
    return True


def _join(
    unit: Unit,
    current: IncidentState,
    join: Join,
    template: Template,
    occurrences: Sequence[Occurrence],
    now: datetime,
) -> IncidentState:
    current.started_at = min(current.started_at, *(o.starts_at for o in occurrences))
    current.truncated_alerts = max(current.truncated_alerts, template.truncated_alerts)
    current.updated_at = now
    unit.changed(current)
    unit.record(
        current.id,
        Kind.ALERTS_ADDED,
        now,
        join.rule,
        fingerprints=[o.fingerprint for o in occurrences],
    )
    return current


def _existing(incident: IncidentState | None) -> Existing | None:
    if incident is None:
        return None
    return Existing(incident.id, S(incident.status), incident.resolved_at)


def place(
    unit: Unit,
    *,
    identity: Identity,
    template: Template,
    occurrences: Sequence[Occurrence],
    windows: Windows,
    now: datetime,
) -> IncidentState:
    """Find or make the incident that new occurrences of one identity belong to."""
    current = unit.open_incident(identity)
    previous = unit.last_resolved(identity) if current is None else None
    decision = placement(
        current=_existing(current),
        previous=_existing(previous),
        occurrences=occurrences,
        windows=windows,
        now=now,
    )
    if isinstance(decision, Join):
        assert current is not None
        return _join(unit, current, decision, template, occurrences, now)
    if isinstance(decision, Reopen):
        assert previous is not None
        if _reopen(unit, previous, decision, now):
            return previous
        decision = decision.otherwise
    return _create(
        unit,
        identity=identity,
        template=template,
        occurrences=occurrences,
        opened=decision,
        now=now,
    )


def settle(unit: Unit, *, incident_ids: set[int], now: datetime) -> None:
    """Resolve each open incident whose alerts have all ended (Alertmanager-driven)."""
    candidates = []
    for incident_id in sorted(incident_ids):
        incident = unit.incident(incident_id)
        if incident is not None and incident.status != S.RESOLVED:
            candidates.append(incident)
    if not candidates:
        return
    counts = unit.firing_and_last_end([i.id for i in candidates])
    for incident in candidates:
        firing, last_end = counts.get(incident.id, (0, None))
        if firing:
            continue
        step = next_step(S(incident.status), Event.ALERTS_RESOLVED)
        unit.resolve(incident, step.status.value, last_end or now, now)
        assert incident.resolved_at is not None
        seconds = (incident.resolved_at - incident.started_at).total_seconds()
        unit.observe(kpi.RESOLUTION, incident.runbook_class, seconds)
        unit.record(incident.id, Kind.RESOLVED, now, step.rule, reason="all alerts resolved")
        unit.signal(incident, Signal.RESOLVED, now)
        log.info(
            "incident resolved",
            extra={"incident_id": incident.id, "rule": step.rule, "reason": "all alerts resolved"},
        )
