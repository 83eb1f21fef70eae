"""Post-mortems and their action items; the post-mortem review flow as a transition table."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, enum_column, id_column
from app.errors import InvalidTransition


class PostmortemStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"


class ActionStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


PENDING = (PostmortemStatus.DRAFT, PostmortemStatus.IN_REVIEW)

# (from, to) -> rule id. Anything else is a 409 naming the current status.
TRANSITIONS: Mapping[tuple[PostmortemStatus, PostmortemStatus], str] = {
    (PostmortemStatus.DRAFT, PostmortemStatus.IN_REVIEW): "PM-1",
    (PostmortemStatus.IN_REVIEW, PostmortemStatus.DRAFT): "PM-2",
    (PostmortemStatus.IN_REVIEW, PostmortemStatus.PUBLISHED): "PM-3",
    (PostmortemStatus.PUBLISHED, PostmortemStatus.IN_REVIEW): "PM-4",
}


def transition(current: PostmortemStatus, target: PostmortemStatus) -> str:
    """The rule id of ``current -> target``; InvalidTransition (409) when not allowed."""
    try:
        return TRANSITIONS[(current, target)]
    except KeyError:
        allowed = sorted(t.value for (c, t) in TRANSITIONS if c is current)
        raise InvalidTransition(
            f"a post-mortem cannot go from {current.value} to {target.value}",
            current=current.value,
            hint=f"from {current.value} it can go to: {', '.join(allowed)}",
        ) from None


def _ref(target: str, *, unique: bool = False) -> Column[int]:
    return Column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey(target),
        nullable=False,
        unique=unique,
    )


class Postmortem(SQLModel, table=True):
    """One per incident that needs it; drafted at resolve time from the timeline."""

    __tablename__ = "postmortems"
    __table_args__ = (Index("ix_postmortems_status", "status", "runbook_class"),)

    id: int | None = Field(default=None, sa_column=id_column())
    incident_id: int = Field(sa_column=_ref("incidents.id", unique=True))
    runbook_class: str = Field(max_length=128)
    severity: str = Field(default="", max_length=64)
    status: PostmortemStatus = Field(sa_column=enum_column(PostmortemStatus))
    title: str = Field(max_length=512)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    updated_by: str | None = Field(default=None, max_length=256)  # None: never edited by hand
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ActionItem(SQLModel, table=True):
    """A follow-up with an owner and a due date, linked to its incident and class."""

    __tablename__ = "action_items"
    __table_args__ = (
        Index("ix_action_items_status", "status", "runbook_class", "due_date"),
        Index("ix_action_items_incident", "incident_id"),
        Index("ix_action_items_postmortem", "postmortem_id"),
    )

    id: int | None = Field(default=None, sa_column=id_column())
    postmortem_id: int = Field(sa_column=_ref("postmortems.id"))
    incident_id: int = Field(sa_column=_ref("incidents.id"))
    runbook_class: str = Field(max_length=128)
    title: str = Field(max_length=512)
    owner: str = Field(max_length=256)
    due_date: date
    status: ActionStatus = Field(sa_column=enum_column(ActionStatus))
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=256)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
