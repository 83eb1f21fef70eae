"""The post-mortem API's JSON shapes (DESIGN section 4)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from app.postmortems.models import ActionItem, ActionStatus, Postmortem, PostmortemStatus

MAX_BODY = 200_000


class ActionItemOut(BaseModel):
    id: int
    postmortem_id: int
    incident_id: int
    runbook_class: str
    title: str
    owner: str
    due_date: date
    status: str
    overdue: bool
    created_at: datetime
    created_by: str
    updated_at: datetime
    done_at: datetime | None

    @classmethod
    def of(cls, item: ActionItem, *, today: date) -> ActionItemOut:
        overdue = item.status == ActionStatus.OPEN and item.due_date < today
        return cls.model_validate({**item.model_dump(), "overdue": overdue})


class ActionItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=512)
    owner: str = Field(min_length=1, max_length=256)
    due_date: date


class ActionItemPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=512)
    owner: str | None = Field(default=None, min_length=1, max_length=256)
    due_date: date | None = None
    status: ActionStatus | None = None


class ActionItemPage(BaseModel):
    items: list[ActionItemOut]
    next: int | None


class PostmortemSummary(BaseModel):
    id: int
    incident_id: int
    runbook_class: str
    severity: str
    status: str
    title: str
    created_at: datetime
    updated_at: datetime
    updated_by: str | None
    published_at: datetime | None

    @classmethod
    def of(cls, postmortem: Postmortem) -> PostmortemSummary:
        return cls.model_validate(postmortem.model_dump())


class PostmortemOut(PostmortemSummary):
    body: str
    action_items: list[ActionItemOut]

    @classmethod
    def full(cls, postmortem: Postmortem, items: list[ActionItem], *, today: date) -> PostmortemOut:
        return cls.model_validate(
            {
                **postmortem.model_dump(),
                "action_items": [ActionItemOut.of(i, today=today) for i in items],
            }
        )


class PostmortemPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=512)
    body: str | None = Field(default=None, max_length=MAX_BODY)
    status: PostmortemStatus | None = None


class PostmortemPage(BaseModel):
    items: list[PostmortemSummary]
    next: int | None
