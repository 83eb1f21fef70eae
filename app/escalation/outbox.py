"""The transactional outbox: messages queued in the caller's transaction, claimed by workers.

A claim takes due rows with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite serialises on
the writer lock), counts the attempt and leases the row by pushing ``next_attempt_at`` past
the send timeout, then commits. The send happens outside any transaction; its outcome is
written afterwards. A process killed between claim and outcome leaves the row pending: it is
claimed again when the lease runs out and resent with the same ``Idempotency-Key``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from app.db import newest_first
from app.escalation.config import Notifications
from app.escalation.messages import Kind, Message
from app.escalation.models import Notification
from app.escalation.models import NotificationState as State
from app.text import storable

_INSERT = insert(Notification.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A claimed message, detached from its session."""

    id: int
    key: str
    channel: str
    kind: str
    subject: str
    text: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True, slots=True)
class Outcome:
    id: int
    channel: str
    attempts: int
    error: str = ""  # empty when sent
    retryable: bool = True
    deferred: bool = False  # not attempted after all: due again, the attempt not counted

    @property
    def ok(self) -> bool:
        return not self.error and not self.deferred


def enqueue(
    session: Session,
    *,
    incident_id: int,
    channel: str,
    message: Message,
    now: datetime,
    disabled: str | None = None,
) -> None:
    """Queue ``message`` for ``channel``; a disabled channel's row is kept as skipped.

    A Core insert: the worker queues several per incident, and an ORM object apiece cost
    more than composing the message."""
    key = str(uuid.uuid4())
    row = dict(
        key=key,
        incident_id=incident_id,
        channel=channel,
        kind=message.kind,
        level=message.level,
        subject=message.subject,
        text=message.text,
        payload={"id": key, "channel": channel, **message.payload},
        state=State.SKIPPED if disabled else State.PENDING,
        next_attempt_at=None if disabled else now,
        last_error=storable(disabled or "", limit=1024),
        created_at=now,
        updated_at=now,
        attempts=0,
    )
    session.execute(_INSERT, row)


def claim(
    session: Session,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    skip: Collection[str] = (),
) -> list[Outgoing]:
    """Take up to ``limit`` due messages for this worker (skipping rows others hold, and
    the channels in ``skip``)."""
    query = (
        select(Notification)
        .where(Notification.state == State.PENDING, col(Notification.next_attempt_at) <= now)
        .order_by(col(Notification.next_attempt_at), col(Notification.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if skip:
        query = query.where(col(Notification.channel).not_in(sorted(skip)))
    claimed = []
    for row in session.exec(query).all():
        assert row.id is not None
        row.attempts += 1
        row.next_attempt_at = now + lease
        row.updated_at = now
        claimed.append(
            Outgoing(
                id=row.id,
                key=row.key,
                channel=row.channel,
                kind=row.kind,
                subject=row.subject,
                text=row.text,
                payload=row.payload,
                attempts=row.attempts,
            )
        )
    return claimed


def backoff(attempts: int, policy: Notifications) -> timedelta:
    """Wait before the next attempt: ``backoff`` doubled per attempt, capped."""
    wait: timedelta = policy.backoff * (2 ** max(attempts - 1, 0))
    return min(wait, policy.max_backoff)


def record(session: Session, outcome: Outcome, *, now: datetime, policy: Notifications) -> str:
    """Write the outcome of one attempt; return the message's new state."""
    values: dict[str, Any] = {"updated_at": now}
    if outcome.deferred:
        values |= {
            "state": State.PENDING,
            "next_attempt_at": now,
            "attempts": col(Notification.attempts) - 1,
        }
    elif outcome.ok:
        values |= {"state": State.SENT, "sent_at": now, "next_attempt_at": None}
    elif outcome.retryable and outcome.attempts < policy.max_attempts:
        values |= {
            "state": State.PENDING,
            "next_attempt_at": now + backoff(outcome.attempts, policy),
        }
    else:
        values |= {"state": State.FAILED, "next_attempt_at": None}
    if outcome.error:
        values["last_error"] = storable(outcome.error, limit=1024)
    session.execute(
        update(Notification)
        .where(col(Notification.id) == outcome.id, col(Notification.state) == State.PENDING)
        .values(**values)
    )
    return str(values["state"])


def paged_channels(session: Session, *, incident_id: int) -> set[str]:
    """Channels that escalation steps have addressed for this incident."""
    query = select(Notification.channel).where(
        Notification.incident_id == incident_id, Notification.kind == Kind.ESCALATION
    )
    return set(session.exec(query.distinct()).all())


def skipped_channels(session: Session, *, incident_id: int) -> dict[str, str]:
    """Channels some message of this incident was skipped for, and why."""
    query = select(Notification.channel, Notification.last_error).where(
        Notification.incident_id == incident_id, Notification.state == State.SKIPPED
    )
    rows = session.exec(query.distinct()).all()
    return {channel: reason.removeprefix("disabled: ") for channel, reason in sorted(rows)}


def list_page(
    session: Session, *, incident_id: int | None, limit: int, before_id: int | None
) -> tuple[list[Notification], int | None]:
    """Newest first, optionally for one incident; returns the page and the next cursor."""
    where = [] if incident_id is None else [col(Notification.incident_id) == incident_id]
    return newest_first(session, Notification, where=where, limit=limit, before_id=before_id)
