"""Case conferences: the conference, its participants, agenda items, decisions and attendance; a plan keeps
when a conference last discussed it (``care_plan.last_reviewed_at``), set here from the conferences already
held (there are none before this revision: the statement is the rule, for a database restored with some)

Revision ID: 0016_conferences
Revises: 0015_login_attempt_client
Create Date: 2026-12-01 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import careteam.db.types

revision: str = "0016_conferences"
down_revision: str | None = "0015_login_attempt_client"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conference",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("team", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("starts_at", careteam.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("facilitator_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("current_item_id", sa.Integer(), nullable=True),
        sa.Column("started_at", careteam.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", careteam.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("access_from", careteam.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("access_until", careteam.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", careteam.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", careteam.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user_account.id"], name=op.f("fk_conference_created_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["facilitator_id"], ["user_account.id"], name=op.f("fk_conference_facilitator_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conference")),
    )
    with op.batch_alter_table("conference", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conference_facilitator_id"), ["facilitator_id"], unique=False)
        batch_op.create_index("ix_conference_team_start", ["team", "starts_at"], unique=False)

    op.create_table(
        "conference_attendance",
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", careteam.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", careteam.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("left_at", careteam.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["conference_id"],
            ["conference.id"],
            name=op.f("fk_conference_attendance_conference_id_conference"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_conference_attendance_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("conference_id", "user_id", name=op.f("pk_conference_attendance")),
    )
    op.create_table(
        "conference_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("presenter_id", sa.Integer(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("minutes", sqlmodel.sql.sqltypes.AutoString(length=10000), nullable=False),
        sa.Column("carried_from_id", sa.Integer(), nullable=True),
        sa.Column("rolled_over", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["carried_from_id"],
            ["conference_item.id"],
            name=op.f("fk_conference_item_carried_from_id_conference_item"),
        ),
        sa.ForeignKeyConstraint(
            ["conference_id"],
            ["conference.id"],
            name=op.f("fk_conference_item_conference_id_conference"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_conference_item_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["care_plan.id"], name=op.f("fk_conference_item_plan_id_care_plan")
        ),
        sa.ForeignKeyConstraint(
            ["presenter_id"], ["user_account.id"], name=op.f("fk_conference_item_presenter_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conference_item")),
        sa.UniqueConstraint("conference_id", "plan_id", name="uq_conference_item_plan"),
    )
    with op.batch_alter_table("conference_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conference_item_conference_id"), ["conference_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_conference_item_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_conference_item_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "conference_member",
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["conference_id"],
            ["conference.id"],
            name=op.f("fk_conference_member_conference_id_conference"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_conference_member_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("conference_id", "user_id", name=op.f("pk_conference_member")),
    )
    with op.batch_alter_table("conference_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conference_member_user_id"), ["user_id"], unique=False)

    op.create_table(
        "conference_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("created_at", careteam.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user_account.id"], name=op.f("fk_conference_decision_author_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["conference_id"],
            ["conference.id"],
            name=op.f("fk_conference_decision_conference_id_conference"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["conference_item.id"],
            name=op.f("fk_conference_decision_item_id_conference_item"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referral.id"], name=op.f("fk_conference_decision_referral_id_referral")
        ),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], name=op.f("fk_conference_decision_task_id_task")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conference_decision")),
    )
    with op.batch_alter_table("conference_decision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conference_decision_conference_id"), ["conference_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_conference_decision_item_id"), ["item_id"], unique=False)

    op.create_table(
        "conference_item_attendance",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", careteam.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conference_id"],
            ["conference.id"],
            name=op.f("fk_conference_item_attendance_conference_id_conference"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["conference_item.id"],
            name=op.f("fk_conference_item_attendance_item_id_conference_item"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_conference_item_attendance_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("item_id", "user_id", name=op.f("pk_conference_item_attendance")),
    )
    with op.batch_alter_table("conference_item_attendance", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conference_item_attendance_conference_id"), ["conference_id"], unique=False
        )

    op.add_column(
        "care_plan",
        sa.Column("last_reviewed_at", careteam.db.types.UTCDateTime(timezone=True), nullable=True),
    )
    # A plan was last reviewed when the latest ended conference that discussed it ended.
    op.execute(
        """
        UPDATE care_plan SET last_reviewed_at = (
            SELECT max(conference.ended_at) FROM conference_item
            JOIN conference ON conference.id = conference_item.conference_id
            WHERE conference_item.plan_id = care_plan.id
              AND conference_item.status = 'discussed' AND conference.status = 'ended'
        )
        """
    )


def downgrade() -> None:
    # Dropped in place on both databases (SQLite since 3.35), as 0011_task_message does.
    op.execute("ALTER TABLE care_plan DROP COLUMN last_reviewed_at")

    with op.batch_alter_table("conference_item_attendance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conference_item_attendance_conference_id"))

    op.drop_table("conference_item_attendance")
    with op.batch_alter_table("conference_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conference_decision_item_id"))
        batch_op.drop_index(batch_op.f("ix_conference_decision_conference_id"))

    op.drop_table("conference_decision")
    with op.batch_alter_table("conference_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conference_member_user_id"))

    op.drop_table("conference_member")
    with op.batch_alter_table("conference_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conference_item_plan_id"))
        batch_op.drop_index(batch_op.f("ix_conference_item_patient_id"))
        batch_op.drop_index(batch_op.f("ix_conference_item_conference_id"))

    op.drop_table("conference_item")
    op.drop_table("conference_attendance")
    with op.batch_alter_table("conference", schema=None) as batch_op:
        batch_op.drop_index("ix_conference_team_start")
        batch_op.drop_index(batch_op.f("ix_conference_facilitator_id"))

    op.drop_table("conference")
