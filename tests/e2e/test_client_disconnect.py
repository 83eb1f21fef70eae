"""A client that hangs up mid-body is recorded as such, not as a server error."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from harness.server import ServerProcess
from tests.conftest import ADMIN_TOKEN, INGEST_TOKEN, WEBHOOK, server_env
from tests.services import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    env = server_env(f"sqlite:///{tmp_path}/rr.db", tmp_path / "data")
    process = ServerProcess(env, tmp_path / "server.log").start()
    try:
        yield process
    finally:
        process.stop()


def deliveries(server: ServerProcess) -> list[dict[str, object]]:
    response = httpx.get(
        f"{server.url}/api/v1/deliveries", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    items: list[dict[str, object]] = response.json()["items"]
    return items


def test_hang_up_mid_body_is_recorded_as_invalid(server: ServerProcess, tmp_path: Path) -> None:
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    assert host is not None
    assert port is not None
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(
            f"POST {WEBHOOK} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {INGEST_TOKEN}\r\nContent-Length: 5000\r\n\r\n".encode()
            + b'{"version": "4", "alerts": ['
        )
    wait_until(lambda: len(deliveries(server)) == 1, timeout=10, what="the delivery record")
    [row] = deliveries(server)
    assert (row["outcome"], row["http_status"]) == ("invalid", 422)
    assert "disconnected" in str(row["error"])
    log = (tmp_path / "server.log").read_text()
    assert "unhandled error" not in log
    assert "Traceback" not in log
