"""Post-mortems: drafted at resolve time when required, then edited and reviewed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from app.classification.catalog import ChecklistItem
from app.db import newest_first
from app.errors import InvalidTransition, NotFound
from app.incidents.models import Incident
from app.postmortems.models import Postmortem, PostmortemStatus, transition
from app.postmortems.report import TEMPLATE, context_for
from app.runbooks.renderer import Renderer, RenderError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PostmortemChanges:
    title: str | None = None
    body: str | None = None
    status: PostmortemStatus | None = None


def required(*, severity: str, required_for: Sequence[str]) -> bool:
    """Whether an incident of ``severity`` needs a post-mortem (case-insensitive)."""
    return severity.strip().lower() in {s.strip().lower() for s in required_for}


def _render(renderer: Renderer, context: dict[str, object], incident_id: int) -> str:
    try:
        return renderer.render_markdown(TEMPLATE, context)
    except RenderError as err:
        log.error(
            "post-mortem template failed; draft left for a person to write",
            extra={"incident_id": incident_id, "error": err.message},
        )
        return f"# Post-mortem\n\nThe draft could not be generated: {err.message}\n"


def draft_on_resolve(
    session: Session,
    *,
    incident: Incident,
    required_for: Sequence[str],
    checklist: Sequence[ChecklistItem],
    renderer: Renderer,
    timezone: str,
    now: datetime,
) -> Postmortem | None:
    """Create (or refresh, while nobody edited it) the draft of a resolved incident."""
    assert incident.id is not None
    if not required(severity=incident.severity, required_for=required_for):
        return None
    context = context_for(
        session, incident=incident, checklist=checklist, timezone=timezone, now=now
    )
    body = _render(renderer, context, incident.id)
    query = select(Postmortem).where(Postmortem.incident_id == incident.id)
    existing = session.exec(query).first()
    if existing is not None:
        if existing.status == PostmortemStatus.DRAFT and existing.updated_by is None:
            existing.body, existing.updated_at = body, now
        return existing
    postmortem = Postmortem(
        incident_id=incident.id,
        runbook_class=incident.runbook_class,
        severity=incident.severity,
        status=PostmortemStatus.DRAFT,
        title=f"Post-mortem: {incident.title}"[:512],
        body=body,
        created_at=now,
        updated_at=now,
    )
    session.add(postmortem)
    log.info(
        "post-mortem drafted",
        extra={"incident_id": incident.id, "class": incident.runbook_class},
    )
    return postmortem


def get(session: Session, *, postmortem_id: int, lock: bool = False) -> Postmortem:
    """The post-mortem, or NotFound naming the id."""
    postmortem = session.get(Postmortem, postmortem_id, with_for_update=lock)
    if postmortem is None:
        raise NotFound(
            f"post-mortem {postmortem_id} does not exist",
            hint="list post-mortems at GET /api/v1/postmortems",
        )
    return postmortem


def of_incident(session: Session, *, incident_id: int) -> Postmortem:
    """The post-mortem of an incident, or NotFound explaining when one exists."""
    query = select(Postmortem).where(Postmortem.incident_id == incident_id)
    postmortem = session.exec(query).first()
    if postmortem is None:
        raise NotFound(
            f"incident {incident_id} has no post-mortem",
            hint="drafts are made when an incident of a required severity resolves "
            "(postmortems.required_for, or the runbook's postmortem.required_for)",
        )
    return postmortem


def list_page(
    session: Session,
    *,
    status: PostmortemStatus | None,
    runbook_class: str | None,
    limit: int,
    before_id: int | None,
) -> tuple[list[Postmortem], int | None]:
    """Newest first; returns the page and the cursor of the next one (or None)."""
    where = [
        col(column) == value
        for column, value in (
            (Postmortem.status, status),
            (Postmortem.runbook_class, runbook_class),
        )
        if value is not None
    ]
    return newest_first(session, Postmortem, where=where, limit=limit, before_id=before_id)


def update(
    session: Session,
    *,
    postmortem_id: int,
    changes: PostmortemChanges,
    actor: str,
    now: datetime,
) -> Postmortem:
    """Edit title/body and move the review status (a published one is read-only)."""
    postmortem = get(session, postmortem_id=postmortem_id, lock=True)
    current = PostmortemStatus(postmortem.status)
    if changes.status is not None and changes.status != current:
        rule = transition(current, changes.status)
        postmortem.status = current = changes.status
        postmortem.published_at = now if current is PostmortemStatus.PUBLISHED else None
        log.info(
            "post-mortem status changed",
            extra={"postmortem_id": postmortem_id, "status": current.value, "rule": rule},
        )
    edits = changes.title is not None or changes.body is not None
    if edits and current is PostmortemStatus.PUBLISHED:
        raise InvalidTransition(
            "a published post-mortem is read-only",
            current=current.value,
            hint="set status to in_review to edit it",
        )
    if changes.title is not None:
        postmortem.title = changes.title
    if changes.body is not None:
        postmortem.body = changes.body
    postmortem.updated_by, postmortem.updated_at = actor, now
    return postmortem
