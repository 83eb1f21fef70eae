"""Browser sessions: a signed, HttpOnly, SameSite=Lax cookie, and CSRF tokens for forms.

The session holds who signed in and a digest of the credential used, re-checked on every
request, so revoking a token also ends the sessions opened with it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from fastapi import Request

from app.auth.principals import Principal, Role
from app.errors import Forbidden

SESSION_KEY = "who"
CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"


def session_secret(explicit: str, admin_token: str) -> str:
    """The configured secret, else one derived from the admin token (shared by replicas)."""
    if explicit:
        return explicit
    if admin_token:
        return hmac.new(admin_token.encode(), b"runbook-router session", hashlib.sha256).hexdigest()
    return secrets.token_urlsafe(32)


def sign_in(request: Request, principal: Principal, *, credential_digest: str) -> None:
    request.session.clear()
    request.session[SESSION_KEY] = {
        "name": principal.name,
        "role": principal.role.value,
        "team": principal.team,
        "timezone": principal.timezone,
        "source": principal.auth,
        "digest": credential_digest,
    }
    request.session[CSRF_KEY] = secrets.token_urlsafe(24)


def sign_out(request: Request) -> None:
    request.session.clear()


def stored(request: Request) -> dict[str, Any] | None:
    if "session" not in request.scope:
        return None
    value = request.session.get(SESSION_KEY)
    return value if isinstance(value, dict) else None


def principal_of(data: dict[str, Any]) -> Principal:
    return Principal(
        name=str(data["name"]),
        role=Role(data["role"]),
        team=str(data["team"]),
        timezone=str(data.get("timezone", "")),
        auth="session",
    )


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    if "session" not in request.scope:
        return ""
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session[CSRF_KEY] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a form post whose CSRF token does not match the session's (403)."""
    expected = request.session.get(CSRF_KEY) if "session" in request.scope else None
    if (
        not isinstance(expected, str)
        or not submitted
        or not hmac.compare_digest(expected, submitted)
    ):
        raise Forbidden(
            "the form was not sent from this site's page (CSRF check failed)",
            hint="reload the page and try again",
        )
