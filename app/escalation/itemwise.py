"""One bad item never blocks a queue: when a batch's transaction fails, its items are retried
one by one, each in its own transaction, and an item that still fails is given up.

The worker handles queued incident changes and due escalations ``BATCH`` at a time in one
transaction. If the database refuses one item's effects (a post-mortem draft with a value it
cannot store) or handling it raises, the whole batch would fail in every cycle and no other
incident would be notified or escalated again. So a failed batch is retried item by item:

* an incident change that still fails is deleted from the queue (its notifications and
  post-mortem draft are not made);
* an escalation that still fails is stopped (``stopped = 'failed'``; no further levels).

Each given-up item is logged once, with its traceback, and counted in
``runbook_worker_errors_total``. Errors that say the database itself is unavailable (a lost
connection, a lock timeout: ``OperationalError``) give up nothing: they fail the cycle, which
the worker's loop retries after a pause.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session, col, select

from app.db import Database
from app.escalation import dispatch
from app.escalation.models import Escalation, EscalationEvent

log = logging.getLogger(__name__)

Step = Callable[..., tuple[int, int]]  # (session, ctx, *, now, limit, skipped, only)


def transient(err: BaseException) -> bool:
    """Does ``err`` say the database is unavailable rather than refusing this item?"""
    if isinstance(err, DBAPIError) and err.connection_invalidated:
        return True
    return isinstance(err, OperationalError)


def _due_events(session: Session, now: datetime, limit: int) -> list[int]:
    query = select(EscalationEvent.id).order_by(col(EscalationEvent.id)).limit(limit)
    return [i for i in session.exec(query).all() if i is not None]


def _drop_event(session: Session, item: int, now: datetime) -> int | None:
    table = EscalationEvent.__table__  # type: ignore[attr-defined]
    statement = delete(table).where(table.c.id == item).returning(table.c.incident_id)
    found: int | None = session.execute(statement).scalar()
    return found


def _due_escalations(session: Session, now: datetime, limit: int) -> list[int]:
    query = (
        select(Escalation.incident_id)
        .where(col(Escalation.next_at) <= now)
        .order_by(col(Escalation.next_at), col(Escalation.incident_id))
        .limit(limit)
    )
    return list(session.exec(query).all())


def _stop_escalation(session: Session, item: int, now: datetime) -> int | None:
    session.execute(
        update(Escalation)
        .where(col(Escalation.incident_id) == item)
        .values(next_at=None, stopped="failed", updated_at=now)
    )
    return item


@dataclass(frozen=True, slots=True)
class Queue:
    """A kind of work item: how to handle a batch, list due items, and give one up."""

    name: str
    step: Step
    due: Callable[[Session, datetime, int], list[int]]
    give_up: Callable[[Session, int, datetime], int | None]  # returns the incident's id


EVENTS = Queue("incident change", dispatch.route_events, _due_events, _drop_event)
ESCALATIONS = Queue("escalation", dispatch.escalate_due, _due_escalations, _stop_escalation)


def one_by_one(
    db: Database,
    queue: Queue,
    *,
    now: datetime,
    limit: int,
    run: Callable[[int], tuple[int, int]],
    errors: Counter,
) -> tuple[int, int]:
    """Handle up to ``limit`` due items of ``queue``, each with ``run(item)`` in its own
    transaction; give up those that fail. Returns (items, handled) like a batch step."""
    with db.session() as session:
        items = queue.due(session, now, limit)
    handled = 0
    for item in items:
        try:
            handled += run(item)[1]
        except Exception as err:
            if transient(err):
                raise
            with db.write_session() as session:
                incident_id = queue.give_up(session, item, now)
            errors.inc()
            log.error(
                "%s given up",
                queue.name,
                exc_info=err,
                extra={
                    "queue": queue.name,
                    "item": item,
                    "incident_id": incident_id,
                    "reason": f"{type(err).__name__}: {err}"[:500],
                },
            )
    return len(items), handled
