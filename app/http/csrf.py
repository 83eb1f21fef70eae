"""The one CSRF rule, for the API's cookie check and every form post.

A write by a cookie session or the trusted proxy (or by nobody yet: sign in, sign out) must carry
the session's CSRF token: a form in its ``csrf_token`` field, a JSON call in ``X-CSRF-Token``.
A caller with a token (Bearer or Basic) needs none, nor does a read.
"""

from __future__ import annotations

from fastapi import Request

from app.auth import sessions
from app.auth.principals import Principal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check_csrf(request: Request, who: Principal | None, *, form_token: str | None = None) -> None:
    """Raise CsrfFailed (403) for a write that needs the token and lacks it.

    ``form_token`` is the ``csrf_token`` field of a form post; without it (None) the token is
    read from the ``X-CSRF-Token`` header.
    """
    if request.method in SAFE_METHODS or (who is not None and who.auth == "token"):
        return
    if form_token is None:
        sessions.check_csrf_header(request)
    else:
        sessions.check_csrf(request, form_token)
