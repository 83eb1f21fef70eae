"""API tokens: stored as SHA-256 digests, shown once at creation."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, id_column


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, sa_column=id_column())
    name: str = Field(max_length=128, unique=True)
    role: str = Field(max_length=16)
    team: str = Field(default="", max_length=128)
    timezone: str = Field(default="", max_length=64)
    digest: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=12)
    created_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
