"""Messages (FHIR Communication) in a plan's team thread and a task's comments, and their edit history

Revision ID: 0007_messages
Revises: 0006_referrals
Create Date: 2026-12-01 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import careteam.db.types

revision: str = "0007_messages"
down_revision: str | None = "0006_referrals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = careteam.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("mentions", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME(timezone=True), nullable=False),
        sa.Column("edited_at", _TIME(timezone=True), nullable=True),
        sa.Column("deleted_at", _TIME(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["plan_id"], ["care_plan.id"], name=op.f("fk_message_plan_id_care_plan")),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], name=op.f("fk_message_task_id_task")),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_message_patient_id_patient")),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user_account.id"], name=op.f("fk_message_author_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by"], ["user_account.id"], name=op.f("fk_message_deleted_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message")),
    )
    op.create_index(op.f("ix_message_patient_id"), "message", ["patient_id"], unique=False)
    op.create_index(op.f("ix_message_author_id"), "message", ["author_id"], unique=False)
    op.create_index("ix_message_plan_thread", "message", ["plan_id", "task_id", "id"], unique=False)
    op.create_index("ix_message_task_thread", "message", ["task_id", "id"], unique=False)
    op.create_table(
        "message_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("edited_at", _TIME(timezone=True), nullable=False),
        sa.Column("editor_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["message.id"], name=op.f("fk_message_revision_message_id_message")
        ),
        sa.ForeignKeyConstraint(
            ["editor_id"], ["user_account.id"], name=op.f("fk_message_revision_editor_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_revision")),
        sa.UniqueConstraint("message_id", "version", name=op.f("uq_message_revision_message_id")),
    )
    op.create_index(op.f("ix_message_revision_message_id"), "message_revision", ["message_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_message_revision_message_id"), table_name="message_revision")
    op.drop_table("message_revision")
    op.drop_index("ix_message_task_thread", table_name="message")
    op.drop_index("ix_message_plan_thread", table_name="message")
    op.drop_index(op.f("ix_message_author_id"), table_name="message")
    op.drop_index(op.f("ix_message_patient_id"), table_name="message")
    op.drop_table("message")
