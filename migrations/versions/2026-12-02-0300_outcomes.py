"""Outcome measures (FHIR Observation): one row per score on a plan, withdrawn only as entered-in-error

Revision ID: 0018_outcomes
Revises: 0017_auth_session_client
Create Date: 2026-12-02 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import careteam.db.types

revision: str = "0018_outcomes"
down_revision: str | None = "0017_auth_session_client"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = careteam.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "observation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("measure", _STR(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("note", _STR(length=1000), nullable=True),
        sa.Column("effective_at", _TIME(timezone=True), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("status", _STR(length=24), nullable=False),
        sa.Column("error_reason", _STR(length=1000), nullable=True),
        sa.Column("withdrawn_by_id", sa.Integer(), nullable=True),
        sa.Column("withdrawn_at", _TIME(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["care_plan.id"], name=op.f("fk_observation_plan_id_care_plan")),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_observation_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user_account.id"], name=op.f("fk_observation_author_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["withdrawn_by_id"], ["user_account.id"], name=op.f("fk_observation_withdrawn_by_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation")),
    )
    op.create_index(op.f("ix_observation_patient_id"), "observation", ["patient_id"], unique=False)
    op.create_index(op.f("ix_observation_author_id"), "observation", ["author_id"], unique=False)
    op.create_index(
        "ix_observation_plan_measure", "observation", ["plan_id", "measure", "effective_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_observation_plan_measure", table_name="observation")
    op.drop_index(op.f("ix_observation_author_id"), table_name="observation")
    op.drop_index(op.f("ix_observation_patient_id"), table_name="observation")
    op.drop_table("observation")
