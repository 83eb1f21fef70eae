"""Bounded types for path and query parameters, shared by the API and the pages.

An id beyond 64 bits or a time past year 9999 once reached the database driver and came back
as a 500 (or a 503 on PostgreSQL); with these the framework answers 422 naming the parameter
(``path.incident_id: Input should be less than or equal to ...``) before any query runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from annotated_types import Ge, Le
from pydantic import AfterValidator

MAX_ID = 2**63 - 1  # ids are BIGINT (INTEGER on SQLite): positive 64-bit
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # far enough from year 9999 for any time zone

Id = Annotated[int, Ge(1), Le(MAX_ID)]
"""A row id in a path or query parameter: 1 to 2**63 - 1."""


def _bounded_time(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # a time without an offset is read as UTC
    if not EARLIEST <= value <= LATEST:  # compared before any conversion, which could overflow
        raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return value.astimezone(UTC)


Time = Annotated[datetime, AfterValidator(_bounded_time)]
"""A time in a query parameter (RFC 3339; UTC when it has no offset), 1970 to 9000, in UTC."""
