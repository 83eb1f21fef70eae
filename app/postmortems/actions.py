"""Action items of post-mortems, and the open ones a recurrence inherits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from app.db import newest_first
from app.errors import NotFound
from app.incidents.models import Incident
from app.postmortems import service as postmortems
from app.postmortems.models import ActionItem, ActionStatus

MAX_CHAIN = 50  # how far back a recurrence chain is followed


@dataclass(frozen=True, slots=True)
class ItemChanges:
    title: str | None = None
    owner: str | None = None
    due_date: date | None = None
    status: ActionStatus | None = None


def items_of(session: Session, *, postmortem_id: int) -> list[ActionItem]:
    query = (
        select(ActionItem)
        .where(ActionItem.postmortem_id == postmortem_id)
        .order_by(col(ActionItem.id))
    )
    return list(session.exec(query).all())


def add(
    session: Session,
    *,
    postmortem_id: int,
    title: str,
    owner: str,
    due_date: date,
    actor: str,
    now: datetime,
) -> ActionItem:
    """A new open action item on a post-mortem, linked to its incident and class."""
    postmortem = postmortems.get(session, postmortem_id=postmortem_id)
    item = ActionItem(
        postmortem_id=postmortem_id,
        incident_id=postmortem.incident_id,
        runbook_class=postmortem.runbook_class,
        title=title,
        owner=owner,
        due_date=due_date,
        status=ActionStatus.OPEN,
        created_at=now,
        created_by=actor,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    return item


def update(session: Session, *, item_id: int, changes: ItemChanges, now: datetime) -> ActionItem:
    """Edit an item; ``done`` records when, reopening clears it."""
    item = session.get(ActionItem, item_id, with_for_update=True)
    if item is None:
        raise NotFound(
            f"action item {item_id} does not exist",
            hint="list them at GET /api/v1/action-items",
        )
    if changes.status is not None and changes.status != item.status:
        item.status = changes.status
        item.done_at = now if changes.status is ActionStatus.DONE else None
    if changes.title is not None:
        item.title = changes.title
    if changes.owner is not None:
        item.owner = changes.owner
    if changes.due_date is not None:
        item.due_date = changes.due_date
    item.updated_at = now
    return item


def list_page(
    session: Session,
    *,
    status: ActionStatus | None,
    runbook_class: str | None,
    owner: str | None,
    limit: int,
    before_id: int | None,
) -> tuple[list[ActionItem], int | None]:
    """Newest first; returns the page and the cursor of the next one (or None)."""
    where = [
        col(column) == value
        for column, value in (
            (ActionItem.status, status),
            (ActionItem.runbook_class, runbook_class),
            (ActionItem.owner, owner),
        )
        if value is not None
    ]
    return newest_first(session, ActionItem, where=where, limit=limit, before_id=before_id)


def predecessors(session: Session, *, incident_id: int) -> list[int]:
    """The incidents this one recurs, nearest first (``recurrence_of``, then its own, ...)."""
    chain: list[int] = []
    incident = session.get(Incident, incident_id)
    while incident is not None and incident.recurrence_of is not None:
        if incident.recurrence_of in chain or len(chain) >= MAX_CHAIN:
            break
        chain.append(incident.recurrence_of)
        incident = session.get(Incident, incident.recurrence_of)
    return chain


def open_items_of_predecessors(session: Session, *, incident_id: int) -> list[ActionItem]:
    """Open action items of every incident this one is a recurrence of (the banner)."""
    chain = predecessors(session, incident_id=incident_id)
    if not chain:
        return []
    query = (
        select(ActionItem)
        .where(col(ActionItem.incident_id).in_(chain), ActionItem.status == ActionStatus.OPEN)
        .order_by(col(ActionItem.due_date), col(ActionItem.id))
    )
    return list(session.exec(query).all())
