"""Alertmanager's webhook payload, version 4: the only module that sees untyped wire data.

Unknown fields that newer Alertmanagers add (``notification_reason``, ``routeLabels``...) are
accepted and ignored; the required ones are checked with messages that name the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.alerts.models import AlertStatus
from app.errors import PayloadError

ZERO_TIME_YEAR = 1  # Alertmanager sends 0001-01-01T00:00:00Z for "not ended"
MAX_LABEL_BYTES = 16 * 1024


def _labels(value: dict[str, str]) -> dict[str, str]:
    if sum(map(len, value)) + sum(map(len, value.values())) <= MAX_LABEL_BYTES:
        return value  # no single label can be over the limit
    for key, val in value.items():
        if len(key) + len(val) > MAX_LABEL_BYTES:
            raise ValueError(f"label {key[:64]!r} is longer than {MAX_LABEL_BYTES} bytes")
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

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None or value.year == ZERO_TIME_YEAR:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamp needs a time zone, as RFC 3339 requires")
        return value.astimezone(UTC)


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


def _describe(err: ValidationError) -> tuple[str, str]:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(body)"
    expected = first["msg"]
    message = f"field '{loc}': {expected}"
    if len(err.errors()) > 1:
        message += f" (and {len(err.errors()) - 1} more problem(s))"
    hint = (
        "Runbook Router accepts Alertmanager webhook payload version 4; "
        "point an Alertmanager webhook_config at this URL."
    )
    return message, hint


def parse_payload(data: object, *, max_alerts: int) -> WebhookPayload:
    """Validate decoded JSON; raise PayloadError naming the first offending field."""
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
    try:
        return WebhookPayload.model_validate(data)
    except ValidationError as err:
        message, hint = _describe(err)
        raise PayloadError(message, hint=hint) from err
