"""Referrals (FHIR ServiceRequest) with their clocks, and the link from a task to its referral

Revision ID: 0006_referrals
Revises: 0005_notifications
Create Date: 2026-12-01 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import careteam.db.types

revision: str = "0006_referrals"
down_revision: str | None = "0005_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = careteam.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "referral",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("discipline", _STR(length=32), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("claimed_by_id", sa.Integer(), nullable=True),
        sa.Column("reason", _STR(length=500), nullable=False),
        sa.Column("reason_code", _STR(length=40), nullable=True),
        sa.Column("priority", _STR(length=8), nullable=False),
        sa.Column("respond_by", _TIME(timezone=True), nullable=False),
        sa.Column("status", _STR(length=24), nullable=False),
        sa.Column("answer", _STR(length=16), nullable=True),
        sa.Column("decline_reason", _STR(length=1000), nullable=True),
        sa.Column("outcome", _STR(length=4000), nullable=True),
        sa.Column("revoke_reason", _STR(length=1000), nullable=True),
        sa.Column("escalated_at", _TIME(timezone=True), nullable=True),
        sa.Column("phase_since", _TIME(timezone=True), nullable=False),
        sa.Column("phase_seconds", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME(timezone=True), nullable=False),
        sa.Column("updated_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["care_plan.id"], name=op.f("fk_referral_plan_id_care_plan")),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_referral_patient_id_patient")),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["user_account.id"], name=op.f("fk_referral_requester_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["user_account.id"], name=op.f("fk_referral_assignee_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["claimed_by_id"], ["user_account.id"], name=op.f("fk_referral_claimed_by_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral")),
    )
    for column in ("plan_id", "patient_id", "requester_id", "assignee_id", "claimed_by_id"):
        op.create_index(op.f(f"ix_referral_{column}"), "referral", [column], unique=False)
    op.create_index("ix_referral_pool", "referral", ["discipline", "status"], unique=False)
    op.create_index("ix_referral_due", "referral", ["status", "respond_by"], unique=False)
    op.add_column("task", sa.Column("referral_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_task_referral_id"), "task", ["referral_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_task_referral_id"), table_name="task")
    with op.batch_alter_table("task") as batch:
        batch.drop_column("referral_id")
    op.drop_index("ix_referral_due", table_name="referral")
    op.drop_index("ix_referral_pool", table_name="referral")
    for column in ("claimed_by_id", "assignee_id", "requester_id", "patient_id", "plan_id"):
        op.drop_index(op.f(f"ix_referral_{column}"), table_name="referral")
    op.drop_table("referral")
