"""Event streams: the plan event log becomes the log of every stream (plan:42, user:12, conference:7)

plan_event rows move to stream_event under stream ``plan:<plan_id>`` with their ids and seqs kept, and each
plan's care_plan.last_seq becomes the head of its stream, so a tab that reconnects with ``after`` continues
with no gap and no duplicate.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import careteam.db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stream",
        sa.Column("stream_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("stream_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("stream_kind", "stream_id", name=op.f("pk_stream")),
    )
    op.create_table(
        "stream_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stream_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("at", careteam.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user_account.id"], name=op.f("fk_stream_event_actor_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stream_event")),
        sa.UniqueConstraint("stream_kind", "stream_id", "seq", name="uq_stream_event_stream_seq"),
    )
    op.create_index("ix_stream_event_stream_kind_at", "stream_event", ["stream_kind", "at"], unique=False)
    op.execute(
        "INSERT INTO stream (stream_kind, stream_id, last_seq) "
        "SELECT 'plan', id, last_seq FROM care_plan WHERE last_seq > 0"
    )
    op.execute(
        "INSERT INTO stream_event (stream_kind, stream_id, id, seq, kind, data, actor_id, at) "
        "SELECT 'plan', plan_id, id, seq, kind, data, actor_id, at FROM plan_event"
    )
    _continue_ids("stream_event")
    op.drop_table("plan_event")
    with op.batch_alter_table("care_plan", schema=None) as batch_op:
        batch_op.drop_column("last_seq")


def downgrade() -> None:
    with op.batch_alter_table("care_plan", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seq", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("care_plan", schema=None) as batch_op:
        batch_op.alter_column("last_seq", server_default=None)
    op.execute(
        "UPDATE care_plan SET last_seq = (SELECT s.last_seq FROM stream s "
        "WHERE s.stream_kind = 'plan' AND s.stream_id = care_plan.id) "
        "WHERE EXISTS (SELECT 1 FROM stream s WHERE s.stream_kind = 'plan' AND s.stream_id = care_plan.id)"
    )
    op.create_table(
        "plan_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("at", careteam.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user_account.id"], name=op.f("fk_plan_event_actor_id_user_account")
        ),
        sa.ForeignKeyConstraint(["plan_id"], ["care_plan.id"], name=op.f("fk_plan_event_plan_id_care_plan")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_event")),
        sa.UniqueConstraint("plan_id", "seq", name="uq_plan_event_plan_seq"),
    )
    # Only plan streams existed before; events of other streams (inboxes) have no place to go back to.
    op.execute(
        "INSERT INTO plan_event (plan_id, id, seq, kind, data, actor_id, at) "
        "SELECT stream_id, id, seq, kind, data, actor_id, at FROM stream_event WHERE stream_kind = 'plan'"
    )
    _continue_ids("plan_event")
    op.drop_index("ix_stream_event_stream_kind_at", table_name="stream_event")
    op.drop_table("stream_event")
    op.drop_table("stream")


def _continue_ids(table: str) -> None:
    """PostgreSQL: the id sequence goes on after the copied ids (SQLite's INTEGER PRIMARY KEY does so itself)."""
    if op.get_bind().dialect.name == "postgresql":
        # ``table`` is one of this file's own literals, never input.
        op.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
            f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        )
