"""The repeat rule: what one incoming alert changes about the occurrence stored for it.

An occurrence is ``(fingerprint, starts_at)``. Alertmanager resends it every
``repeat_interval``, on retries and once per HA peer, and deliveries arrive out of order, so
most incoming alerts change nothing. Both ingest paths ask this one function: the repeat path
(``alerts.service.stored_unchanged``) answers without the writer lock only when every alert
is a ``DUPLICATE``; the batch (``alerts.service._Batch``) stores what is ``NEW`` and ends what
``RESOLVES``. Pure: plain data in, a ``Change`` out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from app.alerts.models import AlertStatus


class Change(StrEnum):
    NEW = "new"  # not stored yet: stored now, and placed in an incident
    RESOLVES = "resolves"  # stored firing, arrives resolved: the occurrence ends
    DUPLICATE = "duplicate"  # a repeat, or a late firing retry of an ended one: nothing


STATUSES: Mapping[str, AlertStatus] = {s.value: s for s in AlertStatus}  # faster than Enum()


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored occurrence (or one the current batch stores), as far as ingest cares."""

    incident_id: int | None
    status: AlertStatus


def occurrence_change(stored: Stored | None, incoming: AlertStatus) -> Change:
    """What an alert with status ``incoming`` changes about its occurrence ``stored``."""
    if stored is None:
        return Change.NEW
    if stored.status == AlertStatus.FIRING and incoming == AlertStatus.RESOLVED:
        return Change.RESOLVES
    return Change.DUPLICATE
