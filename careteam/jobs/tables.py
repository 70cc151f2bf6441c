"""The scheduled jobs' table: one row per declared job, holding when it is next due."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.db.types import UTCDateTime


class ScheduledJob(SQLModel, table=True):
    """A job's next due time; its row is the lock a process takes to run it (FOR UPDATE SKIP LOCKED)."""

    __tablename__ = "scheduled_job"

    name: str = Field(primary_key=True, max_length=100)
    next_run_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    # The clock's time of the last run that committed; None until one has.
    last_run_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
    # Runs that failed since the last one that did not, and the last failure (type and message).
    failures: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
