"""Real services for end-to-end tests: find the binary, or skip (fail under CI)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

REQUIRED = os.environ.get("REQUIRE_REAL_SERVICES") == "1"


def need_binary(path: str, package: str) -> str:
    """The binary's path; skip with the reason, or fail when real services are required."""
    found = path if Path(path).exists() else shutil.which(Path(path).name)
    if found:
        return found
    message = f"{path} not found: install Debian's {package} (make test does, as root)"
    if REQUIRED:
        pytest.fail(message + " [REQUIRE_REAL_SERVICES=1]")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll ``condition`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def stop_process(proc: subprocess.Popen[bytes] | None, *, timeout: float = 5) -> None:
    """Terminate, then kill if it has not exited within ``timeout`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ServerProcess:
    """``runbook-router serve`` as a real process on a free loopback port.

    ``migrate=False`` starts it on the database as it is (``serve`` alone, as the image does).
    """

    def __init__(self, env: dict[str, str], log_path: Path, *, migrate: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **env,
            "RUNBOOK_ROUTER_PORT": str(self.port),
            "RUNBOOK_ROUTER_HOST": "127.0.0.1",
            "RUNBOOK_ROUTER_PUBLIC_URL": self.url,
        }
        self.log_path = log_path
        self.migrate = migrate
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        if self.migrate:
            subprocess.run(
                [sys.executable, "-m", "app", "migrate"],
                env=self.env,
                check=True,
                capture_output=True,
            )
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(
            lambda: http_ok(f"{self.url}/readyz"),
            timeout=30,
            what=f"runbook-router on {self.url} (log: {self.log_path})",
        )
        return self

    def stop(self) -> None:
        stop_process(self.proc, timeout=15)
