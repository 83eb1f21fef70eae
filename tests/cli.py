"""Run the real ``runbook-router`` command (``python -m app``) as a user would.

The environment is built from scratch (no ``RUNBOOK_ROUTER_*`` from the caller), so each test
says which database, catalog and configuration it means.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT


@dataclass(frozen=True, slots=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def cli_env(**settings: str | Path) -> dict[str, str]:
    """The process environment without RUNBOOK_ROUTER_*, plus ``settings`` (name -> value)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_ROUTER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["RUNBOOK_ROUTER_LOG_FORMAT"] = "console"
    env.update({f"RUNBOOK_ROUTER_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def run_cli(*args: str, env: dict[str, str], cwd: Path = ROOT, timeout: int = 120) -> Run:
    done = subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)
