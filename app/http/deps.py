"""Annotated dependencies: ``ServicesDep``, ``PrincipalDep`` and permission checks.

A caller is, in this order: a Bearer (or Basic) token — the bootstrap admin token or an API
token; a signed session cookie (re-checked against what opened it every time); or a user
named by a trusted reverse proxy (by its socket address). A JSON write by cookie or proxy
needs the session's CSRF token in ``X-CSRF-Token``; HTML forms carry it in a field.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPBearer

from app.auth import registry, sessions
from app.auth.principals import PERMISSIONS, Principal, Role
from app.auth.proxy import proxy_principal, recheck
from app.auth.tokens import credential
from app.errors import Forbidden, Unauthorized
from app.http.csrf import check_csrf
from app.http.forwarded import socket_peer
from app.state import Services

log = logging.getLogger(__name__)

BOOTSTRAP_ADMIN = "admin"


async def get_services(request: Request) -> Services:
    """Async on purpose: a plain ``def`` dependency costs a thread-pool hop per request."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def principal_for_token(services: Services, token: str) -> Principal | None:
    """The principal of a bootstrap or API token, or None."""
    if services.admin_tokens.accepts(token):
        return Principal(name=BOOTSTRAP_ADMIN, role=Role.ADMIN)
    with services.db.session() as session:
        return registry.principal_for(session, token)


def _recheck(
    services: Services, request: Request, data: dict[str, Any]
) -> tuple[Principal | None, str]:
    """The session's principal if what opened it still holds (else None), and why."""
    source, signed = data.get("source"), str(data.get("digest", ""))
    principal = sessions.principal_of(data)
    if source == "token":
        with services.db.session() as session:
            still = registry.principal_by_digest(session, signed)
        return (principal, "kept") if still else (None, "its token was revoked")
    if source == "admin":
        if services.admin_tokens.accepts_digest(signed):
            return principal, "kept"
        return None, "the admin token changed"
    if source == "proxy":
        return recheck(
            services.config.auth.proxy,
            client=socket_peer(request),
            headers=request.headers,
            signed_in=principal,
        )
    return None, f"unknown sign-in source {source!r}"


def _from_session(services: Services, request: Request) -> Principal | None:
    """The signed-in principal, re-checked against what opened the session (else None)."""
    data = sessions.stored(request)
    if data is None:
        return None
    try:
        principal, reason = _recheck(services, request, data)
    except (KeyError, ValueError):  # written by an older version: sign in again
        principal, reason = None, "the session data is not understood"
    if principal is None:
        log.info("session ended", extra={"source": data.get("source"), "reason": reason})
        sessions.sign_out(request)
    return principal


# Declared for the OpenAPI document (app.api.docs); the values are read from the request,
# since a token may also come as Basic credentials.
BEARER = HTTPBearer(
    scheme_name="bearerToken",
    auto_error=False,
    description="An API token (`runbook-router tokens create`) or the admin token; the "
    "webhook takes an ingest token. No CSRF token is needed.",
)
SESSION = APIKeyCookie(
    name="rr_session",
    scheme_name="sessionCookie",
    auto_error=False,
    description="The session a person opens at /login (or through the trusted proxy).",
)
CSRF = APIKeyHeader(
    name=sessions.CSRF_HEADER,
    scheme_name="csrfHeader",
    auto_error=False,
    description="With the session cookie (or the proxy), every write (POST, PATCH, PUT, "
    "DELETE) needs the session's CSRF token: `csrf_token` in GET /api/v1/me.",
)


def resolve_principal(
    request: Request,
    services: ServicesDep,
    _bearer: Annotated[object, Security(BEARER)],
    _session: Annotated[object, Security(SESSION)],
) -> Principal:
    """Resolve the caller or raise 401 saying how to authenticate (no CSRF check)."""
    token = credential(request.headers.get("authorization"))
    if token is not None:
        principal = principal_for_token(services, token)
        if principal is None:
            raise Unauthorized(
                "the token is not valid (unknown or revoked)",
                hint="check the token, or ask an admin for a new one",
            )
        return principal
    found = _from_session(services, request) or proxy_principal(
        services.config.auth.proxy, client=socket_peer(request), headers=request.headers
    )
    if found is None:
        raise Unauthorized(
            "you are not signed in",
            hint="sign in at /login with your token, or send 'Authorization: Bearer <token>'",
        )
    return found


def get_principal(
    request: Request,
    principal: Annotated[Principal, Depends(resolve_principal)],
    _csrf: Annotated[object, Security(CSRF)],
) -> Principal:
    """The caller of a JSON route: a write by cookie or proxy must carry X-CSRF-Token (403)."""
    check_csrf(request, principal)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
# HTML form posts check the csrf_token field of their form instead (``check_csrf``).
FormPrincipalDep = Annotated[Principal, Depends(resolve_principal)]


def require(permission: str) -> Callable[[Principal], Principal]:
    """A dependency that lets only principals with ``permission`` through (403 otherwise)."""
    return _permission_check(permission, get_principal)


def require_on_form(permission: str) -> Callable[[Principal], Principal]:
    """As ``require``, for a form post that checks its own ``csrf_token`` field."""
    return _permission_check(permission, resolve_principal)


def _permission_check(
    permission: str, resolve: Callable[..., Principal]
) -> Callable[[Principal], Principal]:
    # A default, not an annotation: with postponed annotations FastAPI would look ``resolve``
    # up among the module's globals.
    def check(principal: Principal = Depends(resolve)) -> Principal:  # noqa: B008
        if not principal.can(permission):
            needed = next((r.value for r in Role if permission in PERMISSIONS[r]), "admin")
            raise Forbidden(
                f"this needs the {needed} role (permission '{permission}'); "
                f"you are {principal.role.value}",
                hint="ask an admin for a token with that role",
            )
        return principal

    return check
