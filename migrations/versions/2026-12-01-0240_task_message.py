"""Tasks made from a message ("Make this a task"): the task keeps the message's id

Revision ID: 0011_task_message
Revises: 0010_search
Create Date: 2026-12-01 02:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_task_message"
down_revision: str | None = "0010_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("task", sa.Column("message_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_task_message_id"), "task", ["message_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_task_message_id"), table_name="task")
    # Not a batch (copy-and-rename) on SQLite: that would drop the search triggers on task (0010_search).
    # Both databases drop a column in place (SQLite since 3.35).
    op.execute("ALTER TABLE task DROP COLUMN message_id")
