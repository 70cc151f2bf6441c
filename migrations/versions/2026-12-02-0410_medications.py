"""Medications on a plan (opioids with MME/day, anticoagulants with their hold), and the recurring
opioid-safety tasks made, unique per plan, kind and period

Revision ID: 0020_medications
Revises: 0019_goal_targets
Create Date: 2026-12-02 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import careteam.db.types

revision: str = "0020_medications"
down_revision: str | None = "0019_goal_targets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = careteam.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "medication",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("drug", _STR(length=40), nullable=False),
        sa.Column("drug_class", _STR(length=16), nullable=False),
        sa.Column("dose", sa.Float(), nullable=False),
        sa.Column("unit", _STR(length=8), nullable=False),
        sa.Column("frequency", _STR(length=16), nullable=False),
        sa.Column("route", _STR(length=16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("status", _STR(length=16), nullable=False),
        sa.Column("status_since", sa.Date(), nullable=False),
        sa.Column("hold_days", sa.Integer(), nullable=True),
        sa.Column("hold_note", _STR(length=500), nullable=True),
        sa.Column("note", _STR(length=1000), nullable=True),
        sa.Column("safety_message_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME(timezone=True), nullable=False),
        sa.Column("updated_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["care_plan.id"], name=op.f("fk_medication_plan_id_care_plan")),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_medication_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user_account.id"], name=op.f("fk_medication_author_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["user_account.id"], name=op.f("fk_medication_updated_by_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medication")),
    )
    op.create_index(op.f("ix_medication_patient_id"), "medication", ["patient_id"], unique=False)
    op.create_index(op.f("ix_medication_author_id"), "medication", ["author_id"], unique=False)
    op.create_index("ix_medication_plan_status", "medication", ["plan_id", "status"], unique=False)
    op.create_table(
        "medication_safety_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("kind", _STR(length=16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["care_plan.id"], name=op.f("fk_medication_safety_task_plan_id_care_plan")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_medication_safety_task_task_id_task")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medication_safety_task")),
        sa.UniqueConstraint(
            "plan_id", "kind", "period_start", name=op.f("uq_medication_safety_task_plan_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("medication_safety_task")
    op.drop_index("ix_medication_plan_status", table_name="medication")
    op.drop_index(op.f("ix_medication_author_id"), table_name="medication")
    op.drop_index(op.f("ix_medication_patient_id"), table_name="medication")
    op.drop_table("medication")
