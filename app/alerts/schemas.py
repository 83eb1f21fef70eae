"""Alertmanager's webhook payload, version 4: the only module that sees untyped wire data.

Unknown fields that newer Alertmanagers add (``notification_reason``, ``routeLabels``...) are
accepted and ignored; the required ones are checked with messages that name the field.

What is accepted, besides the shape (each refusal is a 422 naming the field):

* ``startsAt`` from 1970-01-01T00:00:00Z to one year after the server's clock (a sender's
  clock may be ahead; year 9999 or the zero time is not a start).
* ``endsAt`` the zero time ``0001-01-01T00:00:00Z`` (not ended; any time in year 1 is read
  so), or from ``startsAt`` to one year after the server's clock. A firing alert's ``endsAt``
  (Alertmanager's guess, now + ``resolve_timeout``) is stored as sent and never used: only a
  resolved alert's ``endsAt`` resolves an incident and counts in the KPIs.
* No NUL character in any string or key (PostgreSQL cannot store it, SQLite could: both
  refuse it alike), and no control character in a label or annotation name. Newlines and tabs
  in values (a ``description``) are kept.
* Each label or annotation, name and value, at most ``MAX_LABEL_BYTES`` bytes of UTF-8; all of
  one alert's labels and annotations together at most ``Bounds.max_alert_bytes``
  (``RUNBOOK_ROUTER_MAX_ALERT_BYTES``, default 64 KiB).

The limits themselves are in ``app.alerts.limits``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.alerts.limits import (
    MAX_LABEL_BYTES,
    SIZE_HINT,
    TIME_HINT,
    Bounds,
    size_problem,
    time_problem,
)
from app.alerts.models import AlertStatus
from app.errors import PayloadError
from app.nul import JSON_NUL, nul_at

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
TEXT_HINT = "remove the character at its source (the alerting rule or the client that sent it)"


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp needs a time zone, as RFC 3339 requires")
    try:
        return value.astimezone(UTC)
    except OverflowError as err:  # year 1 or 9999 shifted out of the calendar
        side = "before 0001-01-01" if value.year == 1 else "after 9999-12-31"
        raise ValueError(f"{value.isoformat()} is {side} in UTC") from err


def _labels(value: dict[str, str]) -> dict[str, str]:
    names = "".join(value)
    if not names.isprintable() and _CONTROL.search(names):  # isprintable: a fast first look
        bad = next(k for k in value if _CONTROL.search(k))
        raise ValueError(f"the name {bad[:64]!r} holds a control character")
    if size_problem(MAX_LABEL_BYTES, value) is None:
        return value  # all the labels together fit, so each does
    for key, val in value.items():
        if (size := size_problem(MAX_LABEL_BYTES, {key: val})) is not None:
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
    def _start(cls, value: datetime) -> datetime:
        return _utc(value)

    @field_validator("ends_at")
    @classmethod
    def _end(cls, value: datetime | None) -> datetime | None:
        if value is None or value.year == 1:  # the zero time: not ended
            return None
        return _utc(value)


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


def _validate(
    data: object, *, max_alerts: int, bounds: Bounds, nul: bool, sizes: bool
) -> WebhookPayload:
    """``nul``: the data may hold a NUL; ``sizes``: its text may exceed one alert's limit."""
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
    found = nul_at(data) if nul else None
    if found is not None:
        path, what = found
        raise PayloadError(
            f"field '{path or '(body)'}': {what} a NUL character (\\u0000), which no field "
            "may hold",
            hint=TEXT_HINT,
        )
    try:
        payload = WebhookPayload.model_validate(data)
    except ValidationError as err:
        message, hint = _describe(err)
        raise PayloadError(message, hint=hint) from err
    _check_times(payload, bounds.latest)
    if sizes:
        _check_sizes(payload, bounds.max_alert_bytes)
    return payload


def _check_times(payload: WebhookPayload, latest: datetime) -> None:
    for i, alert in enumerate(payload.alerts):
        if problem := time_problem(alert.starts_at, alert.ends_at, latest):
            raise PayloadError(f"field 'alerts.{i}.{problem[0]}': {problem[1]}", hint=TIME_HINT)


def _check_sizes(payload: WebhookPayload, limit: int) -> None:
    for i, alert in enumerate(payload.alerts):
        if (size := size_problem(limit, alert.labels, alert.annotations)) is not None:
            raise PayloadError(
                f"field 'alerts.{i}': its labels and annotations take {size} bytes of UTF-8, "
                f"over the limit of {limit} bytes per alert",
                hint=SIZE_HINT,
            )
    common = (payload.group_labels, payload.common_labels, payload.common_annotations)
    if (size := size_problem(limit, *common)) is not None:
        raise PayloadError(
            f"fields 'groupLabels', 'commonLabels' and 'commonAnnotations' take {size} bytes "
            f"of UTF-8, over the limit of {limit} bytes",
            hint=SIZE_HINT,
        )


def parse_payload(data: object, *, max_alerts: int, bounds: Bounds) -> WebhookPayload:
    """Validate decoded JSON; raise PayloadError naming the first offending field."""
    return _validate(data, max_alerts=max_alerts, bounds=bounds, nul=True, sizes=True)


def decode_payload(body: bytes, *, max_alerts: int, bounds: Bounds) -> WebhookPayload:
    """Decode and validate a request body; raise PayloadError naming the offending field.

    Cheap on the webhook's path: the body is searched for a NUL (``\\u0000``, the only way
    JSON carries one) in one pass of bytes, and the decoded payload is walked to name the
    field only when it may hold one; the sizes of the alerts are added up only when the body
    is longer than one alert may be (JSON text is never shorter than its strings' UTF-8).
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise PayloadError(
            f"the body is not valid JSON: {err}",
            hint="send the Alertmanager webhook payload as JSON",
        ) from err
    return _validate(
        data,
        max_alerts=max_alerts,
        bounds=bounds,
        nul=JSON_NUL in body,
        sizes=len(body) > bounds.max_alert_bytes,  # JSON text is never shorter than its UTF-8
    )
