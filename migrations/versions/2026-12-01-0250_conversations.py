"""Direct conversations between clinicians (optionally about a patient), their members' read positions,
messages and each edit's earlier text

Revision ID: 0012_conversations
Revises: 0011_task_message
Create Date: 2026-12-01 02:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import careteam.db.types

revision: str = "0012_conversations"
down_revision: str | None = "0011_task_message"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", careteam.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_message_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_conversation_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_conversation_patient_id_patient")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation")),
    )
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.create_index("ix_conversation_last_message_id", ["last_message_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_conversation_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "conversation_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("last_read_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", careteam.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_conversation_member_conversation_id_conversation"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_conversation_member_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_member")),
        sa.UniqueConstraint(
            "conversation_id", "user_id", name=op.f("uq_conversation_member_conversation_id")
        ),
    )
    with op.batch_alter_table("conversation_member", schema=None) as batch_op:
        batch_op.create_index("ix_conversation_member_user", ["user_id", "conversation_id"], unique=False)

    op.create_table(
        "conversation_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", careteam.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("edited_at", careteam.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", careteam.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user_account.id"], name=op.f("fk_conversation_message_author_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_conversation_message_conversation_id_conversation"),
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by"], ["user_account.id"], name=op.f("fk_conversation_message_deleted_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_message")),
    )
    with op.batch_alter_table("conversation_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversation_message_author_id"), ["author_id"], unique=False)
        batch_op.create_index("ix_conversation_message_thread", ["conversation_id", "id"], unique=False)

    op.create_table(
        "conversation_message_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("edited_at", careteam.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("editor_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["editor_id"],
            ["user_account.id"],
            name=op.f("fk_conversation_message_revision_editor_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["conversation_message.id"],
            name=op.f("fk_conversation_message_revision_message_id_conversation_message"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_message_revision")),
        sa.UniqueConstraint(
            "message_id", "version", name=op.f("uq_conversation_message_revision_message_id")
        ),
    )
    with op.batch_alter_table("conversation_message_revision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_message_revision_message_id"), ["message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation_message_revision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_message_revision_message_id"))

    op.drop_table("conversation_message_revision")
    with op.batch_alter_table("conversation_message", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_message_thread")
        batch_op.drop_index(batch_op.f("ix_conversation_message_author_id"))

    op.drop_table("conversation_message")
    with op.batch_alter_table("conversation_member", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_member_user")

    op.drop_table("conversation_member")
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_patient_id"))
        batch_op.drop_index("ix_conversation_last_message_id")

    op.drop_table("conversation")
