"""``runbook-router serve`` as a real process: first start, refusal, and stop.

The image's default command is ``serve`` alone on an empty volume: on SQLite it migrates by
itself; on PostgreSQL an unmigrated schema stops it with one line naming the fix; SIGTERM
stops it gracefully with exit code 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from app.schema import expected_revision
from harness.postgres import Cluster
from harness.processes import free_port, stop_process
from harness.server import ServerProcess
from tests.conftest import (
    WEBHOOK,
    admin_headers,
    ingest_headers,
    load_fixture,
    postgres_database,
    server_env,
)

from .conftest import ServiceLogs

START_TIMEOUT = 60


def test_serve_alone_on_an_empty_sqlite_file_migrates_and_stores_alerts(
    tmp_path: Path, service_logs: ServiceLogs
) -> None:
    db_file = tmp_path / "volume" / "runbook-router.db"
    db_file.parent.mkdir()
    db_file.touch()  # what a first start on an empty volume finds (or no file at all)
    env = server_env(f"sqlite:///{db_file}", tmp_path / "data")
    log = service_logs.register("runbook-router", tmp_path / "server.log")
    server = ServerProcess(env, log, migrate=False).start()
    try:
        ready = httpx.get(f"{server.url}/readyz", timeout=5)
        assert ready.json()["checks"]["schema"] == f"ok: revision {expected_revision()}"
        answer = httpx.post(
            server.url + WEBHOOK, json=load_fixture("firing.json"), headers=ingest_headers()
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["new"] >= 1
        incidents = httpx.get(f"{server.url}/api/v1/incidents", headers=admin_headers())
        assert incidents.status_code == 200, incidents.text
        assert incidents.json()["items"], incidents.text
    finally:
        server.stop()


def test_serve_refuses_an_unmigrated_postgres_with_one_line(
    tmp_path: Path, pg_cluster: Cluster | str
) -> None:
    env = {
        **os.environ,
        **server_env(postgres_database(pg_cluster), tmp_path / "data"),
        "RUNBOOK_ROUTER_HOST": "127.0.0.1",
        "RUNBOOK_ROUTER_PORT": str(free_port()),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "app", "serve"],
            env=env,
            capture_output=True,
            timeout=START_TIMEOUT,
        )
    except subprocess.TimeoutExpired as err:
        started = (err.stderr or b"")[:1500].decode(errors="replace")
        raise AssertionError(f"serve started on an unmigrated database:\n{started}") from err
    lines = [line for line in done.stderr.decode().splitlines() if line.strip()]
    assert done.returncode == 1, lines
    assert len(lines) == 1, lines
    (line,) = lines
    assert f"schema at revision none, expected {expected_revision()}" in line
    assert "run `runbook-router migrate` first" in line
    assert "--migrate" in line


def test_sigterm_stops_gracefully_with_exit_code_0(
    tmp_path: Path, service_logs: ServiceLogs
) -> None:
    env = server_env(f"sqlite:///{tmp_path}/rr.db", tmp_path / "data")
    log = service_logs.register("runbook-router", tmp_path / "server.log")
    server = ServerProcess(env, log).start()
    assert server.proc is not None
    try:
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(timeout=START_TIMEOUT)
    finally:
        stop_process(server.proc)
    assert code == 0, log.read_text()[-2000:]
    assert "runbook router stopped gracefully" in log.read_text()
