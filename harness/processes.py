"""Free loopback ports, waiting for a condition, and a child process answering HTTP."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Self

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
LOG_TAIL_LINES = 20


class HarnessError(Exception):
    """A real process did not do what was asked of it."""


class TimedOut(HarnessError):
    """A condition did not hold within its timeout."""


class ProcessExited(HarnessError):
    """A child process exited while we waited for it."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll ``condition`` until true; raise ``TimedOut`` naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimedOut(f"timed out after {timeout}s waiting for {what}")


def http_ok(url: str) -> bool:
    """Whether ``GET url`` answers 200 within a second."""
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


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ("" when there is none)."""
    if not path.exists():
        return ""
    text = path.read_bytes().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


class Service:
    """A child process answering HTTP on a loopback ``port``; its output goes to ``log_path``.

    ``start()`` waits until ``GET ready_path`` answers 200 (raising ``ProcessExited`` or
    ``TimedOut`` with the log's tail, the process stopped); ``stop()`` terminates it gracefully
    (SIGTERM, then SIGKILL after ``stop_timeout`` seconds). A stopped or killed service can be
    started again on the same port.
    """

    def __init__(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        log_path: Path,
        *,
        port: int,
        ready_path: str = "/readyz",
        ready_timeout: float = 30.0,
        stop_timeout: float = 15.0,
    ) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log_path = log_path
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.ready_path = ready_path
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Self:
        self._close_log()
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command, env=self.env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )
        what = f"{self.name} {self.url}{self.ready_path} (log: {self.log_path})"
        try:
            wait_until(self._ready, timeout=self.ready_timeout, what=what)
        except HarnessError as err:
            self.stop()
            raise type(err)(f"{err}\n{self.log_tail()}") from err
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise ProcessExited(f"{self.name} exited with status {self.proc.returncode}")
        return http_ok(self.url + self.ready_path)

    def stop(self) -> None:
        stop_process(self.proc, timeout=self.stop_timeout)
        self._close_log()

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as when the machine or the container dies."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self._close_log()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if self._log is not None:
            self._log.flush()
        return log_tail(self.log_path, lines)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
