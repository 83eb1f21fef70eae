"""The accepted ranges of a webhook payload: times against the server's clock, text in bytes.

``app.alerts.schemas`` applies them and names the field; these are the plain checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=365)  # how far a time may be after the server's clock
MAX_LABEL_BYTES = 16 * 1024  # one label or annotation: name and value
DEFAULT_MAX_ALERT_BYTES = 64 * 1024  # all labels and annotations of one alert

TIME_HINT = (
    f"startsAt must lie between {EARLIEST:%Y-%m-%d} and {AHEAD.days} days after this server's "
    "clock, endsAt between startsAt and the same limit (or 0001-01-01T00:00:00Z while firing); "
    "check the clock of the Prometheus or client that raised the alert"
)
SIZE_HINT = (
    "shorten the alert's labels and annotations at their source (the alerting rule), or raise "
    "RUNBOOK_ROUTER_MAX_ALERT_BYTES"
)


@dataclass(frozen=True, slots=True)
class Bounds:
    """What validation depends on besides the payload: the server's clock and size limits."""

    now: datetime
    max_alert_bytes: int = DEFAULT_MAX_ALERT_BYTES
    latest: datetime = field(init=False)  # the latest time accepted: now + AHEAD, in UTC

    def __post_init__(self) -> None:
        object.__setattr__(self, "latest", self.now.astimezone(UTC) + AHEAD)


def time_problem(start: datetime, end: datetime | None, latest: datetime) -> tuple[str, str] | None:
    """``(field, what is wrong)`` for times (in UTC) outside the accepted range, else None."""
    if start < EARLIEST:
        return "startsAt", f"{start.isoformat()} is before {EARLIEST.isoformat()}"
    if start > latest:
        return "startsAt", f"{start.isoformat()} is after {latest.isoformat()} (now + 365 days)"
    if end is not None and end < start:
        return "endsAt", f"{end.isoformat()} is before startsAt {start.isoformat()}"
    if end is not None and end > latest:
        return "endsAt", f"{end.isoformat()} is after {latest.isoformat()} (now + 365 days)"
    return None


def utf8_size(texts: list[str]) -> int:
    joined = "".join(texts)
    return len(joined) if joined.isascii() else len(joined.encode())


def size_problem(limit: int, *dicts: dict[str, str]) -> int | None:
    """The UTF-8 size of the names and values of ``dicts`` if over ``limit``, else None."""
    chars = 0
    for d in dicts:
        chars += sum(map(len, d)) + sum(map(len, d.values()))
    if chars * 4 <= limit:
        return None  # even at 4 bytes a character it fits: no encoding needed
    size = utf8_size([text for d in dicts for pair in d.items() for text in pair])
    return size if size > limit else None
