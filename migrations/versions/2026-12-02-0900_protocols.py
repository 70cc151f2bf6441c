"""Readiness gates on tasks (task_gate, task.link) and protocol templates (FHIR PlanDefinition-like)

Revision ID: 0021_protocols
Revises: 0018_outcomes
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0021_protocols"
down_revision: str | None = "0018_outcomes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString


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


def downgrade() -> None:
    op.drop_index(op.f("ix_task_gate_gate_task_id"), table_name="task_gate")
    op.drop_table("task_gate")
    # Not a batch (copy-and-rename) on SQLite: that would drop the search triggers on task (0010_search).
    op.execute("ALTER TABLE task DROP COLUMN gates")
    op.execute("ALTER TABLE task DROP COLUMN link")
