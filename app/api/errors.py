"""One place that turns errors into ``{"error": {"code", "message", "hint"}}`` answers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import DomainError, InvalidTransition, Unauthorized

log = logging.getLogger(__name__)


def error_response(
    status: int, code: str, message: str, hint: str = "", **extra: object
) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message, "hint": hint, **extra}
    headers = {"WWW-Authenticate": 'Bearer realm="runbook-router"'} if status == 401 else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)


async def _domain(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    extra = {"current": exc.current} if isinstance(exc, InvalidTransition) else {}
    if exc.status_code >= 500:
        log.error("request failed", extra={"code": exc.code, "error": exc.message})
    return error_response(exc.status_code, exc.code, exc.message, exc.hint, **extra)


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return error_response(
        422, "invalid_request", f"{where}: {first['msg']}", "see the API reference in README.md"
    )


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, "http_error", str(exc.detail))


async def _storage(_: Request, exc: Exception) -> JSONResponse:
    log.error("storage unavailable", extra={"error": type(exc).__name__})
    return error_response(
        503,
        "storage_unavailable",
        "the database is unavailable",
        "this is transient; retry shortly",
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc)
    return error_response(
        500,
        "internal",
        "an internal error occurred",
        "the server log has the details under this request id",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(SQLAlchemyError, _storage)
    app.add_exception_handler(Exception, _unexpected)


__all__ = ["Unauthorized", "error_response", "install_error_handlers"]
