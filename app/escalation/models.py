"""Escalation state, the queue of incident changes, and the notification outbox.

::

    escalations          one row per incident: when escalation (re)started, how many levels
                         were sent, when the worker should look again (NULL = stopped)
    escalation_events    incident changes (opened, reopened, acknowledged, resolved) written
                         in the same transaction as the change; the worker turns each into
                         notifications (and a post-mortem draft) and deletes it
    notifications        the outbox: one message for one channel, delivered by the worker
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, enum_column, id_column


def incident_ref(*, primary_key: bool = False) -> Column[int]:
    """A reference to ``incidents.id`` with the same 64-bit type."""
    return Column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("incidents.id"),
        primary_key=primary_key,
        nullable=False,
    )


class Signal(StrEnum):
    """An incident change the escalation worker acts on."""

    OPENED = "opened"
    REOPENED = "reopened"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class NotificationState(StrEnum):
    PENDING = "pending"  # waiting for its first or next attempt (or being sent)
    SENT = "sent"
    FAILED = "failed"  # attempts exhausted or a permanent error
    SKIPPED = "skipped"  # the channel is disabled (its environment variable is unset)


class Escalation(SQLModel, table=True):
    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_next", "next_at"),)

    incident_id: int = Field(sa_column=incident_ref(primary_key=True))
    started_at: datetime = Field(sa_type=UTCDateTime)
    sent: int = 0
    next_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    stopped: str = Field(default="", max_length=32)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class EscalationEvent(SQLModel, table=True):
    __tablename__ = "escalation_events"

    id: int | None = Field(default=None, sa_column=id_column())
    incident_id: int = Field(sa_column=incident_ref())
    event: Signal = Field(sa_column=enum_column(Signal))
    actor: str = Field(default="", max_length=256)
    at: datetime = Field(sa_type=UTCDateTime)


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_due", "state", "next_attempt_at"),
        Index("ix_notifications_incident", "incident_id", "id"),
    )

    id: int | None = Field(default=None, sa_column=id_column())
    key: str = Field(max_length=36, unique=True)  # the Idempotency-Key of every attempt
    incident_id: int = Field(sa_column=incident_ref())
    channel: str = Field(max_length=128)
    kind: str = Field(max_length=16)  # open | escalation | ack | resolve
    level: int | None = None
    subject: str = Field(max_length=512)
    text: str = Field(sa_column=Column(Text, nullable=False))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: NotificationState = Field(sa_column=enum_column(NotificationState))
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str = Field(default="", max_length=1024)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
