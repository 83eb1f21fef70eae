"""Composing and configuring channels: a hostile title or a mistyped URL never breaks a sender
(issue 11, item 1)."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from app.cli import cli
from app.config import load_config
from app.escalation.channels import DeliveryError, HttpSender, SmtpSender, url_problem
from app.escalation.checks import channel_errors
from app.escalation.config import EmailChannel
from app.escalation.outbox import Outgoing
from tests.conftest import ROOT

MAIL = EmailChannel(type="email", to=["lead@example.test"], smtp_host="127.0.0.1")


def outgoing(subject: str) -> Outgoing:
    return Outgoing(1, "key-1", "mail", "open", subject, "body\nline 2", {}, 1)


@pytest.mark.parametrize(
    "title",
    [
        "Disk full\nBcc: everyone@example.test",
        "carriage\rreturn",
        "tab\tand NUL\x00 and DEL\x7f",
        "Ünïcödé " + "long " * 60,
        "sep\u2028next\u0085nel\u2029par",  # line breaks of str.splitlines() (D4)
        "file\x1cgroup\x1drecord\x1eunit\x0bvtab\x0cfeed",
    ],
)
def test_a_title_with_control_characters_composes_a_one_line_subject(title: str) -> None:
    email = SmtpSender(MAIL, timedelta(seconds=1)).compose(outgoing(f"Incident #1 opened: {title}"))
    parsed = message_from_bytes(email.as_bytes(), policy=default_policy)
    subject = str(parsed["Subject"])
    assert subject.startswith("Incident #1 opened: ")
    assert not any(ch in subject for ch in "\r\n\x00\x7f")
    assert len(f"x{subject}x".splitlines()) == 1
    assert parsed["Bcc"] is None  # no header injected
    assert set(parsed.keys()) == {
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "Idempotency-Key",
        "Content-Type",
        "Content-Transfer-Encoding",
        "MIME-Version",
    }


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:abc/slack", "Invalid port: 'abc'"),
        ("http://[::1/x", "Invalid port"),
        ("http://127.0.0.1:99999/x", "port"),
        ("http:///x", "no host"),
        ("file:///etc/passwd", "not an http(s) URL"),
        ("hooks.slack.com/services/x", "not an http(s) URL"),
        ("http://a..b/", "invalid host"),  # an empty label: IDNA cannot encode it (D8)
        ("https://exa mple.com/", "invalid host"),
        ("http://xn--/", "does not parse"),  # a malformed A-label: idna raises, not httpx
        ("http://xn--a/", "does not parse"),
        ("http://.example.com/", "invalid host"),
        ("http://exa_mple\u00e9.com/", "Invalid IDNA hostname"),
    ],
)
def test_a_url_that_does_not_parse_is_a_problem(url: str, problem: str) -> None:
    found = url_problem(url)
    assert found is not None
    assert problem in found


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T/B/x",
        "http://127.0.0.1:8080/hook?a=1",
        "http://[::1]:8080/hook",
        "https://bücher.example/hook",
        "http://receiver_1:8080/hook",  # docker-compose service names have underscores
        "http://localhost/x",
        "https://example.com./x",
    ],
)
def test_a_good_url_is_no_problem(url: str) -> None:
    assert url_problem(url) is None


def test_check_names_the_file_the_channel_and_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "rr.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "channels": {
                    "team-chat": {"type": "slack", "url_env": "SLACK_WEBHOOK_URL"},
                    "pager": {"type": "webhook", "url_env": "PAGER_URL"},
                }
            }
        )
    )
    config = load_config(path)
    environ = {"SLACK_WEBHOOK_URL": "http://127.0.0.1:abc/slack"}
    [error] = channel_errors(config, environ, source=path)
    assert error.startswith(f"{path}: channel 'team-chat': SLACK_WEBHOOK_URL ")
    assert "Invalid port: 'abc'" in error
    assert "127.0.0.1" not in error  # the URL is a secret; only what is wrong is shown
    assert channel_errors(config, {}, source=path) == []  # unset: disabled, not an error


def test_runbook_router_check_reports_the_file_and_the_channel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = ROOT / "config" / "runbook-router.yaml"
    args = ["check", "--catalog-dir", str(ROOT / "runbook_templates"), "--config", str(config)]
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "http://127.0.0.1:abc/slack")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert f"{config}: channel 'team-chat': SLACK_WEBHOOK_URL does not parse" in result.output
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.test/services/x")
    assert CliRunner().invoke(cli, args).exit_code == 0


@pytest.mark.anyio
async def test_an_invalid_url_at_send_time_fails_the_message_without_retry() -> None:
    url = "http://127.0.0.1:abc/secret-token"  # start-up refuses it; a sender still copes
    async with httpx.AsyncClient() as client:
        sender = HttpSender(url, client, timedelta(seconds=1), slack=True)
        with pytest.raises(DeliveryError) as failed:
            await sender.send(outgoing("Incident #1 opened: x"))
    assert failed.value.retryable is False
    assert failed.value.reason.startswith("InvalidURL: ")
    assert "secret-token" not in failed.value.reason
