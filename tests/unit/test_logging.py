"""Log lines cannot be forged: control characters from untrusted input are escaped in both
formats, so one record is one line (a traceback's lines are indented under it)."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from app.logging import ConsoleFormatter, JsonFormatter

FORGED = "Workflow500\r\nERROR   [-] app.auth: admin signed in\x1b[2K"
FORMATTERS = [
    pytest.param(ConsoleFormatter(), id="console"),
    pytest.param(JsonFormatter(), id="json"),
]


def record(msg: str = "webhook %s", *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("app.alerts.receiver", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


@pytest.mark.parametrize("formatter", FORMATTERS)
def test_control_characters_in_messages_and_extras_stay_on_one_line(
    formatter: logging.Formatter,
) -> None:
    text = formatter.format(
        record(
            "alert %s classified",
            FORGED,
            alertname=FORGED,
            group_key='{}:{alertname="x"}\nINFO    [-] forged',
            receiver="r\rERROR",
            incident_ids=[1, 2],
        )
    )
    assert "\n" not in text
    assert "\r" not in text
    assert "\x1b" not in text


def test_console_escapes_visibly() -> None:
    text = ConsoleFormatter().format(record("webhook %s", "accepted", receiver="a\r\nb\tc\x00d"))
    assert text.endswith("receiver=a\\r\\nb\\tc\\x00d")
    assert text.startswith("INFO    [-] app.alerts.receiver: webhook accepted")


def test_json_keeps_the_values_exactly() -> None:
    line = JsonFormatter().format(record("webhook %s", FORGED, alertname=FORGED))
    data = json.loads(line)
    assert data["msg"] == f"webhook {FORGED}"
    assert data["alertname"] == FORGED


@pytest.mark.parametrize("formatter", FORMATTERS)
def test_a_traceback_cannot_start_a_line_of_its_own(formatter: logging.Formatter) -> None:
    try:
        raise ValueError(f"bad label {FORGED}")
    except ValueError:
        failed = record("request failed")
        failed.exc_info = sys.exc_info()
    text = formatter.format(failed)
    first, *rest = text.split("\n")
    assert first.startswith(("INFO ", "{"))
    assert rest == [] or all(line.startswith("    ") for line in rest)
    assert "\r" not in text
    assert "\x1b" not in text
