"""Urgent messages: who must acknowledge one (a clinician, or a discipline: each or any of it), and who did

Revision ID: 0009_message_acks
Revises: 0008_message_reads
Create Date: 2026-12-01 02:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import careteam.db.types

revision: str = "0009_message_acks"
down_revision: str | None = "0008_message_reads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = careteam.db.types.UTCDateTime
_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "message_ack_required",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("discipline", _STR(length=32), nullable=True),
        sa.Column("mode", _STR(length=8), nullable=False),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (discipline IS NULL)",
            name=op.f("ck_message_ack_required_user_or_discipline"),
        ),
        sa.CheckConstraint(
            "mode IN ('each', 'any') AND (mode = 'each' OR discipline IS NOT NULL)",
            name=op.f("ck_message_ack_required_mode"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["message.id"], name=op.f("fk_message_ack_required_message_id_message")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_message_ack_required_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_ack_required")),
        sa.UniqueConstraint("message_id", "user_id", name=op.f("uq_message_ack_required_user")),
        sa.UniqueConstraint("message_id", "discipline", name=op.f("uq_message_ack_required_discipline")),
    )
    op.create_index(
        op.f("ix_message_ack_required_message_id"), "message_ack_required", ["message_id"], unique=False
    )
    op.create_index("ix_message_ack_required_user", "message_ack_required", ["user_id", "message_id"])
    op.create_table(
        "message_ack",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["message.id"], name=op.f("fk_message_ack_message_id_message")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_message_ack_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_ack")),
        sa.UniqueConstraint("message_id", "user_id", name=op.f("uq_message_ack_message_id")),
    )
    op.create_index(op.f("ix_message_ack_message_id"), "message_ack", ["message_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_message_ack_message_id"), table_name="message_ack")
    op.drop_table("message_ack")
    op.drop_index("ix_message_ack_required_user", table_name="message_ack_required")
    op.drop_index(op.f("ix_message_ack_required_message_id"), table_name="message_ack_required")
    op.drop_table("message_ack_required")
