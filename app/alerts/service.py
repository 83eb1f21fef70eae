"""Ingest: store every alert occurrence exactly once and move incidents accordingly.

Idempotent on ``(fingerprint, starts_at)``. A payload whose alerts are all already stored in
the same state is answered from one read without taking the writer lock. Otherwise payloads
are applied in batches (``alerts.batcher`` collects the ones waiting): one transaction per
batch applies each payload in order against state read once (``incidents.unit``) and writes
the rows with one statement per table, so a storm costs a few statements per batch rather
than per payload.

Concurrent identical deliveries are made safe by unique constraints (alerts and open
incidents); a conflicting transaction is retried from the start. Each conflict means another
delivery committed those rows, which the next attempt sees; overlapping notifications of one
growing group sent at once to several replicas (an HA pair, retries) can need several
attempts, so the bound is generous (a 503 here would be a spurious fault). A batch that fails
for another reason (the database refuses a row, or any other error) is split, so the payload
that caused it fails alone and the others are stored.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from app.alerts.models import AlertStatus
from app.alerts.occurrences import Change, occurrence_change
from app.alerts.repeats import SeenOccurrences, occurrence_key
from app.alerts.schemas import WebhookPayload, WireAlert
from app.alerts.stored import Key, read_stored
from app.classification.catalog import Catalog
from app.classification.classifier import Classifier, Decision
from app.db import Database
from app.incidents import grouping
from app.incidents.grouping import Identity, Occurrence, Template, Windows
from app.incidents.unit import IncidentState, Unit
from app.metrics import aggregates as kpi

log = logging.getLogger(__name__)

_ATTEMPTS = 8  # 3 gave 503s to ~7% of 15 concurrent growing notifications on 2 replicas
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock (PostgreSQL)


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
class Job:
    """One validated payload waiting to be stored, with the time it was received.

    ``alerts`` is the payload's alerts with repeated occurrences folded, and ``keys`` their
    ``SeenOccurrences`` keys: computed once, used on the request and in the batch.
    """

    payload: WebhookPayload
    now: datetime
    alerts: list[WireAlert] = field(init=False)
    keys: list[int] = field(init=False)

    def __post_init__(self) -> None:
        alerts = unique(self.payload.alerts)
        object.__setattr__(self, "alerts", alerts)
        object.__setattr__(self, "keys", occurrence_keys(alerts))


Outcome = IngestResult | Exception  # the result, or the error of this payload alone


def unique(alerts: Sequence[WireAlert]) -> list[WireAlert]:
    """One alert per occurrence; if a payload repeats one, its resolved state wins."""
    chosen: dict[Key, WireAlert] = {}
    for alert in alerts:
        key = (alert.fingerprint, alert.starts_at)
        if key not in chosen or alert.status == AlertStatus.RESOLVED:
            chosen[key] = alert
    return list(chosen.values())


def occurrence_keys(alerts: Sequence[WireAlert]) -> list[int]:
    return [occurrence_key(a.fingerprint, a.starts_at, a.status.value) for a in alerts]


def stored_unchanged(db: Database, payload: WebhookPayload) -> IngestResult | None:
    """The answer for a payload whose alerts are all stored already in this state, else None.

    A read without the writer lock: the cheap path for repeats that are not byte-identical.
    """
    alerts = unique(payload.alerts)
    with db.engine.connect() as connection:
        db.prefer_indexes(connection)
        stored = read_stored(connection, (a.fingerprint for a in alerts))
    incidents: set[int] = set()
    for alert in alerts:
        known = stored.get((alert.fingerprint, alert.starts_at))
        if occurrence_change(known, alert.status) != Change.DUPLICATE:
            return None
        assert known is not None
        if known.incident_id is not None:
            incidents.add(known.incident_id)
    n = len(payload.alerts)
    return IngestResult(alerts=n, duplicates=n, incident_ids=sorted(incidents))


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


class _Batch:
    """Applies jobs in order against one ``Unit``."""

    def __init__(self, unit: Unit, classifier: Classifier, windows: Windows) -> None:
        self.unit = unit
        self.classifier = classifier
        self.catalog = classifier.catalog
        self.windows = windows
        self.decisions: dict[Key, Decision] = {}

    def decide(self, alert: WireAlert) -> Decision:
        key = (alert.fingerprint, alert.starts_at)
        decision = self.decisions.get(key)
        if decision is None:
            decision = self.classifier(alert.labels, alert.annotations)
            self.decisions[key] = decision
        return decision

    def prepare(self, jobs: Sequence[tuple[Job, list[WireAlert]]]) -> None:
        """Read the stored occurrences, then lock the incidents the batch may change."""
        unit = self.unit
        unit.load_alerts(a.fingerprint for _, alerts in jobs for a in alerts)
        keys: set[str] = set()
        ids: set[int] = set()
        for job, alerts in jobs:
            for alert in alerts:
                known = unit.alerts.get((alert.fingerprint, alert.starts_at))
                change = occurrence_change(known, alert.status)
                if change == Change.NEW:
                    cls = self.decide(alert).runbook_class
                    keys.add(Identity(cls, job.payload.group_key).open_key)
                elif change == Change.RESOLVES:  # its incident may settle: lock it now
                    assert known is not None
                    if known.incident_id is not None:
                        ids.add(known.incident_id)
        unit.lock_incidents(keys, ids)

    def apply(self, job: Job, alerts: list[WireAlert]) -> IngestResult:
        unit, payload, now = self.unit, job.payload, job.now
        new: dict[Identity, list[tuple[WireAlert, Decision]]] = defaultdict(list)
        resolutions: list[WireAlert] = []
        unchanged: set[int] = set()
        result = IngestResult(
            alerts=len(payload.alerts), duplicates=len(payload.alerts) - len(alerts)
        )
        for alert in alerts:
            known = unit.alerts.get((alert.fingerprint, alert.starts_at))
            change = occurrence_change(known, alert.status)
            if change == Change.NEW:
                decision = self.decide(alert)
                new[Identity(decision.runbook_class, payload.group_key)].append((alert, decision))
            elif change == Change.RESOLVES:
                resolutions.append(alert)
            else:
                result.duplicates += 1
                if known is not None and known.incident_id is not None:
                    unchanged.add(known.incident_id)
        touched: set[int] = set()
        settle: set[int] = set()
        for identity, items in new.items():
            incident = self._store_new(job, identity, items)
            touched.add(incident.id)
            if incident.open_key is not None and any(
                a.status != AlertStatus.FIRING for a, _ in items
            ):
                settle.add(incident.id)  # an ended occurrence joined an open incident
            result.new += len(items)
        for alert in resolutions:
            key = (alert.fingerprint, alert.starts_at)
            incident_id = unit.alerts[key].incident_id
            unit.resolve_alert(key, alert.ends_at or now, now)
            if incident_id is not None:
                settle.add(incident_id)
                touched.add(incident_id)
        result.resolved = len(resolutions)
        grouping.settle(unit, incident_ids=settle, now=now)
        result.incident_ids = sorted(touched | unchanged)
        return result

    def _store_new(
        self, job: Job, identity: Identity, items: list[tuple[WireAlert, Decision]]
    ) -> IncidentState:
        payload, now = job.payload, job.now
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
            self.unit,
            identity=identity,
            template=_template(payload, self.catalog, identity, items[0][0]),
            occurrences=occurrences,
            windows=self.windows,
            now=now,
        )
        logs_decisions = log.isEnabledFor(logging.INFO)
        for a, d in items:
            self.unit.add_alert(
                {
                    "fingerprint": a.fingerprint,
                    "starts_at": a.starts_at,
                    "ends_at": a.ends_at,
                    "status": a.status.value,
                    "alertname": a.labels.get("alertname", "")[:256],
                    "runbook_class": d.runbook_class,
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "generator_url": a.generator_url[:2048],
                    "incident_id": incident.id,
                    "received_at": now,
                    "updated_at": now,
                }
            )
            if logs_decisions:
                _log_decision(a, d)
        self.unit.count(kpi.CLASSIFIED, {"class": identity.runbook_class}, len(items))
        return incident


def _retryable(err: SQLAlchemyError) -> bool:
    """A conflict with a concurrent writer: the next attempt sees what it committed."""
    if isinstance(err, IntegrityError):
        return True
    code = getattr(getattr(err, "orig", None), "sqlstate", None)
    return isinstance(err, DBAPIError) and code in _RETRYABLE_SQLSTATES


def _transaction(
    db: Database, classifier: Classifier, windows: Windows, jobs: Sequence[Job]
) -> list[IngestResult]:
    prepared = [(job, job.alerts) for job in jobs]
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with db.write_connection() as connection:
                db.prefer_indexes(connection)
                batch = _Batch(Unit(connection), classifier, windows)
                batch.prepare(prepared)
                results = [batch.apply(job, alerts) for job, alerts in prepared]
                batch.unit.flush()
            return results
        except SQLAlchemyError as err:
            if attempt == _ATTEMPTS or not _retryable(err):
                raise
            log.info(
                "concurrent delivery conflicted; retrying",
                extra={"attempt": attempt, "payloads": len(jobs), "error": type(err).__name__},
            )
    raise AssertionError("unreachable")


def ingest_batch(
    *,
    db: Database,
    classifier: Classifier,
    windows: Windows,
    jobs: Sequence[Job],
    seen: SeenOccurrences | None = None,
) -> list[Outcome]:
    """Store validated payloads in one transaction; one outcome per job, in order.

    If the transaction fails for a reason other than a conflict (a database error or any
    other), each job is tried alone, so the payload that caused it gets its own error and the
    others are stored. The error is returned, not raised: its request answers with it.
    """
    try:
        outcomes: list[Outcome] = list(_transaction(db, classifier, windows, jobs))
    except Exception as err:  # handed to the request whose payload raised it
        if len(jobs) == 1:
            return [err]
        log.warning(
            "batch failed; storing its payloads one by one",
            extra={"payloads": len(jobs), "error": type(err).__name__},
        )
        outcomes = [
            ingest_batch(db=db, classifier=classifier, windows=windows, jobs=[job], seen=seen)[0]
            for job in jobs
        ]
        return outcomes
    if seen is not None:
        for job in jobs:
            seen.add(job.keys)
    return outcomes
