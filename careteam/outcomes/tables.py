"""Outcome measures' tables: one row per observation and per procedure response, never edited once
recorded (only withdrawn)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.db.types import UTCDateTime, now_column, utcnow


class Observation(SQLModel, table=True):
    """A measure's score on a plan (FHIR Observation). ``items``: the answered items whose mean is ``value``
    (PEG-3), else empty. ``patient_id`` is the plan's patient, kept so that access filters need no join.
    A wrong entry is never changed: it becomes ``entered-in-error`` with who withdrew it, when and why."""

    __table_args__ = (sa.Index("ix_observation_plan_measure", "plan_id", "measure", "effective_at"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="care_plan.id")
    patient_id: int = Field(foreign_key="patient.id", index=True)
    measure: str = Field(max_length=16)
    value: float
    items: list[int] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    note: str | None = Field(default=None, max_length=1000)
    effective_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    author_id: int = Field(foreign_key="user_account.id", index=True)
    status: str = Field(max_length=24, default="final")
    error_reason: str | None = Field(default=None, max_length=1000)
    withdrawn_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    withdrawn_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())


class ProcedureResponse(SQLModel, table=True):
    """A diagnostic block's response, on its task: ``relief_percent`` relief over ``duration_hours`` (the
    block's expected duration), observed at ``observed_at``. ``threshold`` is the team's relief threshold
    when it was recorded (``CARETEAM_BLOCK_RELIEF_THRESHOLD``): the result is positive at or above it.
    Like a score, never edited, only withdrawn as entered-in-error."""

    __tablename__ = "procedure_response"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    plan_id: int = Field(foreign_key="care_plan.id", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    relief_percent: int
    duration_hours: float
    threshold: int
    observed_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    note: str | None = Field(default=None, max_length=1000)
    author_id: int = Field(foreign_key="user_account.id", index=True)
    status: str = Field(max_length=24, default="final")
    error_reason: str | None = Field(default=None, max_length=1000)
    withdrawn_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    withdrawn_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
