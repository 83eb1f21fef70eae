"""Writing timeline events: every state change records one, in the same transaction."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from app.incidents.models import TimelineEvent

SYSTEM_ACTOR = "alertmanager"
_INSERT = insert(TimelineEvent.__table__)  # type: ignore[attr-defined]


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
    """Add one timeline event to an existing incident (a Core insert, run at once)."""
    session.execute(_INSERT, row(incident_id, kind, at, actor=actor, rule=rule, **detail))


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
