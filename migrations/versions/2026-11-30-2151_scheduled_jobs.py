"""Scheduled jobs: each declared job's next due time (the row a runner locks to claim it)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 21:51:54.161628
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import careteam.db.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduled_job",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("next_run_at", careteam.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", careteam.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduled_job")),
    )


def downgrade() -> None:
    op.drop_table("scheduled_job")
