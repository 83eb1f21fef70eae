"""CLI errors are one line with the fix: exit 2 for usage errors, 1 for failures; nothing is
created where a path is missing; tokens refuse unknown teams and time zones."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.migrate import migrate
from tests.cli import Run, cli_env, run_cli
from tests.conftest import ROOT

CATALOG = ROOT / "runbook_templates"
CONFIG = ROOT / "config" / "runbook-router.yaml"


def one_line(run: Run, code: int) -> str:
    assert run.code == code, (run.code, run.stdout, run.stderr)
    assert len(run.error_lines) == 1, run.stderr
    assert "Traceback" not in run.stderr
    return run.error_lines[0]


def env_for(database_url: str, **extra: str | Path) -> dict[str, str]:
    return cli_env(
        **{"database_url": database_url, "catalog_dir": CATALOG, "config": CONFIG, **extra}
    )


@pytest.mark.parametrize("window", ["5x", "99999999d", "0s"])
def test_a_bad_kpi_window_is_a_usage_error(tmp_path: Path, window: str) -> None:
    line = one_line(
        run_cli("kpis", "--window", window, env=env_for(f"sqlite:///{tmp_path}/rr.db")), 2
    )
    assert "--window" in line
    assert "30d" in line  # an example of what works


def test_a_bad_option_value_is_one_line(tmp_path: Path) -> None:
    env = env_for(f"sqlite:///{tmp_path}/rr.db")
    line = one_line(run_cli("tokens", "create", "--name", "x", "--role", "boss", env=env), 2)
    assert "--role" in line
    assert "runbook-router tokens create --help" in line


@pytest.mark.parametrize(
    "args", [("kpis",), ("tokens", "list"), ("tokens", "create", "--name", "a", "--role", "viewer")]
)
def test_an_unmigrated_database_says_to_migrate(database_url: str, args: tuple[str, ...]) -> None:
    if database_url.startswith("sqlite"):
        sqlite3.connect(database_url.removeprefix("sqlite:///")).close()  # an empty file
    line = one_line(run_cli(*args, env=env_for(database_url)), 1)
    assert "run `runbook-router migrate`" in line
    assert "no schema" in line


def test_a_missing_sqlite_folder_is_not_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/missing/rr.db"
    line = one_line(run_cli("tokens", "list", env=env_for(url)), 1)
    assert f"{tmp_path}/missing/rr.db" in line
    assert "run `runbook-router migrate`" in line
    assert not (tmp_path / "missing").exists()


def test_a_missing_catalog_folder_is_not_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/rr.db"
    migrate(url)
    missing = tmp_path / "gone" / "runbooks"
    line = one_line(run_cli("kpis", env=env_for(url, catalog_dir=missing)), 1)
    assert f"{missing}: runbook catalog folder not found" in line
    assert not (tmp_path / "gone").exists()


def test_tokens_refuse_an_unknown_team_unless_new(database_url: str) -> None:
    migrate(database_url)
    env = env_for(database_url)
    base = ("tokens", "create", "--role", "responder")
    line = one_line(run_cli(*base, "--name", "a", "--team", "platfrom", env=env), 2)
    assert "unknown team 'platfrom'" in line
    assert "platform" in line  # the known ones
    assert "--new-team" in line
    known = run_cli(*base, "--name", "b", "--team", "platform", env=env)
    assert known.code == 0, known.stderr
    new = run_cli(*base, "--name", "c", "--team", "platfrom", "--new-team", env=env)
    assert new.code == 0, new.stderr
    listing = run_cli("tokens", "list", env=env)
    assert " b " in listing.stdout
    assert " c " in listing.stdout
    assert " a " not in listing.stdout


def test_tokens_refuse_an_invalid_time_zone(database_url: str) -> None:
    migrate(database_url)
    env = env_for(database_url)
    args = ("tokens", "create", "--name", "a", "--role", "viewer")
    line = one_line(run_cli(*args, "--timezone", "Mars/Olympus", env=env), 2)
    assert "--timezone" in line
    assert "Mars/Olympus" in line
    ok = run_cli(*args, "--timezone", "Europe/Berlin", env=env)
    assert ok.code == 0, ok.stderr


def test_failures_inside_a_command_are_one_line(database_url: str) -> None:
    migrate(database_url)
    line = one_line(run_cli("tokens", "revoke", "nobody", env=env_for(database_url)), 1)
    assert "no token named 'nobody'" in line
    assert "runbook-router tokens list" in line


def test_an_unreachable_database_is_one_line() -> None:
    env = env_for("postgresql+psycopg://rr@127.0.0.1:1/rr")
    line = one_line(run_cli("tokens", "list", env=env), 1)
    assert "database unavailable" in line
    assert "RUNBOOK_ROUTER_DATABASE_URL" in line
