"""The incident state machine as data: ``(status, event) -> (next status, rule id)``.

Rule ids are logged and written to the timeline so every transition is traceable.
Pairs missing from the table are invalid transitions (HTTP 409 with the current state).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import NamedTuple

from app.errors import InvalidTransition
from app.incidents.models import IncidentStatus as S


class Event(StrEnum):
    FIRE = "fire"  # a new alert occurrence joins the incident
    ACK = "ack"  # a responder acknowledges
    RESOLVE = "resolve"  # a responder resolves
    ALERTS_RESOLVED = "alerts_resolved"  # Alertmanager: every alert of the incident ended


class Step(NamedTuple):
    status: S
    rule: str


TRANSITIONS: Mapping[tuple[S, Event], Step] = {
    (S.TRIGGERED, Event.FIRE): Step(S.TRIGGERED, "GROUP-1"),
    (S.ACKNOWLEDGED, Event.FIRE): Step(S.ACKNOWLEDGED, "GROUP-2"),
    (S.RESOLVED, Event.FIRE): Step(S.TRIGGERED, "REOPEN-1"),
    (S.TRIGGERED, Event.ACK): Step(S.ACKNOWLEDGED, "ACK-1"),
    (S.TRIGGERED, Event.RESOLVE): Step(S.RESOLVED, "RESOLVE-1"),
    (S.ACKNOWLEDGED, Event.RESOLVE): Step(S.RESOLVED, "RESOLVE-2"),
    (S.TRIGGERED, Event.ALERTS_RESOLVED): Step(S.RESOLVED, "AUTO-1"),
    (S.ACKNOWLEDGED, Event.ALERTS_RESOLVED): Step(S.RESOLVED, "AUTO-2"),
}

_HINTS: Mapping[Event, str] = {
    Event.ACK: "only a triggered incident can be acknowledged",
    Event.RESOLVE: "the incident is already resolved; it reopens when its alert fires again",
    Event.ALERTS_RESOLVED: "nothing to do: the incident is already resolved",
    Event.FIRE: "",
}


def next_step(status: S, event: Event) -> Step:
    """The status after ``event``; raise InvalidTransition (409) when it is not allowed."""
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise InvalidTransition(
            f"cannot {event.value} an incident that is {status.value}",
            current=status.value,
            hint=_HINTS[event],
        ) from None
