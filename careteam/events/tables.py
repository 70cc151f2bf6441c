"""The event log's table."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.db.types import now_column, utcnow


class PlanEvent(SQLModel, table=True):
    """The durable change log: gapless ``seq`` per plan, written in the transaction of the change."""

    __tablename__ = "plan_event"
    __table_args__ = (sa.UniqueConstraint("plan_id", "seq", name="uq_plan_event_plan_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="care_plan.id")
    seq: int
    kind: str = Field(max_length=32)
    data: dict[str, object] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    actor_id: int | None = Field(default=None, foreign_key="user_account.id")
    at: datetime = Field(default_factory=utcnow, sa_column=now_column())
