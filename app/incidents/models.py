"""Incidents and their timelines."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, enum_column, id_column


class IncidentStatus(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Incident(SQLModel, table=True):
    """A problem of one runbook class for one Alertmanager group.

    ``open_key`` is a digest of ``(class, group_key)`` while the incident is open and NULL once
    resolved; its unique index makes "one open incident per identity" a database guarantee.
    """

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_identity", "runbook_class", "group_key", "resolved_at"),
        Index("ix_incidents_status", "status", "started_at"),
    )

    id: int | None = Field(default=None, sa_column=id_column())
    runbook_class: str = Field(max_length=128)
    group_key: str = Field(max_length=4096)
    open_key: str | None = Field(default=None, max_length=64, unique=True)
    title: str = Field(max_length=512)
    status: IncidentStatus = Field(sa_column=enum_column(IncidentStatus))
    severity: str = Field(default="", max_length=64)
    team: str = Field(default="", max_length=128)
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    started_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=256)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by: str | None = Field(default=None, max_length=256)
    resolution_note: str | None = Field(default=None, max_length=8192)
    first_viewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    flap_count: int = 0
    recurrence_of: int | None = Field(default=None, foreign_key="incidents.id")
    truncated_alerts: int = 0
    alertmanager_url: str = Field(default="", max_length=1024)  # the payload's externalURL


class TimelineEvent(SQLModel, table=True):
    """One step in an incident's life: who did what, when, and by which rule."""

    __tablename__ = "timeline_events"
    __table_args__ = (Index("ix_timeline_incident", "incident_id", "at"),)

    id: int | None = Field(default=None, sa_column=id_column())
    incident_id: int = Field(foreign_key="incidents.id")
    at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(max_length=64)
    actor: str = Field(max_length=256)
    rule: str = Field(default="", max_length=32)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ChecklistStep(SQLModel, table=True):
    """A runbook checklist step ticked off on one incident: who and when."""

    __tablename__ = "checklist_steps"
    __table_args__ = (UniqueConstraint("incident_id", "step_id", name="uq_checklist_step"),)

    id: int | None = Field(default=None, sa_column=id_column())
    incident_id: int = Field(foreign_key="incidents.id")
    step_id: str = Field(max_length=64)
    done_at: datetime = Field(sa_type=UTCDateTime)
    done_by: str = Field(max_length=256)
