"""One ingest transaction: state read once, changed in memory, written in bulk.

A batch of webhook payloads is applied in order against this state, so the outcome is the
one of applying them one after another; the rows they add or change are buffered and written
with one ``executemany`` per table when the batch ends, or earlier when a statement has to see
them (a settle count, an incident insert that reuses an identity freed in this batch).

Open incidents the batch may touch are read with ``FOR UPDATE`` (PostgreSQL) before any
change, so the in-memory copy is the truth until commit; on SQLite the writer lock does that.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update

from app.alerts.models import Alert, AlertStatus
from app.alerts.occurrences import STATUSES, Stored
from app.alerts.stored import read_stored
from app.bulk import insert_rows
from app.escalation import hooks
from app.escalation.models import Signal
from app.incidents.models import Incident, TimelineEvent
from app.incidents.timeline import Kind
from app.incidents.timeline import row as timeline_row
from app.metrics import aggregates as kpi

_ALERTS = Alert.__table__  # type: ignore[attr-defined]
_INCIDENTS = Incident.__table__  # type: ignore[attr-defined]
_TIMELINE = TimelineEvent.__table__  # type: ignore[attr-defined]

_STATE_COLUMNS = (
    _INCIDENTS.c.id,
    _INCIDENTS.c.runbook_class,
    _INCIDENTS.c.group_key,
    _INCIDENTS.c.open_key,
    _INCIDENTS.c.status,
    _INCIDENTS.c.started_at,
    _INCIDENTS.c.resolved_at,
    _INCIDENTS.c.resolved_by,
    _INCIDENTS.c.acknowledged_by,
    _INCIDENTS.c.truncated_alerts,
    _INCIDENTS.c.flap_count,
    _INCIDENTS.c.recurrence_of,
    _INCIDENTS.c.updated_at,
)
# Built once: the statements of every batch.
_LOCK = (
    select(*_STATE_COLUMNS)
    .where(
        or_(
            _INCIDENTS.c.open_key.in_(bindparam("keys", expanding=True)),
            _INCIDENTS.c.id.in_(bindparam("ids", expanding=True)),
        )
    )
    .order_by(_INCIDENTS.c.id)
    .with_for_update()
)
_LAST_RESOLVED = (
    select(*_STATE_COLUMNS)
    .where(
        _INCIDENTS.c.runbook_class == bindparam("cls"),
        _INCIDENTS.c.group_key == bindparam("group"),
        _INCIDENTS.c.resolved_at.is_not(None),
    )
    .order_by(_INCIDENTS.c.resolved_at.desc(), _INCIDENTS.c.id.desc())
    .limit(1)
)
_INSERT_INCIDENT = insert(_INCIDENTS).returning(_INCIDENTS.c.id)
_UPDATE_INCIDENT = (
    update(_INCIDENTS)
    .where(_INCIDENTS.c.id == bindparam("p_id"))
    .values(
        status=bindparam("p_status"),
        open_key=bindparam("p_open_key"),
        started_at=bindparam("p_started_at"),
        resolved_at=bindparam("p_resolved_at"),
        resolved_by=bindparam("p_resolved_by"),
        truncated_alerts=bindparam("p_truncated"),
        updated_at=bindparam("p_updated_at"),
    )
)
_REOPEN = (
    update(_INCIDENTS)
    .where(_INCIDENTS.c.id == bindparam("p_id"), _INCIDENTS.c.open_key.is_(None))
    .values(
        status=bindparam("p_status"),
        open_key=bindparam("p_open_key"),
        resolved_at=None,
        resolved_by=None,
        flap_count=_INCIDENTS.c.flap_count + 1,
        updated_at=bindparam("p_updated_at"),
    )
)
_RESOLVE_ALERT = (
    update(_ALERTS)
    .where(
        _ALERTS.c.fingerprint == bindparam("p_fingerprint"),
        _ALERTS.c.starts_at == bindparam("p_starts_at"),
    )
    .values(
        status=AlertStatus.RESOLVED.value,
        ends_at=bindparam("p_end"),
        updated_at=bindparam("p_now"),
    )
)
_FIRING = (
    select(
        _ALERTS.c.incident_id,
        func.count().filter(_ALERTS.c.status == AlertStatus.FIRING.value).label("firing"),
        func.max(_ALERTS.c.ends_at).label("last_end"),
    )
    .where(_ALERTS.c.incident_id.in_(bindparam("ids", expanding=True)))
    .group_by(_ALERTS.c.incident_id)
)
_INSERT_TIMELINE = insert(_TIMELINE)


@dataclass(frozen=True, slots=True)
class Identity:
    runbook_class: str
    group_key: str

    @property
    def open_key(self) -> str:
        """Digest of the identity: short enough for any unique index."""
        return _open_key(self.runbook_class, self.group_key)


@lru_cache(maxsize=4096)
def _open_key(runbook_class: str, group_key: str) -> str:
    return hashlib.sha256(f"{runbook_class}\x1f{group_key}".encode()).hexdigest()


@dataclass(slots=True)
class IncidentState:
    """The columns of an incident that ingest reads or changes."""

    id: int
    runbook_class: str
    group_key: str
    open_key: str | None
    status: str
    started_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    acknowledged_by: str | None
    truncated_alerts: int
    flap_count: int
    recurrence_of: int | None
    updated_at: datetime

    @property
    def identity(self) -> Identity:
        return Identity(self.runbook_class, self.group_key)


class Unit:
    """The state and pending writes of one ingest transaction on ``connection``."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.alerts: dict[tuple[str, datetime], Stored] = {}
        self._incidents: dict[int, IncidentState] = {}
        self._open: dict[str, IncidentState] = {}
        self._locked_keys: set[str] = set()
        self._last_resolved: dict[Identity, IncidentState | None] = {}
        self._new_alerts: dict[tuple[str, datetime], dict[str, Any]] = {}
        self._resolved_alerts: list[dict[str, Any]] = []
        self._dirty: set[int] = set()
        self._freed_keys = False
        self._timeline: list[dict[str, Any]] = []
        self._events: list[dict[str, Any]] = []
        self._clocks: dict[int, tuple[str, dict[str, Any]]] = {}
        self._kpi: defaultdict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)

    # -- reads ------------------------------------------------------------------------------

    def load_alerts(self, fingerprints: Iterable[str]) -> None:
        """Read the stored occurrences of these fingerprints (all start times)."""
        self.alerts.update(read_stored(self.connection, fingerprints))

    def lock_incidents(self, open_keys: Iterable[str], ids: Iterable[int]) -> None:
        """Read (and on PostgreSQL lock) the open incidents of these identities and these ids."""
        keys = sorted(set(open_keys) - self._locked_keys)
        wanted = sorted(set(ids) - set(self._incidents))
        if not keys and not wanted:
            return
        self._locked_keys.update(keys)
        for row in self.connection.execute(_LOCK, {"keys": keys, "ids": wanted}):
            self._remember(IncidentState(**row._mapping))

    def _remember(self, state: IncidentState) -> IncidentState:
        known = self._incidents.setdefault(state.id, state)
        if known.open_key is not None:
            self._open[known.open_key] = known
        return known

    def open_incident(self, identity: Identity) -> IncidentState | None:
        key = identity.open_key
        if key not in self._locked_keys:
            self.lock_incidents([key], [])
        return self._open.get(key)

    def incident(self, incident_id: int) -> IncidentState | None:
        if incident_id not in self._incidents:
            self.lock_incidents([], [incident_id])
        return self._incidents.get(incident_id)

    def last_resolved(self, identity: Identity) -> IncidentState | None:
        """The most recently resolved incident of ``identity``, counting this batch's changes."""
        if identity not in self._last_resolved:
            params = {"cls": identity.runbook_class, "group": identity.group_key}
            row = self.connection.execute(_LAST_RESOLVED, params).first()
            found = None if row is None else IncidentState(**row._mapping)
            if found is not None:
                found = self._incidents.get(found.id, found)
                found = found if found.resolved_at is not None else None
            self._last_resolved[identity] = found
        return self._last_resolved[identity]

    def firing_and_last_end(
        self, incident_ids: list[int]
    ) -> dict[int, tuple[int, datetime | None]]:
        """Per incident: how many of its alerts fire, and the latest end (pending rows included)."""
        self.flush()
        rows = self.connection.execute(_FIRING, {"ids": incident_ids})
        return {row.incident_id: (row.firing, row.last_end) for row in rows}

    # -- incident changes -------------------------------------------------------------------

    def create(self, values: dict[str, Any]) -> IncidentState:
        """Insert a new incident now (its id is needed by what follows)."""
        self._flush_freed_keys()
        incident_id = self.connection.execute(_INSERT_INCIDENT, values).scalar_one()
        state = IncidentState(
            id=incident_id,
            runbook_class=values["runbook_class"],
            group_key=values["group_key"],
            open_key=values["open_key"],
            status=values["status"],
            started_at=values["started_at"],
            resolved_at=values.get("resolved_at"),
            resolved_by=values.get("resolved_by"),
            acknowledged_by=None,
            truncated_alerts=values["truncated_alerts"],
            flap_count=0,
            recurrence_of=values["recurrence_of"],
            updated_at=values["updated_at"],
        )
        self._remember(state)
        if state.resolved_at is not None:
            self._resolved(state)
        return state

    def reopen(self, state: IncidentState, status: str, now: datetime) -> bool:
        """Reopen a resolved incident now; False when another writer changed it first."""
        self._flush_freed_keys()
        key = state.identity.open_key
        params = {"p_id": state.id, "p_status": status, "p_open_key": key, "p_updated_at": now}
        if self.connection.execute(_REOPEN, params).rowcount != 1:
            return False
        state.status, state.open_key = status, key
        state.resolved_at = state.resolved_by = None
        state.flap_count += 1
        state.updated_at = now
        self._incidents[state.id] = state
        self._open[key] = state
        self._locked_keys.add(key)
        self._last_resolved.pop(state.identity, None)  # the next one is read again if needed
        return True

    def changed(self, state: IncidentState) -> None:
        """Write ``state``'s changed columns at the next flush."""
        self._dirty.add(state.id)

    def resolve(self, state: IncidentState, status: str, at: datetime, now: datetime) -> None:
        """Resolved by Alertmanager: frees the identity for a new incident."""
        if state.open_key is not None:
            self._open.pop(state.open_key, None)
            self._freed_keys = True
        state.status, state.open_key = status, None
        state.resolved_at, state.resolved_by = at, "alertmanager"
        state.updated_at = now
        self._dirty.add(state.id)
        self._resolved(state)

    def _resolved(self, state: IncidentState) -> None:
        assert state.resolved_at is not None
        current = self.last_resolved(state.identity)
        if (
            current is None
            or current.resolved_at is None
            or (current.resolved_at, current.id) <= (state.resolved_at, state.id)
        ):
            self._last_resolved[state.identity] = state

    # -- buffered rows ----------------------------------------------------------------------

    def add_alert(self, row: dict[str, Any]) -> None:
        key = (row["fingerprint"], row["starts_at"])
        self._new_alerts[key] = row
        self.alerts[key] = Stored(row["incident_id"], STATUSES[row["status"]])

    def resolve_alert(self, key: tuple[str, datetime], end: datetime, now: datetime) -> None:
        self.alerts[key] = Stored(self.alerts[key].incident_id, AlertStatus.RESOLVED)
        pending = self._new_alerts.get(key)
        if pending is not None:
            pending.update(status=AlertStatus.RESOLVED.value, ends_at=end, updated_at=now)
        else:
            self._resolved_alerts.append(
                {"p_fingerprint": key[0], "p_starts_at": key[1], "p_end": end, "p_now": now}
            )

    def record(self, incident_id: int, kind: Kind, at: datetime, rule: str, **detail: Any) -> None:
        self._timeline.append(timeline_row(incident_id, kind, at, rule=rule, **detail))

    def count(self, metric: str, labels: Mapping[str, str], delta: float = 1.0) -> None:
        self._kpi[(metric, tuple(sorted(labels.items())))] += delta

    def observe(self, metric: str, runbook_class: str, seconds: float) -> None:
        for series, labels, delta in kpi.observation(metric, runbook_class, seconds):
            self.count(series, labels, delta)

    def signal(self, state: IncidentState, event: Signal, now: datetime) -> None:
        """``hooks.on_incident_event`` for the bulk path: the same rows, written at flush."""
        actor = hooks.actor_of(event, state.acknowledged_by, state.resolved_by)
        self._events.append(hooks.event_row(state.id, event, actor, now))
        current = self._clocks.get(state.id)
        if hooks.starts_clock(event, state.status):
            self._clocks[state.id] = ("start", hooks.clock_row(state.id, now))
        elif current is None:
            self._clocks[state.id] = ("stop", hooks.stop_params(state.id, event, now))
        elif current[0] == "start" and current[1]["next_at"] is not None:
            current[1].update(next_at=None, stopped=event.value, updated_at=now)
        # else: already stopped in this batch, and a second stop changes nothing

    # -- writes -----------------------------------------------------------------------------

    def _flush_freed_keys(self) -> None:
        if self._freed_keys:
            self._write_incidents()
            self._freed_keys = False

    def _write_incidents(self) -> None:
        if not self._dirty:
            return
        rows = []
        for incident_id in sorted(self._dirty):
            s = self._incidents[incident_id]
            rows.append(
                {
                    "p_id": s.id,
                    "p_status": s.status,
                    "p_open_key": s.open_key,
                    "p_started_at": s.started_at,
                    "p_resolved_at": s.resolved_at,
                    "p_resolved_by": s.resolved_by,
                    "p_truncated": s.truncated_alerts,
                    "p_updated_at": s.updated_at,
                }
            )
        self.connection.execute(_UPDATE_INCIDENT, rows)
        self._dirty.clear()

    def flush(self) -> None:
        """Write everything buffered, in an order that respects foreign keys."""
        self._write_incidents()
        self._freed_keys = False
        connection = self.connection
        if self._new_alerts:
            insert_rows(connection, _ALERTS, self._new_alerts.values())
            self._new_alerts.clear()
        if self._resolved_alerts:
            connection.execute(_RESOLVE_ALERT, self._resolved_alerts)
            self._resolved_alerts.clear()
        if self._timeline:
            connection.execute(_INSERT_TIMELINE, self._timeline)
            self._timeline.clear()
        if self._events:
            connection.execute(hooks.EVENTS, self._events)
            self._events.clear()
        starts = [values for op, values in self._clocks.values() if op == "start"]
        stops = [values for op, values in self._clocks.values() if op == "stop"]
        if starts:
            connection.execute(hooks.start_statement(connection.dialect.name), starts)
        if stops:
            connection.execute(hooks.STOP, stops)
        self._clocks.clear()
        deltas = {(m, kpi.encode(dict(labels))): v for (m, labels), v in self._kpi.items()}
        kpi.add_many(connection, deltas)
        self._kpi.clear()
