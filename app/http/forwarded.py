"""Who really connected: the socket peer, kept before any ``X-Forwarded-For`` is believed.

``runbook-router serve`` runs uvicorn with ``proxy_headers=False``, so uvicorn's own default
(believe ``X-Forwarded-For`` from 127.0.0.1, or from ``FORWARDED_ALLOW_IPS``) never applies.
Here the app records the peer, then, only for the proxies named in
``RUNBOOK_ROUTER_FORWARDED_ALLOW_IPS`` (none by default), lets uvicorn's middleware rewrite
the client address and scheme. Trust decisions (``auth.proxy.trusted``) read the peer only.
"""

from __future__ import annotations

from typing import Any, cast

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

PEER = "socket_peer"


class ForwardedMiddleware:
    """Record the socket peer; believe forwarded headers only from ``trusted`` (comma list)."""

    def __init__(self, app: ASGIApp, *, trusted: str) -> None:
        hosts = [h.strip() for h in trusted.split(",") if h.strip()]
        self.app: ASGIApp = app
        if hosts:  # uvicorn types ASGI apps its own way: the same protocol
            self.app = cast(ASGIApp, ProxyHeadersMiddleware(cast(Any, app), trusted_hosts=hosts))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            scope.setdefault("state", {})[PEER] = client[0] if client else None
        await self.app(scope, receive, send)


def socket_peer(request: Request) -> str | None:
    """The address that opened the connection (None if unknown: then nothing is trusted)."""
    peer = request.scope.get("state", {}).get(PEER)
    return peer if isinstance(peer, str) else None
