"""What a notification says: one channel-neutral message per incident change (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from app.escalation.policy import Level, span


class Kind(StrEnum):
    OPEN = "open"
    ESCALATION = "escalation"
    ACK = "ack"
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class IncidentView:
    """The incident as messages show it (a snapshot taken when the message is queued)."""

    id: int
    title: str
    status: str
    severity: str
    team: str
    runbook_class: str
    started_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    url: str  # the incident page, where it is acknowledged
    runbook_url: str

    def as_json(self) -> dict[str, Any]:
        values = ((name, getattr(self, name)) for name in self.__dataclass_fields__)
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values}


@dataclass(frozen=True, slots=True)
class Message:
    kind: Kind
    subject: str
    text: str
    payload: dict[str, Any]
    level: int | None = None


def _subject(
    kind: Kind, view: IncidentView, level: Level | None, reopened: bool, actor: str
) -> str:
    head = f"Incident #{view.id}"
    if kind is Kind.ESCALATION and level is not None and level.offset:
        return f"{head} unacknowledged for {span(level.offset)} (level {level.level})"
    if kind in (Kind.OPEN, Kind.ESCALATION):
        return f"{head} {'reopened' if reopened else 'opened'}"
    if kind is Kind.ACK:
        return f"{head} acknowledged by {actor or view.acknowledged_by or 'someone'}"
    took = view.resolved_at - view.started_at if view.resolved_at else None
    after = f" after {span(took)}" if took is not None and took.total_seconds() >= 1 else ""
    return f"{head} resolved by {actor or view.resolved_by or 'someone'}{after}"


def compose(
    kind: Kind,
    view: IncidentView,
    *,
    level: Level | None = None,
    reopened: bool = False,
    actor: str = "",
) -> Message:
    """The subject, plain text and JSON payload of one message."""
    subject = f"{_subject(kind, view, level, reopened, actor)}: {view.title}"[:512]
    facts = (
        f"class {view.runbook_class} · severity {view.severity or '-'} · team {view.team or '-'}"
    )
    if kind in (Kind.OPEN, Kind.ESCALATION):
        links = f"Runbook: {view.runbook_url}\nAcknowledge: {view.url}"
    else:
        links = f"Incident: {view.url}"
    text = f"{subject}\n{facts}\n{links}"
    payload: dict[str, Any] = {
        "event": kind.value,
        "level": level.level if level else None,
        "subject": subject,
        "text": text,
        "incident": view.as_json(),
    }
    return Message(kind, subject, text, payload, level.level if level else None)
