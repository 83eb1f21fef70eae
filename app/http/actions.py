"""Responder actions shared by the API and the pages: ``scoped_write`` and the changes.

Every responder write (an incident action, a post-mortem edit, an action item) goes through
``scoped_write``: lock the object, check the principal's team scope (403), apply the change,
commit once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlmodel import Session

from app.auth.permissions import check_can_act
from app.auth.principals import Principal
from app.incidents import service
from app.postmortems import service as postmortems
from app.postmortems.models import ActionItem
from app.state import Services

T = TypeVar("T")
Change = Callable[[Session, datetime], object]


@dataclass(frozen=True, slots=True)
class Scope:
    """What a write touches: ``runbook_class`` locks it and answers its class (None: missing)."""

    what: str
    runbook_class: Callable[[Session], str | None]


def scoped_write(
    services: Services, *, who: Principal, scope: Scope, change: Callable[[Session, datetime], T]
) -> T:
    """Refuse (403) outside ``who``'s team scope; else apply ``change`` and commit, once.

    A missing object is left to ``change`` (the service's 404).
    """
    with services.db.write_session() as session:
        runbook_class = scope.runbook_class(session)
        if runbook_class is not None:
            team = runbook_team(services, runbook_class)
            check_can_act(who, runbook_team=team, what=scope.what)
        return change(session, services.clock())


def incident(incident_id: int) -> Scope:
    def runbook_class(session: Session) -> str:
        return service.get(session, incident_id=incident_id, lock=True).runbook_class

    return Scope("incident", runbook_class)


def postmortem(postmortem_id: int) -> Scope:
    def runbook_class(session: Session) -> str:
        return postmortems.get(session, postmortem_id=postmortem_id, lock=True).runbook_class

    return Scope("post-mortem", runbook_class)


def action_item(item_id: int) -> Scope:
    """The post-mortem of the item (a missing item is the service's 404)."""

    def runbook_class(session: Session) -> str | None:
        item = session.get(ActionItem, item_id, with_for_update=True)
        return None if item is None else postmortem(item.postmortem_id).runbook_class(session)

    return Scope("post-mortem", runbook_class)


def runbook_team(services: Services, runbook_class: str) -> str:
    runbook = services.catalog.runbooks.get(runbook_class)
    return runbook.meta.team if runbook else ""


def checklist_ids(services: Services, runbook_class: str) -> list[str]:
    runbook = services.catalog.runbooks.get(runbook_class)
    return [item.id for item in runbook.meta.checklist] if runbook else []


def acknowledge(who: Principal, incident_id: int) -> Change:
    return lambda s, now: service.acknowledge(s, incident_id=incident_id, actor=who.name, now=now)


def resolve(who: Principal, incident_id: int, note: str | None) -> Change:
    return lambda s, now: service.resolve(
        s, incident_id=incident_id, actor=who.name, note=note, now=now
    )


def note(who: Principal, incident_id: int, text: str) -> Change:
    return lambda s, now: service.add_note(
        s, incident_id=incident_id, actor=who.name, text=text, now=now
    )


def tick(services: Services, who: Principal, incident_id: int, step_id: str) -> Change:
    def change(session: Session, now: datetime) -> object:
        incident = service.get(session, incident_id=incident_id)
        return service.tick_step(
            session,
            incident_id=incident_id,
            step_id=step_id,
            known_steps=checklist_ids(services, incident.runbook_class),
            actor=who.name,
            now=now,
        )

    return change
