"""Alembic environment: runs on the connection that ``app.migrate`` hands over."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import app.alerts.models
import app.incidents.models
import app.metrics.aggregates  # noqa: F401  (tables register on SQLModel.metadata)

target_metadata = SQLModel.metadata
connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
