"""Who may move a task: tasks record their author (filled from their task.created events), a cancel's
reason (FHIR statusReason), the task a "Reopen" follows up, and the last status change for its Undo

Revision ID: 0013_task_author
Revises: 0012_conversations
Create Date: 2026-12-01 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from careteam.db.types import UTCDateTime

revision: str = "0013_task_author"
down_revision: str | None = "0012_conversations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    "author_id",
    "status_reason",
    "reopened_from_id",
    "undo_status",
    "status_changed_by_id",
    "status_changed_at",
)


def upgrade() -> None:
    op.add_column("task", sa.Column("author_id", sa.Integer(), nullable=True))
    op.add_column("task", sa.Column("status_reason", sa.String(length=500), nullable=True))
    op.add_column("task", sa.Column("reopened_from_id", sa.Integer(), nullable=True))
    op.add_column("task", sa.Column("undo_status", sa.String(length=24), nullable=True))
    op.add_column("task", sa.Column("status_changed_by_id", sa.Integer(), nullable=True))
    op.add_column("task", sa.Column("status_changed_at", UTCDateTime(), nullable=True))
    op.create_index(op.f("ix_task_reopened_from_id"), "task", ["reopened_from_id"], unique=False)
    # A task's author is the actor of its task.created event on its plan's stream (the event's data is the
    # task as created: its id is data.id).
    event = sa.table(
        "stream_event",
        sa.column("stream_kind", sa.String),
        sa.column("stream_id", sa.Integer),
        sa.column("seq", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("data", sa.JSON),
        sa.column("actor_id", sa.Integer),
    )
    task = sa.table(
        "task", sa.column("id", sa.Integer), sa.column("plan_id", sa.Integer), sa.column("author_id")
    )
    author = (
        sa.select(event.c.actor_id)
        .where(
            event.c.stream_kind == "plan",
            event.c.stream_id == task.c.plan_id,
            event.c.kind == "task.created",
            event.c.data["id"].as_integer() == task.c.id,
        )
        .order_by(event.c.seq)
        .limit(1)
        .scalar_subquery()
    )
    op.execute(task.update().values(author_id=author))


def downgrade() -> None:
    op.drop_index(op.f("ix_task_reopened_from_id"), table_name="task")
    # Not a batch (copy-and-rename) on SQLite: that would drop the search triggers on task (0010_search).
    for column in reversed(_COLUMNS):
        op.execute(f"ALTER TABLE task DROP COLUMN {column}")
