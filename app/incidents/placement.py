"""Where new occurrences of one identity go: join, reopen (a flap) or a new incident.

The product's core rule, as a pure decision over plain data (``grouping.place`` reads the
incidents and applies the effects):

- the identity has an open incident: they join it (``GROUP-1``/``GROUP-2`` by its status);
- else, when some occurrence fires and the earliest firing one started at most
  ``windows.flap`` after the identity's last resolution, that incident reopens (``REOPEN-1``)
  and counts a flap;
- else a new incident, firing (``OPEN-1``) or, when every occurrence has ended already
  (resolved before firing), opened resolved at the latest end (``OPEN-2``); it is a recurrence
  of the last resolved incident when the earliest occurrence started at most
  ``windows.recurrence`` after that resolution.

Both windows include their bound, and an occurrence that started before the resolution is
within both. A manual resolve is a resolution like Alertmanager's: repeats of its occurrences
never get here (``alerts.occurrences``: a duplicate), a new occurrence does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.incidents.lifecycle import Event, next_step
from app.incidents.models import IncidentStatus


@dataclass(frozen=True, slots=True)
class Occurrence:
    """A new alert occurrence as grouping sees it."""

    fingerprint: str
    alertname: str
    starts_at: datetime
    ends_at: datetime | None
    firing: bool


@dataclass(frozen=True, slots=True)
class Windows:
    flap: timedelta
    recurrence: timedelta


@dataclass(frozen=True, slots=True)
class Existing:
    """An incident of the identity: the open one, or the one resolved last."""

    id: int
    status: IncidentStatus
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class Join:
    """Join the open incident."""

    incident_id: int
    rule: str


@dataclass(frozen=True, slots=True)
class Open:
    """Open a new incident; ``resolved_at`` is set when it opens resolved."""

    recurrence_of: int | None
    rule: str
    resolved_at: datetime | None

    @property
    def firing(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True, slots=True)
class Reopen:
    """Reopen the resolved incident as ``status``; ``otherwise`` if another writer got there
    first (it is no longer resolved when the reopen is written)."""

    incident_id: int
    status: IncidentStatus
    rule: str
    otherwise: Open


Placement = Join | Reopen | Open


def placement(
    *,
    current: Existing | None,
    previous: Existing | None,
    occurrences: Sequence[Occurrence],
    windows: Windows,
    now: datetime,
) -> Placement:
    """Where ``occurrences`` (new, of one identity, at least one) go, received at ``now``.

    ``current`` is the identity's open incident, ``previous`` the one resolved last.
    """
    if current is not None:
        return Join(current.id, next_step(current.status, Event.FIRE).rule)
    resolved_at = None if previous is None else previous.resolved_at
    if previous is None or resolved_at is None:
        return _open(None, occurrences, now)
    recurrent = min(o.starts_at for o in occurrences) - resolved_at <= windows.recurrence
    opened = _open(previous.id if recurrent else None, occurrences, now)
    firing = [o.starts_at for o in occurrences if o.firing]
    if firing and min(firing) - resolved_at <= windows.flap:
        step = next_step(previous.status, Event.FIRE)
        return Reopen(previous.id, step.status, step.rule, otherwise=opened)
    return opened


def _open(recurrence_of: int | None, occurrences: Sequence[Occurrence], now: datetime) -> Open:
    if any(o.firing for o in occurrences):
        return Open(recurrence_of, "OPEN-1", None)
    return Open(recurrence_of, "OPEN-2", max((o.ends_at or now) for o in occurrences))
