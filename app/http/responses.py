"""The error answers of the JSON API, for the OpenAPI document: ``responses=errors(...)``.

Every error is ``{"error": {"code", "message", "hint"}}`` (``app.http.errors``); a 409 also
carries the current state.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(examples=["not_found"], description="stable, for programs")
    message: str = Field(description="what went wrong, naming the field or parameter")
    hint: str = Field(description="what to do about it (may be empty)")
    current: str | None = Field(default=None, description="409 only: the current state")


class ErrorBody(BaseModel):
    error: ErrorDetail


DESCRIPTIONS = {
    401: "Not signed in, or the token is unknown or revoked: send 'Authorization: Bearer "
    "<token>' or sign in at /login",
    403: "The role or team does not allow it; or a write signed in by cookie or proxy without "
    "the session's CSRF token in X-CSRF-Token (code csrf_failed)",
    404: "No such object",
    409: "Not allowed in the object's current state (error.current holds it)",
    413: "The body is larger than RUNBOOK_ROUTER_MAX_BODY_BYTES, or has too many alerts",
    422: "A parameter or the body is invalid; the message names it",
    503: "The database is unavailable: transient, retry shortly",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entries for these error statuses, each with the error body."""
    return {s: {"model": ErrorBody, "description": DESCRIPTIONS[s]} for s in statuses}


SIGNED_IN = errors(401, 403, 422, 503)  # any route behind a role check
