"""Where new occurrences go: join, reopen (flap) or a new incident (recurrence), every edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import pytest

from app.alerts.models import AlertStatus
from app.alerts.occurrences import Change, Stored, occurrence_change
from app.incidents.models import IncidentStatus as S
from app.incidents.placement import (
    Existing,
    Join,
    Occurrence,
    Open,
    Placement,
    Reopen,
    Windows,
    placement,
)

WINDOWS = Windows(flap=timedelta(minutes=5), recurrence=timedelta(days=7))
RESOLVED_AT = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)  # the previous incident's resolution
NOW = RESOLVED_AT + timedelta(days=30)  # when the occurrences arrive
SECOND = timedelta(seconds=1)
FLAP, RECURRENCE = WINDOWS.flap, WINDOWS.recurrence

OPEN = Existing(1, S.TRIGGERED, None)
ACKED = Existing(1, S.ACKNOWLEDGED, None)
PREVIOUS = Existing(2, S.RESOLVED, RESOLVED_AT)


def firing(after: timedelta, fingerprint: str = "f1") -> Occurrence:
    """An occurrence that started ``after`` the previous resolution and still fires."""
    return Occurrence(fingerprint, "Workflow500", RESOLVED_AT + after, None, True)


def ended(after: timedelta, lasted: timedelta | None, fingerprint: str = "f1") -> Occurrence:
    """An occurrence that arrives resolved (``lasted`` None: without an end time)."""
    starts_at = RESOLVED_AT + after
    ends_at = None if lasted is None else starts_at + lasted
    return Occurrence(fingerprint, "Workflow500", starts_at, ends_at, False)


def reopen(recurrence_of: int | None = PREVIOUS.id) -> Reopen:
    """Reopen the previous incident (or, if another writer got there first, a recurrence)."""
    return Reopen(PREVIOUS.id, S.TRIGGERED, "REOPEN-1", Open(recurrence_of, "OPEN-1", None))


class Case(NamedTuple):
    current: Existing | None
    previous: Existing | None
    occurrences: list[Occurrence]
    expected: Placement


CASES = {
    # an open incident takes every new occurrence, firing or ended, whatever came before
    "open triggered: join": Case(OPEN, None, [firing(FLAP)], Join(1, "GROUP-1")),
    "open acknowledged: join": Case(ACKED, None, [firing(FLAP)], Join(1, "GROUP-2")),
    "open: an ended occurrence joins too": Case(
        OPEN, None, [ended(RECURRENCE * 2, FLAP)], Join(1, "GROUP-1")
    ),
    # no incident of the identity was ever resolved
    "no previous incident: open": Case(None, None, [firing(FLAP)], Open(None, "OPEN-1", None)),
    "no previous, resolved before firing: opened resolved at the latest end": Case(
        None,
        None,
        [ended(-FLAP, 3 * SECOND, "f1"), ended(-FLAP, 9 * SECOND, "f2")],
        Open(None, "OPEN-2", RESOLVED_AT - FLAP + 9 * SECOND),
    ),
    "no previous, resolved without an end time: resolved on arrival": Case(
        None, None, [ended(-FLAP, None)], Open(None, "OPEN-2", NOW)
    ),
    "previous not resolved any more (reopened meanwhile): as if none": Case(
        None, Existing(2, S.TRIGGERED, None), [firing(FLAP)], Open(None, "OPEN-1", None)
    ),
    # the flap window, from the resolution to the earliest firing start; its bound included
    "flap: started before the resolution": Case(None, PREVIOUS, [firing(-FLAP)], reopen()),
    "flap: at the resolution": Case(None, PREVIOUS, [firing(timedelta(0))], reopen()),
    "flap: a second inside the window": Case(None, PREVIOUS, [firing(FLAP - SECOND)], reopen()),
    "flap: exactly the window": Case(None, PREVIOUS, [firing(FLAP)], reopen()),
    "flap: a second past the window: a recurrence": Case(
        None, PREVIOUS, [firing(FLAP + SECOND)], Open(PREVIOUS.id, "OPEN-1", None)
    ),
    "flap: the earliest firing occurrence counts": Case(
        None, PREVIOUS, [firing(FLAP * 3, "f1"), firing(FLAP, "f2")], reopen()
    ),
    "flap: an ended occurrence inside the window does not reopen": Case(
        None,
        PREVIOUS,
        [ended(SECOND, SECOND, "f1"), firing(FLAP + SECOND, "f2")],
        Open(PREVIOUS.id, "OPEN-1", None),
    ),
    "resolved before firing inside the flap window: a resolved recurrence": Case(
        None,
        PREVIOUS,
        [ended(SECOND, FLAP)],
        Open(PREVIOUS.id, "OPEN-2", RESOLVED_AT + SECOND + FLAP),
    ),
    # the recurrence window, from the resolution to the earliest start of any occurrence
    "recurrence: a second inside the window": Case(
        None, PREVIOUS, [firing(RECURRENCE - SECOND)], Open(PREVIOUS.id, "OPEN-1", None)
    ),
    "recurrence: exactly the window": Case(
        None, PREVIOUS, [firing(RECURRENCE)], Open(PREVIOUS.id, "OPEN-1", None)
    ),
    "recurrence: a second past the window: a new incident": Case(
        None, PREVIOUS, [firing(RECURRENCE + SECOND)], Open(None, "OPEN-1", None)
    ),
    "recurrence: an ended occurrence's earlier start counts": Case(
        None,
        PREVIOUS,
        [ended(RECURRENCE, SECOND, "f1"), firing(RECURRENCE + SECOND, "f2")],
        Open(PREVIOUS.id, "OPEN-1", None),
    ),
    "resolved before firing past the recurrence window: a resolved new incident": Case(
        None,
        PREVIOUS,
        [ended(RECURRENCE + SECOND, FLAP)],
        Open(None, "OPEN-2", RESOLVED_AT + RECURRENCE + SECOND + FLAP),
    ),
    # a responder resolved the previous incident while its alerts fired: a new occurrence
    # (a repeat of those alerts is a duplicate and never placed: see the test below)
    "manually resolved: a new occurrence inside the flap window reopens": Case(
        None, PREVIOUS, [firing(SECOND, "f9")], reopen()
    ),
    "manually resolved: a new occurrence later is a recurrence": Case(
        None, PREVIOUS, [firing(FLAP * 2, "f9")], Open(PREVIOUS.id, "OPEN-1", None)
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_placement(case: Case) -> None:
    decided = placement(
        current=case.current,
        previous=case.previous,
        occurrences=case.occurrences,
        windows=WINDOWS,
        now=NOW,
    )
    assert decided == case.expected


def test_the_cases_reach_every_outcome() -> None:
    outcomes = {
        (type(c.expected).__name__, c.expected.rule, getattr(c.expected, "recurrence_of", None))
        for c in CASES.values()
    }
    assert outcomes >= {
        ("Join", "GROUP-1", None),
        ("Join", "GROUP-2", None),
        ("Reopen", "REOPEN-1", None),
        ("Open", "OPEN-1", None),
        ("Open", "OPEN-1", PREVIOUS.id),
        ("Open", "OPEN-2", None),
        ("Open", "OPEN-2", PREVIOUS.id),
    }


def test_a_manually_resolved_incident_reopens_for_a_new_occurrence_not_for_a_repeat() -> None:
    """Its alerts still fire (stored firing); a repeat of them changes nothing, so it is
    never placed, while a new occurrence (a new start) inside the flap window reopens it."""
    stored = {("f1", RESOLVED_AT - FLAP): Stored(PREVIOUS.id, AlertStatus.FIRING)}
    repeat, new = firing(-FLAP, "f1"), firing(SECOND, "f1")

    changes = [
        occurrence_change(stored.get((o.fingerprint, o.starts_at)), AlertStatus.FIRING)
        for o in (repeat, new)
    ]

    assert changes == [Change.DUPLICATE, Change.NEW]
    decided = placement(
        current=None, previous=PREVIOUS, occurrences=[new], windows=WINDOWS, now=NOW
    )
    assert decided == reopen()
