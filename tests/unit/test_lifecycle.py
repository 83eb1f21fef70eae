"""Every (state, event) pair of the incident state machine."""

from __future__ import annotations

import itertools

import pytest

from app.errors import InvalidTransition
from app.incidents.lifecycle import TRANSITIONS, Event, next_step
from app.incidents.models import IncidentStatus as S

EXPECTED = {
    (S.TRIGGERED, Event.FIRE): (S.TRIGGERED, "GROUP-1"),
    (S.TRIGGERED, Event.ACK): (S.ACKNOWLEDGED, "ACK-1"),
    (S.TRIGGERED, Event.RESOLVE): (S.RESOLVED, "RESOLVE-1"),
    (S.TRIGGERED, Event.ALERTS_RESOLVED): (S.RESOLVED, "AUTO-1"),
    (S.ACKNOWLEDGED, Event.FIRE): (S.ACKNOWLEDGED, "GROUP-2"),
    (S.ACKNOWLEDGED, Event.ACK): None,
    (S.ACKNOWLEDGED, Event.RESOLVE): (S.RESOLVED, "RESOLVE-2"),
    (S.ACKNOWLEDGED, Event.ALERTS_RESOLVED): (S.RESOLVED, "AUTO-2"),
    (S.RESOLVED, Event.FIRE): (S.TRIGGERED, "REOPEN-1"),
    (S.RESOLVED, Event.ACK): None,
    (S.RESOLVED, Event.RESOLVE): None,
    (S.RESOLVED, Event.ALERTS_RESOLVED): None,
}


def test_expectations_cover_every_pair() -> None:
    assert set(EXPECTED) == set(itertools.product(S, Event))


@pytest.mark.parametrize(("status", "event"), list(EXPECTED))
def test_transition(status: S, event: Event) -> None:
    expected = EXPECTED[(status, event)]
    if expected is None:
        with pytest.raises(InvalidTransition) as info:
            next_step(status, event)
        assert info.value.current == status.value
        assert info.value.status_code == 409
        assert event.value in info.value.message
    else:
        assert tuple(next_step(status, event)) == expected


def test_rule_ids_are_unique() -> None:
    rules = [step.rule for step in TRANSITIONS.values()]
    assert len(rules) == len(set(rules))
