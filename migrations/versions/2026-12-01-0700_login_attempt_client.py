"""Sign-in throttling per account and client address, and per address across accounts

Revision ID: 0015_login_attempt_client
Revises: 0014_goal_due
Create Date: 2026-12-01 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_login_attempt_client"
down_revision: str | None = "0014_goal_due"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client", sa.String(length=64), nullable=False, server_default=""))
        batch_op.drop_index("ix_login_attempt_username_at")
        batch_op.create_index(
            "ix_login_attempt_username_client_at", ["username", "client", "at"], unique=False
        )
        batch_op.create_index("ix_login_attempt_client_at", ["client", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempt_client_at")
        batch_op.drop_index("ix_login_attempt_username_client_at")
        batch_op.create_index("ix_login_attempt_username_at", ["username", "at"], unique=False)
        batch_op.drop_column("client")
