"""Post-mortem pages: the list, one post-mortem with its action items, and their form posts.

The posts call the same service functions and the same team check as the API, in one
transaction, then go back to the page (303). A review step the flow does not allow (409) is
shown on the page itself, with what is allowed instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from app.auth.permissions import may_act
from app.auth.principals import Principal
from app.errors import InvalidTransition, NotFound
from app.http import actions as scoped
from app.http.actions import runbook_team
from app.http.csrf import check_csrf
from app.http.deps import FormPrincipalDep, ServicesDep, require_on_form
from app.http.params import Id
from app.http.viewer import viewer_timezone
from app.http.views import templates
from app.postmortems import actions
from app.postmortems import service as postmortems
from app.postmortems.models import TRANSITIONS, ActionStatus, PostmortemStatus
from app.postmortems.schemas import MAX_BODY, ActionItemOut
from app.state import Services
from app.urls import postmortem_url, postmortems_url

router = APIRouter(include_in_schema=False)
Csrf = Annotated[str, Form()]
Editor = Annotated[Principal, Depends(require_on_form("postmortems:edit"))]
Title = Annotated[str, Form(min_length=1, max_length=512)]
STEP_LABELS = {  # (from, to) -> button text
    (PostmortemStatus.DRAFT, PostmortemStatus.IN_REVIEW): "Send to review",
    (PostmortemStatus.IN_REVIEW, PostmortemStatus.DRAFT): "Back to draft",
    (PostmortemStatus.IN_REVIEW, PostmortemStatus.PUBLISHED): "Publish",
    (PostmortemStatus.PUBLISHED, PostmortemStatus.IN_REVIEW): "Reopen for review",
}
Change = Callable[[Session, datetime], object]


def incident_followups(services: Services, incident_id: int) -> dict[str, Any]:
    """For the incident page: its post-mortem (or None), open items of the incidents it recurs."""
    today = services.clock().date()
    with services.db.session() as session:
        inherited = actions.open_items_of_predecessors(session, incident_id=incident_id)
        postmortem = None
        with contextlib.suppress(NotFound):
            postmortem = postmortems.of_incident(session, incident_id=incident_id)
        return {
            "postmortem": postmortem,
            "inherited_items": [ActionItemOut.of(i, today=today) for i in inherited],
        }


@router.get("/postmortems", response_class=HTMLResponse)
async def postmortem_list(
    request: Request,
    services: ServicesDep,
    principal: FormPrincipalDep,
    status: str = "",
    before: Id | None = None,
) -> HTMLResponse:
    """Newest first, filtered by review status and runbook class (empty filters: all)."""
    wanted = next((s for s in PostmortemStatus if s.value == status), None)
    runbook_class = request.query_params.get("class") or None

    def load() -> tuple[list[Any], int | None]:
        with services.db.session() as session:
            page, cursor = postmortems.list_page(
                session, status=wanted, runbook_class=runbook_class, limit=50, before_id=before
            )
            return page, cursor

    page, cursor = await run_in_threadpool(load)
    filters = {"status": wanted.value if wanted else "", "class": runbook_class or ""}
    older = {k: v for k, v in filters.items() if v} | {"before": str(cursor)}
    return templates.TemplateResponse(
        request,
        "postmortems.html",
        {
            "principal": principal,
            "timezone": viewer_timezone(request, services, principal),
            "postmortems": page,
            "older": postmortems_url("", older) if cursor is not None else None,
            "statuses": [s.value for s in PostmortemStatus],
            "classes": services.catalog.classes,
            "filters": filters,
        },
    )


def _page_data(services: Services, postmortem_id: int) -> dict[str, Any]:
    today = services.clock().date()
    with services.db.session() as session:
        postmortem = postmortems.get(session, postmortem_id=postmortem_id)
        items = actions.items_of(session, postmortem_id=postmortem_id)
    current = PostmortemStatus(postmortem.status)
    return {
        "postmortem": postmortem,
        "body_html": services.renderer.to_html(postmortem.body),
        "items": [ActionItemOut.of(i, today=today) for i in items],
        "steps": [(t.value, STEP_LABELS[(c, t)]) for (c, t) in TRANSITIONS if c is current],
        "team": runbook_team(services, postmortem.runbook_class),
        "today": today,
    }


async def _page(
    request: Request,
    services: Services,
    principal: Principal,
    postmortem_id: int,
    conflict: InvalidTransition | None = None,
) -> HTMLResponse:
    data = await run_in_threadpool(_page_data, services, postmortem_id)
    return templates.TemplateResponse(
        request,
        "postmortem.html",
        {
            "principal": principal,
            "timezone": viewer_timezone(request, services, principal),
            "can_edit": may_act(principal, data["team"]),
            "max_body": MAX_BODY,
            "conflict": conflict,
            **data,
        },
        status_code=409 if conflict else 200,
    )


@router.get("/postmortems/{postmortem_id}", response_class=HTMLResponse)
async def postmortem_page(
    postmortem_id: Id, request: Request, services: ServicesDep, principal: FormPrincipalDep
) -> HTMLResponse:
    """The post-mortem rendered from its Markdown, with its action items and (if allowed) forms."""
    return await _page(request, services, principal, postmortem_id)


async def _post(
    request: Request,
    services: Services,
    who: Principal,
    csrf_token: str,
    postmortem_id: int,
    change: Change,
) -> Response:
    """CSRF (for cookie sessions), team scope and the change in one transaction; then back."""
    check_csrf(request, who, form_token=csrf_token)
    scope = scoped.postmortem(postmortem_id)
    try:
        await run_in_threadpool(
            lambda: scoped.scoped_write(services, who=who, scope=scope, change=change)
        )
    except InvalidTransition as err:  # the page again, saying what the flow allows
        return await _page(request, services, who, postmortem_id, conflict=err)
    return RedirectResponse(postmortem_url("", postmortem_id), status_code=303)


def _update(who: Principal, postmortem_id: int, changes: postmortems.PostmortemChanges) -> Change:
    return lambda s, now: postmortems.update(
        s, postmortem_id=postmortem_id, changes=changes, actor=who.name, now=now
    )


@router.post("/postmortems/{postmortem_id}/edit")
async def edit(
    postmortem_id: Id,
    request: Request,
    services: ServicesDep,
    who: Editor,
    title: Title,
    body: Annotated[str | None, Form(max_length=MAX_BODY)] = None,
    csrf_token: Csrf = "",
) -> Response:
    """Title and Markdown body (a published post-mortem is read-only: 409 on the page)."""
    text = body.replace("\r\n", "\n") if body is not None else None  # browsers send CRLF
    changes = postmortems.PostmortemChanges(title=title, body=text)
    change = _update(who, postmortem_id, changes)
    return await _post(request, services, who, csrf_token, postmortem_id, change)


@router.post("/postmortems/{postmortem_id}/status")
async def move(
    postmortem_id: Id,
    request: Request,
    services: ServicesDep,
    who: Editor,
    status: Annotated[PostmortemStatus, Form()],
    csrf_token: Csrf = "",
) -> Response:
    """One step of the review flow (draft, in_review, published); others are a 409."""
    changes = postmortems.PostmortemChanges(status=status)
    change = _update(who, postmortem_id, changes)
    return await _post(request, services, who, csrf_token, postmortem_id, change)


@router.post("/postmortems/{postmortem_id}/action-items")
async def add_item(
    postmortem_id: Id,
    request: Request,
    services: ServicesDep,
    who: Editor,
    title: Title,
    owner: Annotated[str, Form(min_length=1, max_length=256)],
    due_date: Annotated[date, Form()],
    csrf_token: Csrf = "",
) -> Response:
    def change(session: Session, now: datetime) -> object:
        return actions.add(
            session,
            postmortem_id=postmortem_id,
            title=title,
            owner=owner,
            due_date=due_date,
            actor=who.name,
            now=now,
        )

    return await _post(request, services, who, csrf_token, postmortem_id, change)


@router.post("/action-items/{item_id}/status")
async def mark_item(
    item_id: Id,
    request: Request,
    services: ServicesDep,
    who: Editor,
    status: Annotated[ActionStatus, Form()],
    csrf_token: Csrf = "",
) -> Response:
    """Done or open again; back to the item's post-mortem."""
    check_csrf(request, who, form_token=csrf_token)
    changes = actions.ItemChanges(status=status)

    def change(session: Session, now: datetime) -> int:
        return actions.update(session, item_id=item_id, changes=changes, now=now).postmortem_id

    scope = scoped.action_item(item_id)
    postmortem_id = await run_in_threadpool(
        lambda: scoped.scoped_write(services, who=who, scope=scope, change=change)
    )
    return RedirectResponse(postmortem_url("", postmortem_id), status_code=303)
