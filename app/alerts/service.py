"""Ingest: store every alert occurrence exactly once and move incidents accordingly.

Idempotent on ``(fingerprint, starts_at)``. A payload whose alerts are all already stored
in the same state is answered from one read without taking the writer lock; otherwise one
transaction stores the new occurrences, the resolutions, the incident changes and their
timeline events. Concurrent identical deliveries are made safe by unique constraints
(alerts and open incidents), and a conflicting transaction is retried from the start. Each
conflict means another delivery committed those rows, which the next attempt sees; overlapping
notifications of one growing group sent at once to several replicas (an HA pair, retries) can
need several attempts, so the bound is generous (a 503 here would be a spurious fault).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.alerts.models import Alert, AlertStatus
from app.alerts.repeats import SeenOccurrences
from app.alerts.schemas import WebhookPayload, WireAlert
from app.classification.catalog import Catalog
from app.classification.classifier import Decision, classify
from app.db import Database
from app.incidents import grouping
from app.incidents.grouping import Identity, Occurrence, Template, Windows
from app.metrics import aggregates as kpi

log = logging.getLogger(__name__)

_TABLE = Alert.__table__  # type: ignore[attr-defined]
_ATTEMPTS = 8  # 3 gave 503s to ~7% of 15 concurrent growing notifications on 2 replicas
_EXISTING = select(
    _TABLE.c.id, _TABLE.c.incident_id, _TABLE.c.fingerprint, _TABLE.c.starts_at, _TABLE.c.status
).where(_TABLE.c.fingerprint.in_(bindparam("fingerprints", expanding=True)))


@dataclass(slots=True)
class IngestResult:
    alerts: int = 0
    new: int = 0
    duplicates: int = 0
    resolved: int = 0
    incident_ids: list[int] = field(default_factory=list)

    def as_response(self) -> dict[str, object]:
        return {
            "alerts": self.alerts,
            "new": self.new,
            "duplicates": self.duplicates,
            "resolved": self.resolved,
            "incidents": self.incident_ids,
        }


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one payload changes: new occurrences by identity, resolutions by id."""

    new: dict[Identity, list[tuple[WireAlert, Decision]]]
    resolutions: list[tuple[Row[tuple[int, int | None]], WireAlert]]
    unchanged_incidents: set[int]
    duplicates: int


def _unique(alerts: Sequence[WireAlert]) -> list[WireAlert]:
    """One alert per occurrence; if a payload repeats one, its resolved state wins."""
    chosen: dict[tuple[str, datetime], WireAlert] = {}
    for alert in alerts:
        key = (alert.fingerprint, alert.starts_at)
        if key not in chosen or alert.status == AlertStatus.RESOLVED:
            chosen[key] = alert
    return list(chosen.values())


def _existing(session: Session, alerts: Sequence[WireAlert]) -> dict[tuple[str, datetime], Row]:  # type: ignore[type-arg]
    """Stored occurrences among ``alerts``, by (fingerprint, starts_at).

    Filtered on ``fingerprint IN (...)``, the leading column of the unique index (SQLite plans
    a row-value ``IN`` as a full index scan), then on ``starts_at`` here.
    """
    wanted = {(a.fingerprint, a.starts_at) for a in alerts}
    fingerprints = sorted({fingerprint for fingerprint, _ in wanted})
    rows = session.execute(_EXISTING, {"fingerprints": fingerprints}).all()
    return {(r.fingerprint, r.starts_at): r for r in rows if (r.fingerprint, r.starts_at) in wanted}


def _unchanged(session: Session, alerts: Sequence[WireAlert]) -> list[int] | None:
    """The incident ids if every alert is stored already in this state, else None."""
    existing = _existing(session, alerts)
    incidents: set[int] = set()
    for alert in alerts:
        row = existing.get((alert.fingerprint, alert.starts_at))
        if row is None or (
            row.status == AlertStatus.FIRING and alert.status == AlertStatus.RESOLVED
        ):
            return None
        if row.incident_id is not None:
            incidents.add(row.incident_id)
    return sorted(incidents)


def _plan(
    session: Session, payload: WebhookPayload, alerts: list[WireAlert], catalog: Catalog
) -> _Plan:
    existing = _existing(session, alerts)
    new: dict[Identity, list[tuple[WireAlert, Decision]]] = defaultdict(list)
    resolutions = []
    unchanged: set[int] = set()
    duplicates = 0
    for alert in alerts:
        row = existing.get((alert.fingerprint, alert.starts_at))
        if row is None:
            decision = classify(catalog, alert.labels, alert.annotations)
            new[Identity(decision.runbook_class, payload.group_key)].append((alert, decision))
        elif row.status == AlertStatus.FIRING and alert.status == AlertStatus.RESOLVED:
            resolutions.append((row, alert))
        else:
            duplicates += 1
            if row.incident_id is not None:
                unchanged.add(row.incident_id)
    return _Plan(dict(new), resolutions, unchanged, duplicates)


def _template(
    payload: WebhookPayload, catalog: Catalog, identity: Identity, first: WireAlert
) -> Template:
    meta = catalog.runbooks[identity.runbook_class].meta
    title = first.annotations.get("summary") or first.labels.get("alertname") or meta.title
    return Template(
        title=title[:512],
        severity=first.labels.get("severity", meta.severity),
        team=meta.team or first.labels.get("team", ""),
        labels=dict(payload.common_labels or first.labels),
        truncated_alerts=payload.truncated_alerts,
        alertmanager_url=payload.external_url[:1024],
    )


def _log_decision(alert: WireAlert, decision: Decision) -> None:
    log.info(
        "alert classified",
        extra={
            "fingerprint": alert.fingerprint,
            "alertname": alert.labels.get("alertname", ""),
            "class": decision.runbook_class,
            "reason": decision.reason.value,
            "matcher": decision.matcher,
        },
    )


def _store_new(
    session: Session,
    *,
    payload: WebhookPayload,
    plan: _Plan,
    catalog: Catalog,
    windows: Windows,
    now: datetime,
    result: IngestResult,
) -> tuple[set[int], set[int]]:
    """Store new occurrences; return the incidents touched and those that may now settle."""
    touched: set[int] = set()
    settle: set[int] = set()
    for identity, items in plan.new.items():
        occurrences = [
            Occurrence(
                a.fingerprint,
                a.labels.get("alertname", ""),
                a.starts_at,
                a.ends_at,
                a.status == AlertStatus.FIRING,
            )
            for a, _ in items
        ]
        incident = grouping.place(
            session,
            identity=identity,
            template=_template(payload, catalog, identity, items[0][0]),
            occurrences=occurrences,
            windows=windows,
            now=now,
        )
        assert incident.id is not None
        rows = [
            {
                "fingerprint": a.fingerprint,
                "starts_at": a.starts_at,
                "ends_at": a.ends_at,
                "status": a.status,
                "alertname": a.labels.get("alertname", "")[:256],
                "runbook_class": d.runbook_class,
                "labels": a.labels,
                "annotations": a.annotations,
                "generator_url": a.generator_url[:2048],
                "incident_id": incident.id,
                "received_at": now,
                "updated_at": now,
            }
            for a, d in items
        ]
        session.execute(_TABLE.insert(), rows)
        kpi.add(session, kpi.CLASSIFIED, {"class": identity.runbook_class}, len(items))
        for alert, decision in items:
            _log_decision(alert, decision)
        result.new += len(items)
        touched.add(incident.id)
        if incident.open_key is not None and any(not o.firing for o in occurrences):
            settle.add(incident.id)  # an ended occurrence joined an open incident
    return touched, settle


def _store_resolutions(session: Session, plan: _Plan, now: datetime) -> set[int]:
    if not plan.resolutions:
        return set()
    session.execute(
        update(_TABLE)
        .where(_TABLE.c.id == bindparam("row_id"))
        .values(status=AlertStatus.RESOLVED, ends_at=bindparam("end"), updated_at=now),
        [{"row_id": row.id, "end": alert.ends_at or now} for row, alert in plan.resolutions],
    )
    return {row.incident_id for row, _ in plan.resolutions if row.incident_id is not None}


def _apply(
    session: Session,
    *,
    payload: WebhookPayload,
    alerts: list[WireAlert],
    catalog: Catalog,
    windows: Windows,
    now: datetime,
) -> IngestResult:
    plan = _plan(session, payload, alerts, catalog)
    result = IngestResult(alerts=len(payload.alerts), duplicates=plan.duplicates)
    result.duplicates += len(payload.alerts) - len(alerts)
    touched, settle = _store_new(
        session,
        payload=payload,
        plan=plan,
        catalog=catalog,
        windows=windows,
        now=now,
        result=result,
    )
    resolved = _store_resolutions(session, plan, now)
    result.resolved = len(plan.resolutions)
    session.flush()
    grouping.settle(session, incident_ids=resolved | settle, now=now)
    result.incident_ids = sorted(touched | resolved | plan.unchanged_incidents)
    return result


def ingest(
    *,
    db: Database,
    catalog: Catalog,
    windows: Windows,
    payload: WebhookPayload,
    now: datetime,
    seen: SeenOccurrences | None = None,
) -> IngestResult:
    """Store a validated payload; return counts and the incidents it concerns."""
    alerts = _unique(payload.alerts)
    if not alerts:
        return IngestResult()
    keys = [(a.fingerprint, a.starts_at, a.status.value) for a in alerts]
    if seen is None or seen.all_known(keys):  # likely a repeat: check without the writer lock
        with db.read_session() as session:
            unchanged = _unchanged(session, alerts)
        if unchanged is not None:
            return IngestResult(
                alerts=len(payload.alerts), duplicates=len(payload.alerts), incident_ids=unchanged
            )
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with db.write_session() as session:
                result = _apply(
                    session,
                    payload=payload,
                    alerts=alerts,
                    catalog=catalog,
                    windows=windows,
                    now=now,
                )
            if seen is not None:
                seen.add(keys)
            return result
        except IntegrityError:
            if attempt == _ATTEMPTS:
                raise
            log.info("concurrent delivery conflicted; retrying", extra={"attempt": attempt})
    raise AssertionError("unreachable")
