"""Stored alert occurrences and the webhook delivery log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, id_column


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Alert(SQLModel, table=True):
    """One occurrence of an alert: identity is ``(fingerprint, starts_at)``."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("fingerprint", "starts_at", name="uq_alerts_occurrence"),
        Index("ix_alerts_incident", "incident_id"),
        Index("ix_alerts_received", "received_at"),
    )

    id: int | None = Field(default=None, sa_column=id_column())
    fingerprint: str = Field(max_length=64)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(max_length=16)
    alertname: str = Field(default="", max_length=256, index=True)
    runbook_class: str = Field(max_length=128)
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    annotations: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    generator_url: str = Field(default="", max_length=2048)
    incident_id: int | None = Field(default=None, foreign_key="incidents.id")
    received_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Delivery(SQLModel, table=True):
    """One webhook request, kept for troubleshooting and pruned by retention."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_received", "received_at"),)

    id: int | None = Field(default=None, sa_column=id_column())
    received_at: datetime = Field(sa_type=UTCDateTime)
    request_id: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=256)
    receiver: str = Field(default="", max_length=256)
    group_key: str = Field(default="", max_length=4096)
    status: str = Field(default="", max_length=16)
    reason: str = Field(default="", max_length=64)
    alerts: int = 0
    new: int = 0
    duplicates: int = 0
    resolved: int = 0
    truncated_alerts: int = 0
    outcome: str = Field(max_length=16)
    http_status: int
    error: str = Field(default="", max_length=2048)
    incident_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
