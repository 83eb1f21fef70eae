"""The repeat rule over every (stored, incoming) pair."""

from __future__ import annotations

import itertools

import pytest

from app.alerts.models import AlertStatus
from app.alerts.occurrences import Change, Stored, occurrence_change

FIRING, RESOLVED = AlertStatus.FIRING, AlertStatus.RESOLVED

EXPECTED = {
    (None, FIRING): Change.NEW,  # a first notification
    (None, RESOLVED): Change.NEW,  # resolved before firing: stored as resolved
    (FIRING, FIRING): Change.DUPLICATE,  # repeat_interval, a retry, the HA peer
    (FIRING, RESOLVED): Change.RESOLVES,  # the occurrence ended
    (RESOLVED, FIRING): Change.DUPLICATE,  # a late firing retry never reopens an ended one
    (RESOLVED, RESOLVED): Change.DUPLICATE,  # the resolved notification again
}


def test_expectations_cover_every_pair() -> None:
    assert set(EXPECTED) == set(itertools.product([None, *AlertStatus], AlertStatus))


@pytest.mark.parametrize(("stored", "incoming"), list(EXPECTED))
@pytest.mark.parametrize("incident_id", [None, 7])
def test_change(stored: AlertStatus | None, incoming: AlertStatus, incident_id: int | None) -> None:
    """Whether the stored occurrence has an incident plays no part."""
    known = None if stored is None else Stored(incident_id, stored)
    assert occurrence_change(known, incoming) is EXPECTED[(stored, incoming)]
