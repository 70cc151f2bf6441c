"""How far each clinician has read each message thread (unread counts, "seen by")

Revision ID: 0008_message_reads
Revises: 0007_messages
Create Date: 2026-12-01 02:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import careteam.db.types

revision: str = "0008_message_reads"
down_revision: str | None = "0007_messages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = careteam.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "message_read",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("thread", sa.String(length=40), nullable=False),
        sa.Column("last_read_id", sa.Integer(), nullable=False),
        sa.Column("read_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_message_read_user_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["care_plan.id"], name=op.f("fk_message_read_plan_id_care_plan")
        ),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], name=op.f("fk_message_read_task_id_task")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_read")),
        sa.UniqueConstraint("user_id", "thread", name=op.f("uq_message_read_user_id")),
    )
    op.create_index(op.f("ix_message_read_plan_id"), "message_read", ["plan_id"], unique=False)
    op.create_index("ix_message_read_thread", "message_read", ["thread", "last_read_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_message_read_thread", table_name="message_read")
    op.drop_index(op.f("ix_message_read_plan_id"), table_name="message_read")
    op.drop_table("message_read")
