"""The incident API's JSON shapes (DESIGN section 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.alerts.models import Alert
from app.incidents.models import Incident, TimelineEvent
from app.postmortems.schemas import ActionItemOut
from app.urls import runbook_url


class AlertOut(BaseModel):
    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str

    @classmethod
    def of(cls, alert: Alert) -> AlertOut:
        return cls.model_validate(alert, from_attributes=True)


class TimelineOut(BaseModel):
    at: datetime
    kind: str
    actor: str
    rule: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, event: TimelineEvent) -> TimelineOut:
        return cls.model_validate(event, from_attributes=True)


class IncidentOut(BaseModel):
    id: int
    runbook_class: str
    title: str
    status: str
    severity: str
    team: str
    group_key: str
    labels: dict[str, str]
    started_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None
    first_viewed_at: datetime | None
    flap_count: int
    recurrence_of: int | None
    truncated_alerts: int
    runbook_url: str

    @classmethod
    def of(cls, incident: Incident, *, public_url: str) -> IncidentOut:
        data = incident.model_dump()
        data["runbook_url"] = runbook_url(public_url, incident.runbook_class, incident.labels)
        return cls.model_validate(data)


class IncidentDetail(IncidentOut):
    alerts: list[AlertOut]
    timeline: list[TimelineOut]
    # open action items of the incidents this one recurs (the recurrence banner)
    predecessor_action_items: list[ActionItemOut] = Field(default_factory=list)


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    next: int | None


class ResolveIn(BaseModel):
    note: str | None = Field(default=None, max_length=8192)


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=8192)
