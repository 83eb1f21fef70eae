"""Browser sessions: a signed, HttpOnly, SameSite=Lax cookie, and CSRF tokens.

The session holds who signed in, how (``source``: admin, token or proxy) and a digest of the
credential used, re-checked on every request: revoking a token, or turning the proxy sign-in
off, ends the sessions opened with it. A session lasts ``auth.session_hours`` (the cookie's
Max-Age and the signature's age limit). Its CSRF token guards every write made with the
cookie: the ``csrf_token`` field of a form, or the ``X-CSRF-Token`` header of an API call.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import Request
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp

from app.auth.principals import Principal, Role
from app.errors import CsrfFailed

SESSION_KEY = "who"
CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class SessionCookies(SessionMiddleware):
    """Starlette's signed-cookie sessions, lasting what ``lifetime()`` says (in seconds).

    The lifetime is read for each request, since the configuration that sets it is loaded by
    the lifespan, after the middleware is built. It is both the cookie's Max-Age and the age
    limit of the signature's timestamp.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        lifetime: Callable[[], int],
        secret_key: str,
        session_cookie: str,
        https_only: bool,
    ) -> None:
        self._lifetime = lifetime
        super().__init__(app, secret_key, session_cookie, same_site="lax", https_only=https_only)

    @property
    def max_age(self) -> int:
        return self._lifetime()

    @max_age.setter
    def max_age(self, _: int | None) -> None:
        """The base class sets a fixed value here; ``lifetime()`` is read instead."""


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


def _matches(request: Request, submitted: str | None) -> bool:
    expected = request.session.get(CSRF_KEY) if "session" in request.scope else None
    return (
        isinstance(expected, str)
        and bool(submitted)
        and hmac.compare_digest(expected.encode(), (submitted or "").encode())
    )


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a form post whose CSRF token does not match the session's (403)."""
    if not _matches(request, submitted):
        raise CsrfFailed(
            "the form was not sent from this site's page (CSRF check failed)",
            hint="reload the page and try again",
        )


def check_csrf_header(request: Request) -> None:
    """Refuse an API write made with the session cookie (or the proxy) without the token."""
    if not _matches(request, request.headers.get(CSRF_HEADER)):
        raise CsrfFailed(
            f"a write signed in by cookie or proxy needs the session's CSRF token in the "
            f"{CSRF_HEADER} header (CSRF check failed)",
            hint=f"send {CSRF_HEADER}: <csrf_token from GET /api/v1/me>, "
            "or authenticate with 'Authorization: Bearer <token>'",
        )
