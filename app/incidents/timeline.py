"""Writing timeline events: every state change records one, in the same transaction."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Session

from app.incidents.models import TimelineEvent

SYSTEM_ACTOR = "alertmanager"


class Kind(StrEnum):
    OPENED = "opened"
    ALERTS_ADDED = "alerts_added"
    REOPENED = "reopened"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    ALERTS_RESOLVED = "alerts_resolved"
    NOTE = "note"
    TRUNCATED = "truncated"
    FIRST_VIEWED = "first_viewed"
    STEP_DONE = "step_done"
    ESCALATED = "escalated"


def record(
    session: Session,
    *,
    incident_id: int,
    kind: Kind,
    at: datetime,
    actor: str = SYSTEM_ACTOR,
    rule: str = "",
    **detail: Any,
) -> None:
    """Add one timeline event (flushed with the rest of the transaction)."""
    session.add(TimelineEvent(**row(incident_id, kind, at, actor=actor, rule=rule, **detail)))


def row(
    incident_id: int,
    kind: Kind,
    at: datetime,
    *,
    actor: str = SYSTEM_ACTOR,
    rule: str = "",
    **detail: Any,
) -> dict[str, Any]:
    """The values of one timeline event (for bulk inserts of the ingest path)."""
    return {
        "incident_id": incident_id,
        "at": at,
        "kind": kind.value,
        "actor": actor,
        "rule": rule,
        "detail": detail,
    }
