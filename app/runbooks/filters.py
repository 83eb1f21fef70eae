"""The filters templates may use, registered explicitly on the sandbox.

Alert labels are untrusted: ``promql`` quotes a value for a PromQL string literal,
``urlquery`` for a URL component, ``md`` escapes Markdown so a label cannot add links or
formatting. HTML escaping is the environment's autoescape (HTML pages) and markdown-it's
(``html=False``) for Markdown bodies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.durations import format_duration

_PROMQL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]+")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~>&=])")


def promql(value: object) -> str:
    """A PromQL double-quoted string literal holding ``value`` exactly."""
    out = []
    for ch in str(value):
        if ch in _PROMQL_ESCAPES:
            out.append(_PROMQL_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or ch in "\u2028\u2029\x85":
            out.append(f"\\u{ord(ch):04x}")  # any other control or line break: \uNNNN
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def promql_regex(value: object) -> str:
    """A PromQL string literal for ``=~`` that matches ``value`` literally (RE2-escaped)."""
    return promql(re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", str(value)))


def urlquery(value: object) -> str:
    """Percent-encode ``value`` for use anywhere in a URL."""
    return quote(str(value), safe="")


def md(value: object) -> str:
    """Escape Markdown syntax so the value renders as plain text."""
    one_line = _LINE_BREAKS.sub(" ", str(value)).strip()  # no leading indent: no code block
    return _MD_SPECIAL.sub(r"\\\1", one_line)


def duration(value: float | timedelta | None) -> str:
    """``1h2m3s`` from seconds or a timedelta; ``-`` for None."""
    if value is None:
        return "-"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    sign = "-" if seconds < 0 else ""  # a start in the future (a skewed clock)
    return sign + format_duration(timedelta(seconds=round(abs(seconds))))


def localtime(value: datetime | None, tz: str = "UTC", fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """A UTC datetime shown in the viewer's time zone (UTC when the name is unknown).

    Total: a time the shift would carry past year 9999 or before year 1 (or a format the
    platform refuses) is shown as ISO 8601 as stored, never an error.
    """
    if value is None:
        return "-"
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    try:
        return value.astimezone(zone).strftime(fmt)
    except (OverflowError, ValueError):
        return value.isoformat(" ", "minutes")


FILTERS: dict[str, Callable[..., Any]] = {
    "promql": promql,
    "promql_regex": promql_regex,
    "urlquery": urlquery,
    "md": md,
    "duration": duration,
    "localtime": localtime,
}
