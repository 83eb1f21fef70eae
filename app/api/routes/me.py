"""``GET /api/v1/me``: who the caller is and what it may do."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import PrincipalDep

router = APIRouter(tags=["auth"])


@router.get("/api/v1/me")
def me(principal: PrincipalDep) -> dict[str, object]:
    return principal.as_dict()
