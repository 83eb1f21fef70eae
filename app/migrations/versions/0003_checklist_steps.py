"""checklist steps

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:27:24.583770
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checklist_steps",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("done_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("done_by", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "step_id", name="uq_checklist_step"),
    )


def downgrade() -> None:
    op.drop_table("checklist_steps")
