"""A real HTTP server on 127.0.0.1 standing in for an allow-listed probe target.

``/api/v1/me`` answers like our own ``/api/v1/me`` for the right Bearer token and 401
otherwise; ``/slow`` answers only once the test releases it (or after ``HOLD`` seconds);
``/redirect`` sends the client to ``/landed``. Every request is recorded (path and
Authorization header), so tests can count what really reached the server.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOLD = 10.0
ME = {
    "name": "probe",
    "role": "viewer",
    "team": "platform",
    "permissions": ["incidents:read", "runbooks:read", "kpis:read"],
    "auth": "token",
}


@dataclass(frozen=True)
class Seen:
    path: str
    authorization: str | None
    user_agent: str | None


class ProbeServer:
    def __init__(self, token: str) -> None:
        self.token = token
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._seen: list[Seen] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        host, port = self.httpd.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ProbeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    @property
    def paths(self) -> list[str]:
        return [s.path for s in self.seen]

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                auth = self.headers.get("Authorization")
                server._record(Seen(self.path, auth, self.headers.get("User-Agent")))
                if self.path == "/api/v1/me":
                    if auth == f"Bearer {server.token}":
                        self._json(200, ME)
                    else:
                        self._json(401, {"error": {"code": "unauthorized"}})
                elif self.path == "/slow":
                    server.release.wait(timeout=HOLD)
                    self._json(200, {"slow": True})
                elif self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "/landed")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._json(404, {"error": {"code": "not_found"}})

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): that is the point of /slow

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler
