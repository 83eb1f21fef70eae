"""One place that turns errors into ``{"error": {"code", "message", "hint"}}`` answers."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import DomainError, InvalidTransition, Unauthorized
from app.http.views import templates

log = logging.getLogger(__name__)


def error_response(
    status: int, code: str, message: str, hint: str = "", **extra: object
) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message, "hint": hint, **extra}
    headers = {"WWW-Authenticate": 'Bearer realm="runbook-router"'} if status == 401 else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)


_HEADINGS = {
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    422: "Invalid request",
    503: "Temporarily unavailable",
}


def _wants_html(request: Request) -> bool:
    """People get a readable page; the API and machines get JSON."""
    path = request.url.path
    if path.startswith("/api/") or path in ("/metrics", "/healthz", "/readyz"):
        return False
    return "text/html" in request.headers.get("accept", "")


def respond(
    request: Request, status: int, code: str, message: str, hint: str = "", **extra: object
) -> Response:
    if not _wants_html(request):
        return error_response(status, code, message, hint, **extra)
    if status == 401:  # a person following a link: sign in, then come back
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    heading = _HEADINGS.get(status, "Something went wrong")
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "heading": heading, "message": message, "hint": hint, "principal": None},
        status_code=status,
    )


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    extra = {"current": exc.current} if isinstance(exc, InvalidTransition) else {}
    if exc.status_code >= 500:
        log.error("request failed", extra={"code": exc.code, "error": exc.message})
    return respond(request, exc.status_code, exc.code, exc.message, exc.hint, **extra)


async def _validation(request: Request, exc: Exception) -> Response:
    """422 naming each parameter or body field that is wrong (at most three)."""
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
    ]
    message = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if problems[3:] else "")
    return respond(request, 422, "invalid_request", message, "see the API reference in README.md")


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    hint = "see / for incidents and /runbooks for runbooks" if exc.status_code == 404 else ""
    return respond(request, exc.status_code, "http_error", str(exc.detail), hint)


async def _storage(request: Request, exc: Exception) -> Response:
    log.error("storage unavailable", extra={"error": type(exc).__name__})
    return respond(
        request,
        503,
        "storage_unavailable",
        "the database is unavailable",
        "this is transient; retry shortly",
    )


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    return respond(
        request,
        500,
        "internal",
        "an internal error occurred",
        "the server log has the details under this request id",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(SQLAlchemyError, _storage)
    app.add_exception_handler(Exception, unexpected_error)


__all__ = [
    "Unauthorized",
    "domain_error",
    "error_response",
    "install_error_handlers",
    "unexpected_error",
]
