"""Protocols' tables: a template, its versions (never edited: an edit is a new version), each version's
goals and tasks, and which version made which goals and tasks on which plan."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.db.types import now_column, utcnow


class ProtocolTemplate(SQLModel, table=True):
    """A template as it is known: its name, status and current version (``version``, its ETag)."""

    __tablename__ = "protocol_template"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    status: str = Field(max_length=16, default="draft")
    # The number of its newest version (1, 2, ...): what If-Match compares.
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=now_column())


class ProtocolVersion(SQLModel, table=True):
    """One version of a template, as it was saved; applied plans keep pointing at it."""

    __tablename__ = "protocol_version"
    __table_args__ = (sa.UniqueConstraint("template_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="protocol_template.id", index=True)
    number: int
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    status: str = Field(max_length=16)
    author_id: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())


class ProtocolGoal(SQLModel, table=True):
    __tablename__ = "protocol_goal"

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="protocol_version.id", index=True)
    position: int
    description: str = Field(max_length=500)
    target: str = Field(default="", max_length=200)
    # Days after the start date it is due; None: no due date.
    due_offset_days: int | None = None


class ProtocolTask(SQLModel, table=True):
    __tablename__ = "protocol_task"

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="protocol_version.id", index=True)
    position: int
    # Its name within the template ("mbb1"), by which other tasks name it as a gate.
    key: str = Field(max_length=40)
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    discipline: str = Field(max_length=32)
    priority: str = Field(max_length=8, default="routine")
    due_offset_days: int | None = None
    gates: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))


class ProtocolApplication(SQLModel, table=True):
    """A template version applied to a plan: the goals and tasks it made, in the template's order."""

    __tablename__ = "protocol_application"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="care_plan.id", index=True)
    version_id: int = Field(foreign_key="protocol_version.id", index=True)
    start_date: date
    goal_ids: list[int] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    task_ids: list[int] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    applied_by_id: int = Field(foreign_key="user_account.id")
    applied_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
