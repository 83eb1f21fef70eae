"""``GET /api/v1/me``: who the caller is and what it may do."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.auth.sessions import csrf_token
from app.http.deps import PrincipalDep
from app.http.responses import errors

router = APIRouter(tags=["auth"], responses=errors(401, 503))


@router.get("/api/v1/me")
def me(request: Request, principal: PrincipalDep) -> dict[str, object]:
    """Signed in by cookie or proxy: also the ``csrf_token`` to send in ``X-CSRF-Token``."""
    if principal.auth == "token":
        return principal.as_dict()
    return {**principal.as_dict(), "csrf_token": csrf_token(request)}
