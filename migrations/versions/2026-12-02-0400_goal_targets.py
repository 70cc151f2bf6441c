"""Goals judged by an outcome measure (measure, comparator, target value), and procedure responses (a
diagnostic block's percent relief over its expected duration, on its task)

Revision ID: 0019_goal_targets
Revises: 0018_outcomes
Create Date: 2026-12-02 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import careteam.db.types

revision: str = "0019_goal_targets"
down_revision: str | None = "0018_outcomes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = careteam.db.types.UTCDateTime


def upgrade() -> None:
    # Nullable columns added in place (no batch copy: a copy of a plans table would drop search's triggers).
    op.add_column("goal", sa.Column("measure", _STR(length=16), nullable=True))
    op.add_column("goal", sa.Column("comparator", _STR(length=2), nullable=True))
    op.add_column("goal", sa.Column("target_value", sa.Float(), nullable=True))
    op.create_table(
        "procedure_response",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("relief_percent", sa.Integer(), nullable=False),
        sa.Column("duration_hours", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("observed_at", _TIME(timezone=True), nullable=False),
        sa.Column("note", _STR(length=1000), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("status", _STR(length=24), nullable=False),
        sa.Column("error_reason", _STR(length=1000), nullable=True),
        sa.Column("withdrawn_by_id", sa.Integer(), nullable=True),
        sa.Column("withdrawn_at", _TIME(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], name=op.f("fk_procedure_response_task_id_task")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["care_plan.id"], name=op.f("fk_procedure_response_plan_id_care_plan")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_procedure_response_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user_account.id"], name=op.f("fk_procedure_response_author_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["withdrawn_by_id"],
            ["user_account.id"],
            name=op.f("fk_procedure_response_withdrawn_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procedure_response")),
    )
    op.create_index(op.f("ix_procedure_response_task_id"), "procedure_response", ["task_id"], unique=False)
    op.create_index(op.f("ix_procedure_response_plan_id"), "procedure_response", ["plan_id"], unique=False)
    op.create_index(
        op.f("ix_procedure_response_patient_id"), "procedure_response", ["patient_id"], unique=False
    )
    op.create_index(
        op.f("ix_procedure_response_author_id"), "procedure_response", ["author_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_procedure_response_author_id"), table_name="procedure_response")
    op.drop_index(op.f("ix_procedure_response_patient_id"), table_name="procedure_response")
    op.drop_index(op.f("ix_procedure_response_plan_id"), table_name="procedure_response")
    op.drop_index(op.f("ix_procedure_response_task_id"), table_name="procedure_response")
    op.drop_table("procedure_response")
    with op.batch_alter_table("goal") as batch:
        batch.drop_column("target_value")
        batch.drop_column("comparator")
        batch.drop_column("measure")
