"""``runbook-router serve`` as a real process: its environment, ``migrate``, start and stop."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Self

from harness.processes import HOST, ROOT, HarnessError, Service, free_port

MIGRATE_TIMEOUT = 120


def server_env(
    database_url: str, data_dir: Path, *, ingest_token: str, admin_token: str, **overrides: str
) -> dict[str, str]:
    """``RUNBOOK_ROUTER_*`` for a server on the repository's catalog and configuration."""
    return {
        "RUNBOOK_ROUTER_DATABASE_URL": database_url,
        "RUNBOOK_ROUTER_WEBHOOK_TOKENS": ingest_token,
        "RUNBOOK_ROUTER_ADMIN_TOKEN": admin_token,
        "RUNBOOK_ROUTER_CATALOG_DIR": str(ROOT / "runbook_templates"),
        "RUNBOOK_ROUTER_CONFIG": str(ROOT / "config" / "runbook-router.yaml"),
        "RUNBOOK_ROUTER_DATA_DIR": str(data_dir),
        "RUNBOOK_ROUTER_LOG_FORMAT": "console",
        **overrides,
    }


def migrate(env: dict[str, str]) -> None:
    """``python -m app migrate`` with ``env`` added; ``HarnessError`` with its output's tail."""
    done = subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=MIGRATE_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).splitlines()[-15:])
        raise HarnessError(f"python -m app migrate failed ({done.returncode}):\n{tail}")


class ServerProcess(Service):
    """``runbook-router serve`` on a free loopback port, ready when ``/readyz`` answers 200.

    ``env`` is added to this process's environment (``server_env`` builds it); the port, host
    and public URL are set here. ``migrate=False`` starts it on the database as it is
    (``serve`` alone, as the image does).
    """

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        migrate: bool = True,
        name: str = "runbook-router",
        ready_timeout: float = 30.0,
        stop_timeout: float = 15.0,
    ) -> None:
        port = free_port()
        url = f"http://{HOST}:{port}"
        full_env = {
            **os.environ,
            **env,
            "RUNBOOK_ROUTER_PORT": str(port),
            "RUNBOOK_ROUTER_HOST": HOST,
            "RUNBOOK_ROUTER_PUBLIC_URL": url,
        }
        super().__init__(
            name,
            [sys.executable, "-m", "app", "serve"],
            full_env,
            log_path,
            port=port,
            ready_timeout=ready_timeout,
            stop_timeout=stop_timeout,
        )
        self.migrate = migrate

    def start(self) -> Self:
        if self.migrate:
            migrate(self.env)
        return super().start()
