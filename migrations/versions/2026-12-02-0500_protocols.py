"""Readiness gates on tasks (task_gate, task.link) and protocol templates (FHIR PlanDefinition-like)

Revision ID: 0021_protocols
Revises: 0020_medications
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import careteam.db.types

revision: str = "0021_protocols"
down_revision: str | None = "0020_medications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = careteam.db.types.UTCDateTime


def upgrade() -> None:
    # A plain added column: no batch copy of task (which would drop search's triggers on SQLite).
    op.add_column("task", sa.Column("link", _STR(length=500), nullable=True))
    op.add_column("task", sa.Column("gates", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    op.create_table(
        "task_gate",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("gate_task_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], name=op.f("fk_task_gate_task_id_task")),
        sa.ForeignKeyConstraint(["gate_task_id"], ["task.id"], name=op.f("fk_task_gate_gate_task_id_task")),
        sa.PrimaryKeyConstraint("task_id", "gate_task_id", name=op.f("pk_task_gate")),
    )
    op.create_index(op.f("ix_task_gate_gate_task_id"), "task_gate", ["gate_task_id"], unique=False)
    op.create_table(
        "protocol_template",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _STR(length=200), nullable=False),
        sa.Column("status", _STR(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME(timezone=True), nullable=False),
        sa.Column("updated_at", _TIME(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protocol_template")),
    )
    op.create_table(
        "protocol_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", _STR(length=200), nullable=False),
        sa.Column("description", _STR(length=4000), nullable=False),
        sa.Column("status", _STR(length=16), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["protocol_template.id"],
            name=op.f("fk_protocol_version_template_id_protocol_template"),
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user_account.id"], name=op.f("fk_protocol_version_author_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protocol_version")),
        sa.UniqueConstraint("template_id", "number", name=op.f("uq_protocol_version_template_id")),
    )
    op.create_index(
        op.f("ix_protocol_version_template_id"), "protocol_version", ["template_id"], unique=False
    )
    op.create_table(
        "protocol_goal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", _STR(length=500), nullable=False),
        sa.Column("target", _STR(length=200), nullable=False),
        sa.Column("due_offset_days", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["version_id"], ["protocol_version.id"], name=op.f("fk_protocol_goal_version_id_protocol_version")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protocol_goal")),
    )
    op.create_index(op.f("ix_protocol_goal_version_id"), "protocol_goal", ["version_id"], unique=False)
    op.create_table(
        "protocol_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("key", _STR(length=40), nullable=False),
        sa.Column("title", _STR(length=200), nullable=False),
        sa.Column("description", _STR(length=4000), nullable=False),
        sa.Column("discipline", _STR(length=32), nullable=False),
        sa.Column("priority", _STR(length=8), nullable=False),
        sa.Column("due_offset_days", sa.Integer(), nullable=True),
        sa.Column("gates", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"], ["protocol_version.id"], name=op.f("fk_protocol_task_version_id_protocol_version")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protocol_task")),
    )
    op.create_index(op.f("ix_protocol_task_version_id"), "protocol_task", ["version_id"], unique=False)
    op.create_table(
        "protocol_application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("goal_ids", sa.JSON(), nullable=False),
        sa.Column("task_ids", sa.JSON(), nullable=False),
        sa.Column("applied_by_id", sa.Integer(), nullable=False),
        sa.Column("applied_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["care_plan.id"], name=op.f("fk_protocol_application_plan_id_care_plan")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["protocol_version.id"],
            name=op.f("fk_protocol_application_version_id_protocol_version"),
        ),
        sa.ForeignKeyConstraint(
            ["applied_by_id"],
            ["user_account.id"],
            name=op.f("fk_protocol_application_applied_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protocol_application")),
    )
    op.create_index(
        op.f("ix_protocol_application_plan_id"), "protocol_application", ["plan_id"], unique=False
    )
    op.create_index(
        op.f("ix_protocol_application_version_id"), "protocol_application", ["version_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_protocol_application_version_id"), table_name="protocol_application")
    op.drop_index(op.f("ix_protocol_application_plan_id"), table_name="protocol_application")
    op.drop_table("protocol_application")
    op.drop_index(op.f("ix_protocol_task_version_id"), table_name="protocol_task")
    op.drop_table("protocol_task")
    op.drop_index(op.f("ix_protocol_goal_version_id"), table_name="protocol_goal")
    op.drop_table("protocol_goal")
    op.drop_index(op.f("ix_protocol_version_template_id"), table_name="protocol_version")
    op.drop_table("protocol_version")
    op.drop_table("protocol_template")
    op.drop_index(op.f("ix_task_gate_gate_task_id"), table_name="task_gate")
    op.drop_table("task_gate")
    # Not a batch (copy-and-rename) on SQLite: that would drop the search triggers on task (0010_search).
    op.execute("ALTER TABLE task DROP COLUMN gates")
    op.execute("ALTER TABLE task DROP COLUMN link")
