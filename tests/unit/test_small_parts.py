"""Durations, credentials, tokens, configuration."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest

from app.auth.tokens import TokenSet, credential
from app.config import load_config
from app.durations import format_duration, parse_duration
from app.errors import ConfigError
from app.metrics.kpis import parse_window
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("7d", timedelta(days=7)),
        ("1h30m", timedelta(minutes=90)),
        ("250ms", timedelta(milliseconds=250)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "10", "m", "1.5h", "10 m", "5x", "-1s"])
def test_bad_duration(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_a_duration_too_long_for_a_timedelta_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="too long"):
        parse_duration("9999999999999w")


@pytest.mark.parametrize("text", ["0s", "3651d", "99999999d", "9999999999999w", "x"])
def test_kpi_window_out_of_range(text: str) -> None:
    with pytest.raises(ValueError, match=r"between 1s and 3650d|duration"):
        parse_window(text)


def test_format_duration_round_trips() -> None:
    for seconds in (0, 59, 60, 3600, 90061):
        value = timedelta(seconds=seconds)
        assert parse_duration(format_duration(value)) == value


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Bearer ", None),
        (basic("am", "tok:en"), "tok:en"),
        (basic("am", ""), None),
        ("Basic %%%", None),
        ("Basic \u00e9", None),  # non-ASCII: b64decode raises ValueError, not binascii.Error
        ("Basic \u00ff\u00fe", None),
        ("Digest x", None),
    ],
)
def test_credential(header: str | None, expected: str | None) -> None:
    assert credential(header) == expected


def test_token_set_accepts_only_known_tokens() -> None:
    tokens = TokenSet(["one", "two", ""])
    assert tokens.accepts("two")
    assert not tokens.accepts("three")
    assert not tokens.accepts(None)
    assert not TokenSet([""])


def test_shipped_config_loads() -> None:
    config = load_config(ROOT / "config" / "runbook-router.yaml")
    assert config.windows.flap == timedelta(minutes=5)
    assert config.windows.recurrence == timedelta(days=7)


def test_config_error_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("windows: {flap: soon}\n")
    with pytest.raises(ConfigError, match=r"windows\.flap: .*invalid duration"):
        load_config(path)
    path.write_text("windwos: {}\n")
    with pytest.raises(ConfigError, match="windwos: Extra inputs"):
        load_config(path)
