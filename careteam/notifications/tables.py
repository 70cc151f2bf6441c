"""Notifications' table: one row per notification per recipient."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.db.types import UTCDateTime, now_column, utcnow

TITLE_MAX = 300
BODY_MAX = 2000
LINK_MAX = 300
DEDUP_KEY_MAX = 100


class Notification(SQLModel, table=True):
    """Something a clinician should know about, with a site-relative link to it (``/plans/4#task-17``).

    ``dedup_key``: a notification that must exist at most once per recipient (a referral's overdue
    escalation) carries a key; the unique constraint makes a second insert, even a concurrent one, a no-op.
    Rows without a key never collide (NULLs are distinct on PostgreSQL and SQLite).
    """

    __tablename__ = "notification"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "dedup_key", name="uq_notification_user_id_dedup_key"),
        # The inbox newest first, and the unread count (read_at IS NULL) of one clinician.
        sa.Index("ix_notification_user_id_read_at", "user_id", "read_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    kind: str = Field(max_length=32)
    title: str = Field(max_length=TITLE_MAX)
    body: str = Field(default="", max_length=BODY_MAX)
    link: str = Field(default="", max_length=LINK_MAX)
    patient_id: int | None = Field(default=None, foreign_key="patient.id")
    plan_id: int | None = None
    task_id: int | None = None
    # No foreign key: referrals is a feature above this one (it calls notify), its table not ours to name.
    referral_id: int | None = None
    actor_id: int | None = Field(default=None, foreign_key="user_account.id")
    dedup_key: str | None = Field(default=None, max_length=DEDUP_KEY_MAX)
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
    read_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
