"""Parsing Alertmanager v4 payloads, over the real captured samples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.alerts.models import AlertStatus
from app.alerts.schemas import parse_payload
from app.errors import PayloadError
from tests.conftest import FIXTURES, load_fixture

SAMPLES = sorted(p.name for p in FIXTURES.glob("*.json"))


@pytest.mark.parametrize("name", SAMPLES)
def test_every_real_sample_parses(name: str) -> None:
    raw = load_fixture(name)
    parsed = parse_payload(raw, max_alerts=100)
    assert parsed.group_key == raw["groupKey"]
    assert [a.fingerprint for a in parsed.alerts] == [a["fingerprint"] for a in raw["alerts"]]
    for wire, alert in zip(raw["alerts"], parsed.alerts, strict=True):
        assert alert.status == wire["status"]
        assert alert.starts_at.tzinfo is UTC
        assert (alert.ends_at is None) == (wire["endsAt"] == "0001-01-01T00:00:00Z")


def test_prometheus_millisecond_times_are_kept() -> None:
    parsed = parse_payload(load_fixture("prometheus-firing.json"), max_alerts=10)
    assert parsed.alerts[0].starts_at.microsecond % 1000 == 0
    assert parsed.alerts[0].starts_at.microsecond != 0


def test_resolved_sample_has_its_end() -> None:
    parsed = parse_payload(load_fixture("resolved.json"), max_alerts=10)
    assert parsed.alerts[0].status is AlertStatus.RESOLVED
    assert parsed.alerts[0].ends_at == datetime(2026, 11, 28, 11, 6, 30, tzinfo=UTC)


def test_newer_fields_are_tolerated_and_receiver_unescaped() -> None:
    raw = {
        **load_fixture("firing.json"),
        "receiver": r"web\.hook",
        "routeLabels": {"a": "b"},
        "notification_reason": "repeat_interval",
        "somethingFuture": [1],
    }
    parsed = parse_payload(raw, max_alerts=10)
    assert parsed.receiver_name == "web.hook"
    assert parsed.notification_reason == "repeat_interval"


def test_error_names_the_field() -> None:
    raw = load_fixture("firing.json")
    raw["alerts"][0]["labels"] = "oops"
    with pytest.raises(PayloadError, match=r"field 'alerts\.0\.labels'"):
        parse_payload(raw, max_alerts=10)
