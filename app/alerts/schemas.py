"""Alertmanager's webhook payload, version 4: the only module that sees untyped wire data.

Unknown fields that newer Alertmanagers add (``notification_reason``, ``routeLabels``...) are
accepted and ignored; the required ones are checked with messages that name the field.

What is accepted, besides the shape (each refusal is a 422 naming the field):

* ``startsAt`` from 1970-01-01T00:00:00Z to one year after the server's clock (a sender's
  clock may be ahead; year 9999 or the zero time is not a start).
* ``endsAt`` the zero time ``0001-01-01T00:00:00Z`` (not ended), or from ``startsAt`` to one
  year after the server's clock. A firing alert's ``endsAt`` (Alertmanager's guess, now +
  ``resolve_timeout``) is stored as sent and never used: only a resolved alert's ``endsAt``
  resolves an incident and counts in the KPIs.
* No NUL character in any string or key (PostgreSQL cannot store it, SQLite could: both
  refuse it alike), and no control character in a label or annotation name. Newlines and tabs
  in values (a ``description``) are kept.
* Each label or annotation, name and value, at most ``MAX_LABEL_BYTES`` bytes of UTF-8; all of
  one alert's labels and annotations together at most ``Bounds.max_alert_bytes``
  (``RUNBOOK_ROUTER_MAX_ALERT_BYTES``, default 64 KiB).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.alerts.models import AlertStatus
from app.errors import PayloadError

ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)  # Alertmanager's endsAt of an alert not yet ended
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=365)  # how far a time may be after the server's clock
MAX_LABEL_BYTES = 16 * 1024
DEFAULT_MAX_ALERT_BYTES = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NUL_ESCAPE = b"\\u0000"  # the only way JSON can carry a NUL

TIME_HINT = (
    f"startsAt must lie between {EARLIEST:%Y-%m-%d} and {AHEAD.days} days after this server's "
    "clock, endsAt between startsAt and the same limit (or 0001-01-01T00:00:00Z while firing); "
    "check the clock of the Prometheus or client that raised the alert"
)
SIZE_HINT = (
    "shorten the alert's labels and annotations at their source (the alerting rule), or raise "
    "RUNBOOK_ROUTER_MAX_ALERT_BYTES"
)
TEXT_HINT = "remove the character at its source (the alerting rule or the client that sent it)"


@dataclass(frozen=True, slots=True)
class Bounds:
    """What validation depends on besides the payload: the server's clock and size limits."""

    now: datetime
    max_alert_bytes: int = DEFAULT_MAX_ALERT_BYTES

    @property
    def latest(self) -> datetime:
        return self.now + AHEAD


def _bounds(info: ValidationInfo) -> Bounds:
    if not isinstance(info.context, Bounds):
        raise TypeError("validate payloads with parse_payload(), which passes the clock")
    return info.context


def _in_range(value: datetime, earliest: datetime, latest: datetime) -> datetime:
    """``value`` in UTC if ``earliest <= value <= latest``; compared before any conversion."""
    if value.tzinfo is None:
        raise ValueError("timestamp needs a time zone, as RFC 3339 requires")
    if value < earliest:
        raise ValueError(f"{value.isoformat()} is before {earliest.isoformat()}")
    if value > latest:
        raise ValueError(f"{value.isoformat()} is after {latest.isoformat()} (now + 365 days)")
    return value.astimezone(UTC)


def _utf8_size(texts: list[str]) -> int:
    joined = "".join(texts)
    return len(joined) if joined.isascii() else len(joined.encode())


def _labels(value: dict[str, str]) -> dict[str, str]:
    names = "".join(value)
    if _CONTROL.search(names):
        bad = next(k for k in value if _CONTROL.search(k))
        raise ValueError(f"the name {bad[:64]!r} holds a control character")
    if (len(names) + sum(map(len, value.values()))) * 4 <= MAX_LABEL_BYTES:
        return value  # even at 4 bytes a character, no single label can be over the limit
    for key, val in value.items():
        size = _utf8_size([key, val])
        if size > MAX_LABEL_BYTES:
            raise ValueError(
                f"label {key[:64]!r} takes {size} bytes of UTF-8, over the limit of "
                f"{MAX_LABEL_BYTES} bytes"
            )
    return value


class WireAlert(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = Field(min_length=1, max_length=64)

    _check_labels = field_validator("labels", "annotations")(_labels)

    @field_validator("starts_at")
    @classmethod
    def _start(cls, value: datetime, info: ValidationInfo) -> datetime:
        return _in_range(value, EARLIEST, _bounds(info).latest)

    @field_validator("ends_at")
    @classmethod
    def _end(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None or value == ZERO_TIME:
            return None
        end = _in_range(value, EARLIEST, _bounds(info).latest)
        start = info.data.get("starts_at")
        if start is not None and end < start:
            raise ValueError(f"{value.isoformat()} is before startsAt {start.isoformat()}")
        return end

    @model_validator(mode="after")
    def _size(self, info: ValidationInfo) -> WireAlert:
        limit = _bounds(info).max_alert_bytes
        texts = [*self.labels, *self.labels.values(), *self.annotations]
        texts += self.annotations.values()
        if sum(map(len, texts)) * 4 > limit and (size := _utf8_size(texts)) > limit:
            raise ValueError(
                f"its labels and annotations take {size} bytes of UTF-8, over the limit of "
                f"{limit} bytes per alert"
            )
        return self


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: Literal["4"]
    receiver: str = ""
    status: Literal["firing", "resolved"]
    alerts: list[WireAlert]
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    group_key: str = Field(alias="groupKey", min_length=1, max_length=4096)
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)
    notification_reason: str = ""

    _check_labels = field_validator("group_labels", "common_labels", "common_annotations")(_labels)

    @model_validator(mode="after")
    def _size(self, info: ValidationInfo) -> WebhookPayload:
        limit = _bounds(info).max_alert_bytes
        texts = [*self.common_labels, *self.common_labels.values(), *self.common_annotations]
        texts += [*self.common_annotations.values(), *self.group_labels]
        texts += self.group_labels.values()
        if sum(map(len, texts)) * 4 > limit and (size := _utf8_size(texts)) > limit:
            raise ValueError(
                f"groupLabels, commonLabels and commonAnnotations take {size} bytes of UTF-8, "
                f"over the limit of {limit} bytes"
            )
        return self

    @property
    def receiver_name(self) -> str:
        """The receiver name without Alertmanager's regex escaping (``web\\.hook``)."""
        out, escaped = [], False
        for ch in self.receiver:
            if ch == "\\" and not escaped:
                escaped = True
                continue
            out.append(ch)
            escaped = False
        return "".join(out)


VERSION_HINT = (
    "Runbook Router accepts Alertmanager webhook payload version 4; "
    "point an Alertmanager webhook_config at this URL."
)


def _hint(loc: tuple[int | str, ...], msg: str) -> str:
    if loc and loc[-1] in ("startsAt", "endsAt"):
        return TIME_HINT
    if "bytes of UTF-8" in msg:
        return SIZE_HINT
    if "control character" in msg:
        return TEXT_HINT
    return VERSION_HINT


def _describe(err: ValidationError) -> tuple[str, str]:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(body)"
    expected = first["msg"]
    message = f"field '{loc}': {expected}"
    if len(err.errors()) > 1:
        message += f" (and {len(err.errors()) - 1} more problem(s))"
    return message, _hint(first["loc"], expected)


def _nul_at(data: object) -> tuple[str, str] | None:
    """The path of the first string or key holding a NUL, and which it is; else None.

    Iterative: JSON may nest deeper than Python's recursion limit.
    """
    stack: list[tuple[str, object]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path, "holds"
        elif isinstance(value, dict):
            if any("\x00" in key for key in value):
                return path, "has a name that holds"
            stack.extend((f"{path}.{k}" if path else k, v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}", v) for i, v in reversed(list(enumerate(value))))
    return None


def _validate(data: object, *, max_alerts: int, bounds: Bounds, nul: bool) -> WebhookPayload:
    if not isinstance(data, dict):
        raise PayloadError(
            "the body must be a JSON object (an Alertmanager webhook payload)",
            hint="send Content-Type: application/json with the Alertmanager payload",
        )
    alerts = data.get("alerts")
    if isinstance(alerts, list) and len(alerts) > max_alerts:
        raise PayloadError(
            f"field 'alerts': {len(alerts)} alerts exceed the limit of {max_alerts}",
            hint="lower max_alerts in the Alertmanager webhook_config",
        )
    found = _nul_at(data) if nul else None
    if found is not None:
        path, what = found
        raise PayloadError(
            f"field '{path or '(body)'}': {what} a NUL character (\\u0000), which no field "
            "may hold",
            hint=TEXT_HINT,
        )
    try:
        return WebhookPayload.model_validate(data, context=bounds)
    except ValidationError as err:
        message, hint = _describe(err)
        raise PayloadError(message, hint=hint) from err


def parse_payload(data: object, *, max_alerts: int, bounds: Bounds) -> WebhookPayload:
    """Validate decoded JSON; raise PayloadError naming the first offending field."""
    return _validate(data, max_alerts=max_alerts, bounds=bounds, nul=True)


def decode_payload(body: bytes, *, max_alerts: int, bounds: Bounds) -> WebhookPayload:
    """Decode and validate a request body; raise PayloadError naming the offending field.

    The body is searched for a NUL (``\\u0000``, the only way JSON carries one) in one pass
    of bytes; the decoded payload is walked to name the field only when it may hold one.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise PayloadError(
            f"the body is not valid JSON: {err}",
            hint="send the Alertmanager webhook payload as JSON",
        ) from err
    return _validate(data, max_alerts=max_alerts, bounds=bounds, nul=_NUL_ESCAPE in body)
