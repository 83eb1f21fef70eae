"""Alembic environment: runs on the connection that ``app.migrate`` hands over."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import app.alerts.models
import app.auth.models
import app.escalation.models
import app.incidents.models
import app.metrics.aggregates
import app.postmortems.models  # noqa: F401  (tables register on SQLModel.metadata)
from app.db import UTCDateTime

target_metadata = SQLModel.metadata


def render_item(kind: str, obj: Any, autogen: AutogenContext) -> str | Literal[False]:
    """Write portable types into new revisions (no sqlmodel import, explicit UTC type)."""
    if kind == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if kind == "type" and isinstance(obj, UTCDateTime):
        autogen.imports.add("import app.db")
        return "app.db.UTCDateTime()"
    return False


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
