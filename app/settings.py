"""Process settings from the environment (prefix ``RUNBOOK_ROUTER_``).

No instance is created at import time: ``create_app(settings)`` and the CLI build one, so
tests choose their own database and tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./data/runbook-router.db"


class Settings(BaseSettings):
    """Everything the process reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="RUNBOOK_ROUTER_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    config: Path = Path("config/runbook-router.yaml")
    catalog_dir: Path = Path("runbook_templates")
    data_dir: Path = Path("data")
    webhook_tokens: SecretStr = SecretStr("")
    admin_token: SecretStr = SecretStr("")
    session_secret: SecretStr = SecretStr("")
    public_url: str = ""
    prometheus_url: str | None = None
    grafana_url: str | None = None
    alertmanager_url: str | None = None
    log_format: Literal["json", "console"] = "json"
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    # Proxies (comma-separated addresses or networks) whose X-Forwarded-For/-Proto give the
    # client address and scheme; none by default. Sign-in never rests on these headers.
    forwarded_allow_ips: str = ""
    port: int = 8080
    max_body_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    max_alerts_per_payload: int = Field(default=10_000, gt=0)
    max_alert_bytes: int = Field(default=64 * 1024, gt=0)  # one alert's labels + annotations
    db_pool_size: int = Field(default=8, gt=0)

    def webhook_token_list(self) -> list[str]:
        """The configured ingest tokens, without blanks."""
        raw = self.webhook_tokens.get_secret_value()
        return [t.strip() for t in raw.split(",") if t.strip()]

    @property
    def base_url(self) -> str:
        """Where people reach this server: PUBLIC_URL, else the bound host and port."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
