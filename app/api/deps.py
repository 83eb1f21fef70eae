"""Annotated dependencies: ``ServicesDep``, ``PrincipalDep`` and permission checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from app.auth.principals import Principal, Role
from app.auth.tokens import credential
from app.errors import Forbidden, Unauthorized
from app.state import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_principal(
    services: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """Resolve the caller from its token (roles beyond the bootstrap admin come later)."""
    token = credential(authorization)
    if token is None:
        raise Unauthorized("no token given", hint="send 'Authorization: Bearer <token>'")
    if services.admin_tokens.accepts(token):
        return Principal(name="admin", role=Role.ADMIN)
    raise Unauthorized("the token is not valid", hint="check the token or create a new one")


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(permission: str) -> Callable[[Principal], Principal]:
    """A dependency that lets only principals with ``permission`` through (403 otherwise)."""

    def check(principal: PrincipalDep) -> Principal:
        if not principal.can(permission):
            raise Forbidden(
                f"your role '{principal.role}' cannot do this: it needs '{permission}'",
                hint="ask an admin for a token with a role that has this permission",
            )
        return principal

    return check
