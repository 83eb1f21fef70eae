"""A database that cannot be opened, or a URL that names none, is one line and exit 1.

``migrate`` printed a 400-line traceback for a missing PostgreSQL database, a refused
connection or an SQLite file that is not a database; every command did for ``mysql://x``
(no such driver installed) and ``migrate`` for ``nonsense``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.cli import run_cli
from tests.integration.test_cli_errors import CONFIG, env_for, one_line


def test_migrate_a_database_that_cannot_be_opened_is_one_line(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        with open(str(url.database), "wb") as garbage:
            garbage.write(b"this is not an SQLite database, " * 100)
    else:
        database_url = url.set(database="nosuchdb").render_as_string(hide_password=False)
    line = one_line(run_cli("migrate", env=env_for(database_url)), 1)
    assert "database unavailable" in line
    assert "RUNBOOK_ROUTER_DATABASE_URL" in line


def test_migrate_a_refused_connection_is_one_line() -> None:
    env = env_for("postgresql+psycopg://rr@127.0.0.1:1/rr")
    line = one_line(run_cli("migrate", env=env), 1)
    assert "database unavailable" in line


@pytest.mark.parametrize(
    "url",
    ["nonsense", "mysql://x", "postgresql+nosuchdriver://h/db", "postgresql+psycopg://u@h:abc/x"],
)
@pytest.mark.parametrize("command", ["migrate", "serve", "kpis"])
def test_an_unsupported_database_url_says_which_are_supported(command: str, url: str) -> None:
    line = one_line(run_cli(command, env=env_for(url)), 1)
    assert "RUNBOOK_ROUTER_DATABASE_URL" in line
    assert "sqlite:///" in line
    assert "postgresql+psycopg://" in line


def test_serve_refuses_an_unusable_channel_url_in_one_line(tmp_path: Path) -> None:
    """Before uvicorn starts: not a lifespan traceback and exit 3 (the worker keeps its check)."""
    env = env_for(f"sqlite:///{tmp_path}/rr.db", data_dir=tmp_path / "data", port="1")
    env["SLACK_WEBHOOK_URL"] = "http://127.0.0.1:abc/slack"
    line = one_line(run_cli("serve", env=env, timeout=60), 1)
    assert f"{CONFIG}: channel 'team-chat': SLACK_WEBHOOK_URL" in line
    assert "port" in line
