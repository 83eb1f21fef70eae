"""End-to-end helpers: service logs whose tails are attached to any failure report."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

TAIL_LINES = 40


class ServiceLogs:
    """Log files of the real processes a test started, by name."""

    def __init__(self) -> None:
        self.paths: dict[str, Path] = {}

    def register(self, name: str, path: Path) -> Path:
        self.paths[name] = path
        return path

    @staticmethod
    def tail(path: Path, lines: int = TAIL_LINES) -> str:
        if not path.exists():
            return "(no log written)"
        text = path.read_bytes().decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:]) or "(empty)"

    def tails(self, lines: int = TAIL_LINES) -> str:
        return "\n".join(
            f"--- {name} log, last {lines} lines ({path}) ---\n{self.tail(path, lines)}"
            for name, path in self.paths.items()
        )


LOGS_KEY = pytest.StashKey[ServiceLogs]()


@pytest.fixture
def service_logs(request: pytest.FixtureRequest) -> ServiceLogs:
    """Register log files here; a failing test's report shows their tails."""
    logs = ServiceLogs()
    request.node.stash[LOGS_KEY] = logs
    return logs


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    logs = item.stash.get(LOGS_KEY, None)
    if report.failed and logs is not None:
        for name, path in logs.paths.items():
            title = f"{name} log, last {TAIL_LINES} lines ({call.when}; {path})"
            report.sections.append((title, logs.tail(path)))
    return report
