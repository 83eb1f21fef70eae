"""The benchmark's baseline: a bare Starlette app that reads the body and answers small JSON.

It runs under uvicorn exactly like ``runbook-router serve`` does (``uvicorn.run`` with the
default ``loop="auto"``/``http="auto"``, so uvloop and httptools with ``uvicorn[standard]``;
no access log; one worker), so the ratio between the two request rates is the cost of the
service itself. Like the service it echoes ``X-Request-ID``, which the wrk script uses to
track requests.

    python bench/bare_app.py --host 127.0.0.1 --port 8099 --log-level warning
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def webhook(request: Request) -> JSONResponse:
    body = await request.body()
    request_id = request.headers.get("x-request-id", "-")
    return JSONResponse({"ok": True, "bytes": len(body)}, headers={"x-request-id": request_id})


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/api/v1/webhooks/alertmanager", webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    main()
