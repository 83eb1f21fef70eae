"""Real services for end-to-end tests: find the binary, or skip (fail under CI).

The processes themselves (ports, servers, PostgreSQL, Alertmanager) are in ``harness/``,
shared with ``bench/``; this module adds what is pytest's: skipping, or failing when
``REQUIRE_REAL_SERVICES=1``, and ``wait_until`` failing the test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import processes

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


def wait_until(
    condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll ``condition`` until true; fail the test naming ``what`` after ``timeout`` seconds."""
    try:
        processes.wait_until(condition, timeout=timeout, what=what, interval=interval)
    except processes.TimedOut as err:
        pytest.fail(str(err))
