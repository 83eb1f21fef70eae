"""First-run tokens for ``make run`` and the CLI's ``check``."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml
from typer.testing import CliRunner

from app.auth.bootstrap import ensure_tokens, receiver_snippet
from app.cli import cli
from app.settings import Settings
from tests.conftest import ROOT


def test_tokens_are_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, webhook_tokens="", admin_token="")
    first, generated = ensure_tokens(settings)
    assert generated
    token_file = tmp_path / "bootstrap-tokens.env"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    second, generated_again = ensure_tokens(settings)
    assert not generated_again
    assert second.webhook_token_list() == first.webhook_token_list()
    assert len(first.webhook_token_list()[0]) >= 40
    assert first.admin_token.get_secret_value() != first.webhook_token_list()[0]


def test_configured_tokens_win(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, webhook_tokens="a,b", admin_token="c")
    same, generated = ensure_tokens(settings)
    assert (same.webhook_token_list(), generated) == (["a", "b"], False)
    assert not (tmp_path / "bootstrap-tokens.env").exists()


def test_receiver_snippet_is_valid_alertmanager_yaml() -> None:
    settings = Settings(public_url="https://rr.example.com/")
    snippet = yaml.safe_load(receiver_snippet(settings, "tok"))
    [receiver] = snippet["receivers"]
    [hook] = receiver["webhook_configs"]
    assert hook["url"] == "https://rr.example.com/api/v1/webhooks/alertmanager"
    assert hook["http_config"]["authorization"]["credentials"] == "tok"
    assert hook["send_resolved"] is True


def test_check_reports_file_and_line(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(
        cli,
        [
            "check",
            "--catalog-dir",
            str(ROOT / "runbook_templates"),
            "--config",
            str(ROOT / "config" / "runbook-router.yaml"),
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "5 runbooks" in ok.output
    (tmp_path / "generic.md.j2").write_text("---\nclass: generic\ntitle: G\nprio: 1\n---\n")
    bad = runner.invoke(cli, ["check", "--catalog-dir", str(tmp_path)])
    assert bad.exit_code == 1
    assert "generic.md.j2:4: prio: unknown field" in bad.output
