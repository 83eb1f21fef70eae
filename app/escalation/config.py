"""The typed ``channels``, ``escalation`` and ``notifications`` sections of the config file.

Secrets never live here: a channel names the environment variables that hold its URL or
credentials. ``app.config.AppConfig`` checks that every policy names known channels.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.durations import Duration, format_duration

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
MAX_REPEAT = 10


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookChannel(_Strict):
    """Generic JSON webhook: POSTs the message as JSON."""

    type: Literal["webhook"]
    url_env: str = Field(pattern=ENV_NAME)
    title: str | None = None


class SlackChannel(_Strict):
    """Slack-compatible incoming webhook: POSTs ``{"text": ...}``."""

    type: Literal["slack"]
    url_env: str = Field(pattern=ENV_NAME)
    title: str | None = None


class EmailChannel(_Strict):
    """E-mail over SMTP; credentials (optional) from environment variables."""

    type: Literal["email"]
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)
    sender: str = Field(default="runbook-router@localhost", pattern=r"^[^@\s]+@[^@\s]+$")
    smtp_host: str = Field(min_length=1)
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    tls: Literal["starttls", "ssl", "none"] = "starttls"
    username_env: str | None = Field(default=None, pattern=ENV_NAME)
    password_env: str | None = Field(default=None, pattern=ENV_NAME)
    title: str | None = None


Channel = Annotated[WebhookChannel | SlackChannel | EmailChannel, Field(discriminator="type")]


class NotifyEvent(StrEnum):
    """Messages a policy can send besides its escalation steps."""

    OPEN = "open"
    ACK = "ack"
    RESOLVE = "resolve"


class Step(_Strict):
    """``after`` this long unacknowledged, notify these channels."""

    after: Duration
    notify: list[str] = Field(min_length=1)


class Policy(_Strict):
    """Steps measured from the (re)trigger time, repeated ``repeat`` times, then ``final``.

    A repeat starts every ``repeat_every`` (default: the last step's ``after`` plus the gap
    before it). ``final.after`` counts from the last step of the last repeat.
    """

    steps: list[Step] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=MAX_REPEAT)
    repeat_every: Duration | None = None
    final: Step | None = None
    notify_on: list[NotifyEvent] = Field(default_factory=lambda: list(NotifyEvent))
    notify: list[str] | None = None  # channels for notify_on messages; default: first step's

    @model_validator(mode="after")
    def _ordered(self) -> Policy:
        afters = [s.after for s in self.steps]
        if afters != sorted(afters):
            raise ValueError("steps must be in ascending order of 'after'")
        if self.repeat and self.period <= afters[-1]:
            raise ValueError(
                f"repeat_every ({format_duration(self.period)}) must be longer than the last "
                f"step's after ({format_duration(afters[-1])}); set repeat_every"
            )
        return self

    @property
    def period(self) -> timedelta:
        """Time between the starts of two repeats."""
        if self.repeat_every is not None:
            return self.repeat_every
        last = self.steps[-1].after
        gap = last - self.steps[-2].after if len(self.steps) > 1 else last
        return last + gap

    def channel_names(self) -> set[str]:
        names = {c for s in self.steps for c in s.notify} | set(self.notify or [])
        return names | set(self.final.notify if self.final else [])


class Notifications(_Strict):
    """Outbox delivery: per-attempt timeout, bounded retries with exponential backoff."""

    timeout: Duration = timedelta(seconds=10)
    max_attempts: int = Field(default=6, ge=1, le=20)
    backoff: Duration = timedelta(seconds=30)
    max_backoff: Duration = timedelta(minutes=30)
