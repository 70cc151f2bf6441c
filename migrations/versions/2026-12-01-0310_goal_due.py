"""Goals get a due date; an account can be made to change its password at next sign-in

Revision ID: 0014_goal_due
Revises: 0012_conversations
Create Date: 2026-12-01 03:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_goal_due"
down_revision: str | None = "0013_task_author"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("goal", sa.Column("due_date", sa.Date(), nullable=True))
    op.add_column(
        "user_account",
        sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # Dropped in place on both databases (SQLite since 3.35), as 0011_task_message does.
    op.execute("ALTER TABLE user_account DROP COLUMN must_change_password")
    op.execute("ALTER TABLE goal DROP COLUMN due_date")
