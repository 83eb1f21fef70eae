"""Sign in with a token (or through the proxy), sign out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.auth import sessions
from app.auth.principals import Principal
from app.auth.proxy import proxy_principal
from app.auth.tokens import digest
from app.http.csrf import check_csrf
from app.http.deps import ServicesDep, principal_for_token
from app.http.forwarded import socket_peer
from app.http.views import templates

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only same-site paths: no scheme, no host, no protocol-relative ``//``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, services: ServicesDep, next: str = "/") -> Response:
    proxied = proxy_principal(
        services.config.auth.proxy,
        client=socket_peer(request),
        headers=request.headers,
    )
    if proxied is not None:
        sessions.sign_in(request, proxied, credential_digest="")
        return RedirectResponse(safe_next(next), status_code=303)
    return templates.TemplateResponse(
        request,
        "login.html",
        {
            "principal": None,
            "next": safe_next(next),
            "error": None,
        },
    )


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    services: ServicesDep,
    token: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    check_csrf(request, None, form_token=csrf_token)
    cleaned = token.strip()
    principal: Principal | None = await run_in_threadpool(principal_for_token, services, cleaned)
    if principal is None:
        return templates.TemplateResponse(
            request,
            "login.html",
            {
                "principal": None,
                "next": safe_next(next),
                "error": "That token is not valid (unknown or revoked). Check it and try again.",
            },
            status_code=401,
        )
    source = "admin" if services.admin_tokens.accepts(cleaned) else "token"
    sessions.sign_in(request, principal.via(source), credential_digest=digest(cleaned).hex())
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, None, form_token=csrf_token)
    sessions.sign_out(request)
    return RedirectResponse("/login", status_code=303)
