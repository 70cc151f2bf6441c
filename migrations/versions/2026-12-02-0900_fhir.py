"""FHIR: patients shared with an EMR interface account, and the EMR's own identifier on a referral

Revision ID: 0022_fhir
Revises: 0021_protocols
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import careteam.db.types

revision: str = "0022_fhir"
down_revision: str | None = "0021_protocols"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = careteam.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "patient_share",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("shared_by_id", sa.Integer(), nullable=False),
        sa.Column("shared_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["shared_by_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "user_id", name="uq_patient_share_patient_user"),
    )
    op.create_index(op.f("ix_patient_share_patient_id"), "patient_share", ["patient_id"])
    op.create_index(op.f("ix_patient_share_user_id"), "patient_share", ["user_id"])
    with op.batch_alter_table("referral") as batch:
        batch.add_column(sa.Column("identifier_system", _STR(length=200), nullable=True))
        batch.add_column(sa.Column("identifier_value", _STR(length=100), nullable=True))
        batch.create_unique_constraint("uq_referral_identifier", ["identifier_system", "identifier_value"])


def downgrade() -> None:
    with op.batch_alter_table("referral") as batch:
        batch.drop_constraint("uq_referral_identifier", type_="unique")
        batch.drop_column("identifier_value")
        batch.drop_column("identifier_system")
    op.drop_index(op.f("ix_patient_share_user_id"), table_name="patient_share")
    op.drop_index(op.f("ix_patient_share_patient_id"), table_name="patient_share")
    op.drop_table("patient_share")
