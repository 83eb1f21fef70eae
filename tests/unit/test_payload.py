"""Parsing Alertmanager v4 payloads, over the real captured samples."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from app.alerts.limits import Bounds
from app.alerts.models import AlertStatus
from app.alerts.schemas import WebhookPayload, decode_payload, parse_payload
from app.errors import PayloadError
from tests.conftest import FIXTURES, load_fixture

SAMPLES = sorted(p.name for p in FIXTURES.glob("*.json"))
NOW = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)  # the samples were captured a few minutes later


@pytest.mark.parametrize("name", SAMPLES)
def test_every_real_sample_parses(name: str) -> None:
    raw = load_fixture(name)
    parsed = parse_payload(raw, max_alerts=100, bounds=Bounds(now=NOW))
    assert parsed.group_key == raw["groupKey"]
    assert [a.fingerprint for a in parsed.alerts] == [a["fingerprint"] for a in raw["alerts"]]
    for wire, alert in zip(raw["alerts"], parsed.alerts, strict=True):
        assert alert.status == wire["status"]
        assert alert.starts_at.tzinfo is UTC
        assert (alert.ends_at is None) == (wire["endsAt"] == "0001-01-01T00:00:00Z")


def test_prometheus_millisecond_times_are_kept() -> None:
    parsed = parse_payload(
        load_fixture("prometheus-firing.json"), max_alerts=10, bounds=Bounds(now=NOW)
    )
    assert parsed.alerts[0].starts_at.microsecond % 1000 == 0
    assert parsed.alerts[0].starts_at.microsecond != 0


def test_resolved_sample_has_its_end() -> None:
    parsed = parse_payload(load_fixture("resolved.json"), max_alerts=10, bounds=Bounds(now=NOW))
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
    parsed = parse_payload(raw, max_alerts=10, bounds=Bounds(now=NOW))
    assert parsed.receiver_name == "web.hook"
    assert parsed.notification_reason == "repeat_interval"


def test_error_names_the_field() -> None:
    raw = load_fixture("firing.json")
    raw["alerts"][0]["labels"] = "oops"
    with pytest.raises(PayloadError, match=r"field 'alerts\.0\.labels'"):
        parse_payload(raw, max_alerts=10, bounds=Bounds(now=NOW))


# -- the accepted ranges: times, NUL and control characters, sizes in bytes -----------------


def one_alert(**changes: Any) -> dict[str, Any]:
    raw = load_fixture("firing.json")
    raw["alerts"][0].update(changes)
    return raw


def parse(raw: dict[str, Any], **limits: int) -> WebhookPayload:
    return parse_payload(raw, max_alerts=10, bounds=Bounds(now=NOW, **limits))


@pytest.mark.parametrize(
    ("changes", "field", "why"),
    [
        ({"startsAt": "9999-12-31T23:59:59Z"}, "alerts.0.startsAt", "after"),
        ({"startsAt": "9999-12-31T23:00:00-05:00"}, "alerts.0.startsAt", "after"),
        ({"startsAt": "0001-01-01T00:00:00Z"}, "alerts.0.startsAt", "before"),
        ({"startsAt": "0001-01-01T00:00:00+01:00"}, "alerts.0.startsAt", "before"),
        ({"startsAt": "1969-12-31T23:59:59Z"}, "alerts.0.startsAt", "before"),
        ({"startsAt": "2027-11-29T11:00:00Z"}, "alerts.0.startsAt", "after"),  # now + 366 d
        (
            {"status": "resolved", "endsAt": "2026-11-28T11:06:00Z"},  # 1 s before startsAt
            "alerts.0.endsAt",
            "before startsAt",
        ),
        ({"status": "resolved", "endsAt": "9999-12-31T23:59:59Z"}, "alerts.0.endsAt", "after"),
        ({"endsAt": "9999-12-31T23:00:00-05:00"}, "alerts.0.endsAt", "after"),  # firing too
    ],
)
def test_times_outside_the_accepted_range_name_the_field(
    changes: dict[str, Any], field: str, why: str
) -> None:
    with pytest.raises(PayloadError, match=rf"field '{re.escape(field)}': .*{why}") as caught:
        parse(one_alert(**changes))
    assert "startsAt" in caught.value.hint  # says what the accepted range is


@pytest.mark.parametrize(
    "changes",
    [
        {"startsAt": "1970-01-01T00:00:00Z"},
        {"startsAt": "2027-11-28T11:00:00Z"},  # exactly now + 365 days: a skewed clock
        {"endsAt": "2026-11-28T11:11:01Z"},  # firing: Alertmanager's now + resolve_timeout
        {"status": "resolved", "endsAt": "2026-11-28T11:06:01Z"},  # ended as it started
        {"endsAt": "0001-01-01T00:00:00.000Z"},  # the zero time: not ended
    ],
)
def test_times_inside_the_range_are_accepted(changes: dict[str, Any]) -> None:
    alert = parse(one_alert(**changes)).alerts[0]
    assert alert.starts_at.tzinfo is UTC


def test_the_range_follows_the_injected_clock() -> None:
    raw = one_alert(startsAt="2030-01-01T00:00:00Z")
    with pytest.raises(PayloadError, match="startsAt"):
        parse(raw)
    later = parse_payload(raw, max_alerts=10, bounds=Bounds(now=datetime(2029, 6, 1, tzinfo=UTC)))
    assert later.alerts[0].starts_at == datetime(2030, 1, 1, tzinfo=UTC)


def with_nul(where: str) -> dict[str, Any]:
    raw = load_fixture("firing.json")
    alert = raw["alerts"][0]
    places: dict[str, Callable[[], None]] = {
        "alerts.0.annotations.summary": lambda: alert["annotations"].update(summary="a\x00b"),
        "alerts.0.labels.alertname": lambda: alert["labels"].update(alertname="W\x00"),
        "alerts.0.labels.severity": lambda: alert["labels"].update(severity="\x00"),
        "alerts.0.labels": lambda: alert["labels"].update({"x\x00": "1"}),
        "alerts.0.generatorURL": lambda: alert.update(generatorURL="http://p/\x00"),
        "alerts.0.fingerprint": lambda: alert.update(fingerprint="ab\x00cd"),
        "groupKey": lambda: raw.update(groupKey='{}:{alertname="\x00"}'),
        "receiver": lambda: raw.update(receiver="r\x00"),
        "commonLabels.alertname": lambda: raw["commonLabels"].update(alertname="\x00"),
        "externalURL": lambda: raw.update(externalURL="http://am\x00"),
    }
    places[where]()
    return raw


NUL_PLACES = [
    "alerts.0.annotations.summary",
    "alerts.0.labels.alertname",
    "alerts.0.labels.severity",
    "alerts.0.labels",
    "alerts.0.generatorURL",
    "alerts.0.fingerprint",
    "groupKey",
    "receiver",
    "commonLabels.alertname",
    "externalURL",
]


@pytest.mark.parametrize("where", NUL_PLACES)
def test_a_nul_anywhere_is_refused_naming_the_field(where: str) -> None:
    with pytest.raises(PayloadError, match=rf"field '{re.escape(where)}'.*NUL"):
        parse(with_nul(where))


@pytest.mark.parametrize("where", NUL_PLACES)
def test_a_nul_anywhere_in_the_raw_body_is_refused_naming_the_field(where: str) -> None:
    body = orjson.dumps(with_nul(where))
    assert b"\\u0000" in body
    with pytest.raises(PayloadError, match=rf"field '{re.escape(where)}'.*NUL"):
        decode_payload(body, max_alerts=10, bounds=Bounds(now=NOW))


def test_the_text_backslash_u0000_is_not_a_nul() -> None:
    raw = one_alert(annotations={"description": "a literal \\u0000 in the text"})
    body = orjson.dumps(raw)
    assert b"\\\\u0000" in body
    parsed = decode_payload(body, max_alerts=10, bounds=Bounds(now=NOW))
    assert parsed.alerts[0].annotations["description"] == "a literal \\u0000 in the text"


@pytest.mark.parametrize("name", ["a\nb", "a\rb", "\x1b[31m", "tab\there", "del\x7f"])
def test_control_characters_in_label_names_are_refused(name: str) -> None:
    with pytest.raises(PayloadError, match=r"field 'alerts\.0\.labels': .*control character"):
        parse(one_alert(labels={"alertname": "X", name: "v"}))


def test_newlines_and_tabs_in_values_and_annotations_are_kept() -> None:
    text = "line one\nline two\r\n\tindented"
    alert = parse(
        one_alert(labels={"alertname": "X", "note": text}, annotations={"description": text})
    ).alerts[0]
    assert alert.labels["note"] == alert.annotations["description"] == text


def test_the_label_limit_counts_utf8_bytes() -> None:
    emoji = "\N{FIRE}" * 5000  # 5,000 characters, 20,000 bytes
    with pytest.raises(PayloadError, match=r"alerts\.0\.labels.*20005 bytes"):
        parse(one_alert(labels={"alertname": "X", "blaze": emoji}))
    fits = "\N{FIRE}" * 4000  # 16,000 bytes with its name: under 16 KiB
    assert parse(one_alert(labels={"alertname": "X", "blaze": fits})).alerts[0].labels["blaze"]


def test_labels_and_annotations_of_one_alert_are_bounded_together() -> None:
    raw = load_fixture("firing.json")
    second = {**raw["alerts"][0], "fingerprint": "second"}
    second["labels"] = {"alertname": "X", **{f"l{i}": "v" * 1000 for i in range(40)}}
    second["annotations"] = {f"a{i}": "\N{FIRE}" * 1000 for i in range(10)}  # 40 kB
    raw["alerts"].append(second)
    with pytest.raises(PayloadError, match=r"field 'alerts\.1': .*over the limit of 65536"):
        parse(raw)
    assert len(parse(raw, max_alert_bytes=100_000).alerts) == 2
    with pytest.raises(PayloadError, match=r"field 'alerts\.0': .*over the limit of 100 "):
        parse(load_fixture("firing.json"), max_alert_bytes=100)
