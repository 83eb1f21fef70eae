"""Prometheus-style durations: ``30s``, ``10m``, ``1h30m``, ``7d``, ``2w``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def parse_duration(text: str) -> timedelta:
    """Parse ``1h30m`` into a timedelta; raise ValueError naming the accepted units."""
    cleaned = text.strip()
    if not cleaned:
        raise ValueError("empty duration; use e.g. '30s', '10m', '7d'")
    pos, seconds = 0, 0.0
    for part in _PART.finditer(cleaned):
        if part.start() != pos:
            break
        seconds += int(part.group(1)) * _UNITS[part.group(2)]
        pos = part.end()
    if pos != len(cleaned):
        raise ValueError(
            f"invalid duration {text!r}; use a number and a unit (ms, s, m, h, d, w, y)"
        )
    try:
        return timedelta(seconds=seconds)
    except OverflowError as err:
        raise ValueError(f"duration {text!r} is too long") from err


def format_duration(value: timedelta) -> str:
    """The shortest Prometheus-style spelling of a whole-second duration."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


def _coerce(value: object) -> object:
    if isinstance(value, str):
        return parse_duration(value)
    return value


Duration = Annotated[
    timedelta, BeforeValidator(_coerce), PlainSerializer(format_duration, return_type=str)
]
