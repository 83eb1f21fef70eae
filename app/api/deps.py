"""Annotated dependencies: ``ServicesDep``, ``PrincipalDep`` and permission checks.

A caller is, in this order: a Bearer (or Basic) token — the bootstrap admin token or an API
token; a signed session cookie (re-checked against its credential every time); or a user
named by a trusted reverse proxy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from app.auth import registry, sessions
from app.auth.principals import PERMISSIONS, Principal, Role
from app.auth.proxy import proxy_principal
from app.auth.tokens import credential
from app.errors import Forbidden, Unauthorized
from app.state import Services

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


def _from_session(services: Services, request: Request) -> Principal | None:
    data = sessions.stored(request)
    if data is None:
        return None
    source, signed = data.get("source"), str(data.get("digest", ""))
    if source == "token":
        with services.db.session() as session:
            still = registry.principal_by_digest(session, signed)
        if still is None:  # revoked since sign-in
            sessions.sign_out(request)
            return None
    elif source == "admin" and not services.admin_tokens.accepts_digest(signed):
        sessions.sign_out(request)
        return None
    return sessions.principal_of(data)


def get_principal(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    """Resolve the caller or raise 401 saying how to authenticate."""
    token = credential(authorization)
    if token is not None:
        principal = principal_for_token(services, token)
        if principal is None:
            raise Unauthorized(
                "the token is not valid (unknown or revoked)",
                hint="check the token, or ask an admin for a new one",
            )
        return principal
    found = _from_session(services, request) or proxy_principal(
        services.config.auth.proxy,
        client=request.client.host if request.client else None,
        headers=request.headers,
    )
    if found is None:
        raise Unauthorized(
            "you are not signed in",
            hint="sign in at /login with your token, or send 'Authorization: Bearer <token>'",
        )
    return found


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(permission: str) -> Callable[[Principal], Principal]:
    """A dependency that lets only principals with ``permission`` through (403 otherwise)."""

    def check(principal: PrincipalDep) -> Principal:
        if not principal.can(permission):
            needed = next((r.value for r in Role if permission in PERMISSIONS[r]), "admin")
            raise Forbidden(
                f"this needs the {needed} role (permission '{permission}'); "
                f"you are {principal.role.value}",
                hint="ask an admin for a token with that role",
            )
        return principal

    return check
