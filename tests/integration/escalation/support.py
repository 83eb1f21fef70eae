"""Real receivers for notification tests: an HTTP server and an SMTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from fastapi import FastAPI
from httpx import AsyncClient

from app.escalation.worker import RunReport, Worker
from harness.processes import free_port
from tests.conftest import WEBHOOK, admin_headers, ingest_headers
from tests.factories import alert, payload


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    key: str | None
    body: dict[str, Any]
    status: int


@dataclass
class Receiver:
    """A webhook receiver that can be told to fail, and that processes each key once."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    processed: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: deque[int] = field(default_factory=deque)
    failure_body: bytes = b"try again later"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def fail_next(self, *statuses: int) -> None:
        with self.lock:
            self.failures.extend(statuses)

    def handle(self, path: str, key: str | None, body: dict[str, Any]) -> int:
        with self.lock:
            status = self.failures.popleft() if self.failures else 200
            self.requests.append(Received(path, key, body, status))
            if status == 200 and key is not None:
                self.processed.setdefault(key, body)  # idempotent: a repeat changes nothing
            return status

    def accepted(self, path: str | None = None) -> list[Received]:
        return [r for r in self.requests if r.status == 200 and path in (None, r.path)]


def start_receiver() -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(size) or b"{}")
            status = receiver.handle(self.path, self.headers.get("Idempotency-Key"), body)
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else receiver.failure_body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads ``receiver.requests``."""

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # a worker sends a whole batch at once
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver, server


@dataclass
class Mailbox:
    """What an SMTP server received: one parsed message per delivery."""

    messages: list[tuple[Envelope, Message]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append((envelope, message_from_bytes(content)))
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.logins.append((login, password))
        ok = (login, password) == ("alerts", "s3cret")
        return AuthResult(success=ok, handled=False)  # not handled: the server answers 535


def start_smtp() -> tuple[Mailbox, Controller]:
    mailbox = Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=mailbox.authenticate,
        auth_require_tls=False,
        auth_required=False,  # offered and used by the client; requiring it warns without TLS
        auth_exclude_mechanism=["LOGIN"],  # PLAIN only: one attempt per login
    )
    controller.start()
    return mailbox, controller


def worker_of(app: FastAPI) -> Worker:
    worker: Worker = app.state.services.worker
    return worker


async def run(app: FastAPI, now: datetime) -> RunReport:
    """One worker pass at ``now`` (what the background task does every interval)."""
    return await worker_of(app).run_once(now)


async def fire(client: AsyncClient, fingerprint: str, at: datetime, **labels: str) -> int:
    """Post a firing alert; return the incident it opened or joined."""
    body = payload(
        alert(fingerprint, starts_at=at, ends_at=None, **labels), group_key=f"{{}}:{fingerprint}"
    )
    response = await client.post(WEBHOOK, json=body, headers=ingest_headers())
    assert response.status_code == 200, response.text
    [incident] = response.json()["incidents"]
    return int(incident)


async def end(client: AsyncClient, fingerprint: str, started: datetime, ended: datetime) -> None:
    """Post the resolved notification of an alert posted with ``fire``."""
    body = payload(
        alert(fingerprint, starts_at=started, ends_at=ended), group_key=f"{{}}:{fingerprint}"
    )
    response = await client.post(WEBHOOK, json=body, headers=ingest_headers())
    assert response.status_code == 200, response.text


async def notifications(client: AsyncClient, incident: int | None = None) -> list[dict[str, Any]]:
    params = {"incident": str(incident)} if incident is not None else {}
    response = await client.get("/api/v1/notifications", params=params, headers=admin_headers())
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return sorted(items, key=lambda n: n["id"])


async def detail(client: AsyncClient, incident: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/incidents/{incident}", headers=admin_headers())
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def escalated(incident: dict[str, Any]) -> list[int]:
    """Levels in the timeline, in order."""
    return [e["detail"]["level"] for e in incident["timeline"] if e["kind"] == "escalated"]
