"""Responder actions shared by the API and the pages: scope check + change, one transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from app.auth.permissions import check_can_act
from app.auth.principals import Principal
from app.incidents import service
from app.postmortems import service as postmortems
from app.postmortems.models import ActionItem
from app.state import Services

Change = Callable[[Session, datetime], object]


def runbook_team(services: Services, runbook_class: str) -> str:
    runbook = services.catalog.runbooks.get(runbook_class)
    return runbook.meta.team if runbook else ""


def checklist_ids(services: Services, runbook_class: str) -> list[str]:
    runbook = services.catalog.runbooks.get(runbook_class)
    return [item.id for item in runbook.meta.checklist] if runbook else []


def perform(services: Services, *, incident_id: int, who: Principal, change: Change) -> None:
    """Refuse (403) outside the principal's team scope; else apply ``change`` and commit."""
    with services.db.write_session() as session:
        incident = service.get(session, incident_id=incident_id, lock=True)
        check_can_act(who, runbook_team=runbook_team(services, incident.runbook_class))
        change(session, services.clock())


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


def check_postmortem(
    services: Services, session: Session, who: Principal, postmortem_id: int
) -> None:
    """403 unless ``who`` may edit it: responders of its runbook's team (or of a no-team one)."""
    postmortem = postmortems.get(session, postmortem_id=postmortem_id, lock=True)
    team = runbook_team(services, postmortem.runbook_class)
    check_can_act(who, runbook_team=team, what="post-mortem")


def check_item(services: Services, session: Session, who: Principal, item_id: int) -> None:
    """As ``check_postmortem``, for an action item (a missing one is the service's 404)."""
    item = session.get(ActionItem, item_id, with_for_update=True)
    if item is not None:
        check_postmortem(services, session, who, item.postmortem_id)
