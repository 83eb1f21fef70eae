"""Form posts from the incident page: the same actions as the API, CSRF-checked, then back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from app.auth.principals import Principal
from app.http import actions
from app.http.csrf import check_csrf
from app.http.deps import ServicesDep, require_on_form
from app.http.params import Id
from app.urls import incident_url

router = APIRouter(prefix="/incidents/{incident_id}", include_in_schema=False)
Csrf = Annotated[str, Form()]
Actor = Annotated[Principal, Depends(require_on_form("incidents:act"))]


async def _do(
    request: Request,
    services: ServicesDep,
    incident_id: int,
    who: Principal,
    csrf_token: str,
    change: actions.Change,
) -> RedirectResponse:
    check_csrf(request, who, form_token=csrf_token)  # the form must come from our own page
    scope = actions.incident(incident_id)
    await run_in_threadpool(
        lambda: actions.scoped_write(services, who=who, scope=scope, change=change)
    )
    return RedirectResponse(incident_url("", incident_id), status_code=303)


@router.post("/ack")
async def ack(
    incident_id: Id, request: Request, services: ServicesDep, who: Actor, csrf_token: Csrf = ""
) -> RedirectResponse:
    change = actions.acknowledge(who, incident_id)
    return await _do(request, services, incident_id, who, csrf_token, change)


@router.post("/resolve")
async def resolve(
    incident_id: Id,
    request: Request,
    services: ServicesDep,
    who: Actor,
    csrf_token: Csrf = "",
    note: Annotated[str, Form(max_length=8192)] = "",
) -> RedirectResponse:
    change = actions.resolve(who, incident_id, note.strip() or None)
    return await _do(request, services, incident_id, who, csrf_token, change)


@router.post("/notes")
async def add_note(
    incident_id: Id,
    request: Request,
    services: ServicesDep,
    who: Actor,
    text: Annotated[str, Form(min_length=1, max_length=8192)],
    csrf_token: Csrf = "",
) -> RedirectResponse:
    change = actions.note(who, incident_id, text.strip())
    return await _do(request, services, incident_id, who, csrf_token, change)


@router.post("/steps/{step_id}")
async def tick(
    incident_id: Id,
    step_id: str,
    request: Request,
    services: ServicesDep,
    who: Actor,
    csrf_token: Csrf = "",
) -> RedirectResponse:
    change = actions.tick(services, who, incident_id, step_id)
    return await _do(request, services, incident_id, who, csrf_token, change)
