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

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~>])")


def promql(value: object) -> str:
    """A PromQL double-quoted string literal holding ``value`` exactly."""
    text = str(value)
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def promql_regex(value: object) -> str:
    """A PromQL string literal for ``=~`` that matches ``value`` literally (RE2-escaped)."""
    return promql(re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", str(value)))


def urlquery(value: object) -> str:
    """Percent-encode ``value`` for use anywhere in a URL."""
    return quote(str(value), safe="")


def md(value: object) -> str:
    """Escape Markdown syntax so the value renders as plain text."""
    return _MD_SPECIAL.sub(r"\\\1", str(value).replace("\n", " "))


def duration(value: float | timedelta | None) -> str:
    """``1h2m3s`` from seconds or a timedelta; ``-`` for None."""
    if value is None:
        return "-"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return format_duration(timedelta(seconds=round(seconds)))


def localtime(value: datetime | None, tz: str = "UTC", fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """A UTC datetime shown in the viewer's time zone (UTC when the name is unknown)."""
    if value is None:
        return "-"
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return value.astimezone(zone).strftime(fmt)


FILTERS: dict[str, Callable[..., Any]] = {
    "promql": promql,
    "promql_regex": promql_regex,
    "urlquery": urlquery,
    "md": md,
    "duration": duration,
    "localtime": localtime,
}
