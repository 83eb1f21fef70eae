"""Migration 0005 creates exactly what the models declare, and downgrades cleanly."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import app.escalation.models
import app.postmortems.models  # noqa: F401  (tables register on SQLModel.metadata)
from app.db import make_engine
from app.migrate import alembic_config, migrate

TABLES = {"escalations", "escalation_events", "notifications", "postmortems", "action_items"}


def _touches(diff: Any) -> set[str]:
    """Table names a compare_metadata entry concerns (entries nest for column changes)."""
    if isinstance(diff, list):
        return set().union(*(_touches(d) for d in diff))
    names = set()
    for part in diff:
        name = getattr(part, "name", None) if not isinstance(part, str) else part
        table = getattr(part, "table", None)
        if table is not None:
            names.add(table.name)
        if isinstance(name, str):
            names.add(name)
    return names


def test_migration_matches_the_models_and_downgrades(database_url: str) -> None:
    migrate(database_url)
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, SQLModel.metadata)
            assert [d for d in diff if _touches(d) & TABLES] == []
            assert set(inspect(conn).get_table_names()) >= TABLES
            indexes = {i["name"] for i in inspect(conn).get_indexes("notifications")}
            assert {"ix_notifications_due", "ix_notifications_incident"} <= indexes
            command.downgrade(alembic_config(conn), "0004")
            conn.commit()
            assert not TABLES & set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    migrate(database_url)
