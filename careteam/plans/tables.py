"""Plans' tables: care plans (boards), goals and tasks."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.db.types import now_column, utcnow


class CarePlan(SQLModel, table=True):
    """The board. ``last_seq`` is the seq of the plan's newest event: the next event takes last_seq + 1."""

    __tablename__ = "care_plan"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    status: str = Field(max_length=24, default="active")
    period_start: date | None = None
    period_end: date | None = None
    version: int = 1
    last_seq: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=now_column())


class Goal(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="care_plan.id", index=True)
    description: str = Field(max_length=500)
    target: str = Field(default="", max_length=200)
    lifecycle_status: str = Field(max_length=24, default="active")
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())


class Task(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="care_plan.id", index=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    discipline: str = Field(max_length=32)
    assignee_id: int | None = Field(default=None, foreign_key="user_account.id")
    status: str = Field(max_length=24, default="requested")
    priority: str = Field(max_length=8, default="routine")
    due_date: date | None = None
    # A sort key within the column: a move between two cards takes the midpoint, touching one row only.
    position: float = 0.0
    checklist: list[dict[str, object]] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
