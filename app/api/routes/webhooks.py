"""``POST /api/v1/webhooks/alertmanager``: Alertmanager's webhook receiver.

The one hot path. ``WebhookApp`` serves it as plain ASGI in front of the framework (the app
routes that path here before FastAPI's middleware and router, which cost more than the rest
of a repeat's answer), with the same request id, security headers and error handlers
(``app.http.errors``) as every other endpoint. The FastAPI route below documents it in the
OpenAPI schema and serves it if the app is mounted without ``RunbookRouterApp``.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from app.alerts.receiver import receive
from app.errors import DomainError
from app.http.deps import ServicesDep
from app.http.errors import domain_error, unexpected_error
from app.http.middleware import RequestIdMiddleware, SecurityHeadersMiddleware
from app.http.responses import errors
from app.state import Services

PATH = "/api/v1/webhooks/alertmanager"

router = APIRouter(tags=["webhooks"])


async def _handle(services: Services, request: Request) -> Response:
    headers = request.headers
    result = await receive(
        services,
        authorization=headers.get("authorization"),
        user_agent=headers.get("user-agent"),
        chunks=request.stream(),
        content_length=headers.get("content-length"),
    )
    return Response(orjson.dumps(result.as_response()), media_type="application/json")


@router.post(
    PATH,
    responses=errors(401, 413, 422, 503),
    openapi_extra={"security": [{"bearerToken": []}]},  # an ingest token
)
async def alertmanager_webhook(request: Request, services: ServicesDep) -> Response:
    """Store an Alertmanager v4 payload; 200 with counts once it is committed."""
    return await _handle(services, request)


class WebhookApp:
    """The webhook as plain ASGI: request id, security headers, JSON errors, no framework."""

    def __init__(self, services: Callable[[], Services]) -> None:
        self._services = services
        self.app = RequestIdMiddleware(SecurityHeadersMiddleware(self._serve))

    @staticmethod
    def handles(scope: Scope) -> bool:
        return (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in (PATH, scope.get("root_path", "") + PATH)
        )

    async def _serve(self, scope: Scope, receive_: Receive, send: Send) -> None:
        request = Request(scope, receive_)
        response: Response
        try:
            response = await _handle(self._services(), request)
        except DomainError as err:
            response = await domain_error(request, err)
        except Exception as err:  # never a stack trace to the client
            response = await unexpected_error(request, err)
        await response(scope, receive_, send)
