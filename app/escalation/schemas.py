"""``GET /api/v1/notifications``: the outbox as the API shows it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from app.escalation.models import Notification


class NotificationOut(BaseModel):
    id: int
    key: str
    incident_id: int
    channel: str
    kind: str
    level: int | None
    subject: str
    text: str
    state: str
    attempts: int
    last_error: str
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, row: Notification) -> NotificationOut:
        return cls.model_validate(row.model_dump())


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next: int | None
