"""kpi series

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 12:21:36.127179
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kpi_series",
        sa.Column("metric", sa.String(length=128), nullable=False),
        sa.Column("labels", sa.String(length=512), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("metric", "labels"),
    )


def downgrade() -> None:
    op.drop_table("kpi_series")
