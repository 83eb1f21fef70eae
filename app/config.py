"""The operator's configuration file, ``config/runbook-router.yaml``.

Secrets never live in it: it names environment variables that hold them. Sections owned by
later features (channels, escalation, auth) are validated by their own modules.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.auth.proxy import AuthConfig
from app.durations import Duration
from app.errors import ConfigError
from app.escalation.config import Channel, Notifications, Policy
from app.yaml_lines import key_lines, line_of


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Windows(_Strict):
    flap: Duration = timedelta(minutes=5)
    recurrence: Duration = timedelta(days=7)


class Retention(_Strict):
    """How long rows are kept (pruned hourly; ``app.escalation.housekeeping`` lists which)."""

    alerts: Duration = timedelta(days=400)  # and the timeline rows that list them
    deliveries: Duration = timedelta(days=30)
    notifications: Duration = timedelta(days=90)  # outbox rows and their attempts

    @model_validator(mode="after")
    def _at_least_an_hour(self) -> Retention:
        for name, period in self:
            if period < timedelta(hours=1):
                raise ValueError(f"retention.{name} must be at least 1h")
        return self


class Worker(_Strict):
    interval: Duration = timedelta(seconds=1)


class ProbeTarget(_Strict):
    base_url: str
    token_env: str | None = None


class Enrichment(_Strict):
    prometheus_url: str | None = None
    grafana_url: str | None = None
    alertmanager_url: str | None = None
    logs_url: str | None = None
    timeout: Duration = timedelta(seconds=2)
    budget: Duration = timedelta(seconds=4)
    targets: dict[str, ProbeTarget] = Field(default_factory=dict)


class Team(_Strict):
    timezone: str = "UTC"


class Postmortems(_Strict):
    required_for: list[str] = Field(default_factory=lambda: ["critical"])


class AppConfig(_Strict):
    """The whole file; every key optional so an empty file is a valid configuration."""

    timezone: str = "UTC"
    windows: Windows = Windows()
    retention: Retention = Retention()
    worker: Worker = Worker()
    enrichment: Enrichment = Enrichment()
    teams: dict[str, Team] = Field(default_factory=dict)
    channels: dict[str, Channel] = Field(default_factory=dict)
    escalation: dict[str, Policy] = Field(default_factory=dict)
    notifications: Notifications = Notifications()
    postmortems: Postmortems = Postmortems()
    auth: AuthConfig = AuthConfig()

    @model_validator(mode="after")
    def _known_channels(self) -> AppConfig:
        for name, policy in sorted(self.escalation.items()):
            unknown = sorted(policy.channel_names() - set(self.channels))
            if unknown:
                raise ValueError(
                    f"escalation.{name} names unknown channel(s) {', '.join(unknown)}; "
                    f"known: {', '.join(sorted(self.channels)) or 'none'}"
                )
        return self


def load_config(path: Path) -> AppConfig:
    """Read and validate the file; a missing file is the all-defaults configuration.

    Problems are ``file:line: key: message``, one a line.
    """
    if not path.exists():
        return AppConfig()
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(f"{path}:{line}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}:1: the top level must be a mapping of settings")
    try:
        return AppConfig.model_validate(raw)
    except ValidationError as err:
        lines = key_lines(text)
        problems = [
            f"{path}:{line_of(lines, e['loc'])}: "
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in err.errors()
        ]
        raise ConfigError("\n".join(problems)) from err
