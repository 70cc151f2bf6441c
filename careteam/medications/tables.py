"""Medications' tables: a plan's medications (versioned), and the recurring safety tasks made, one row per
plan, kind and period (the unique key that keeps each one to exactly once per period)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from careteam.db.types import UTCDateTime, now_column, utcnow


class Medication(SQLModel, table=True):
    """A medication on a plan (FHIR MedicationStatement-like). ``dose`` in the drug's unit (mg; transdermal
    fentanyl mcg/h), taken ``frequency``; ``hold_days``/``hold_note``: an anticoagulant's hold before a
    procedure. ``safety_message_id``: the urgent message its last safety change posted (who must
    acknowledge it). ``patient_id`` is the plan's patient, kept so that access filters need no join."""

    __table_args__ = (sa.Index("ix_medication_plan_status", "plan_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="care_plan.id")
    patient_id: int = Field(foreign_key="patient.id", index=True)
    drug: str = Field(max_length=40)
    drug_class: str = Field(max_length=16)
    dose: float
    unit: str = Field(max_length=8)
    frequency: str = Field(max_length=16)
    route: str = Field(max_length=16)
    start_date: date
    status: str = Field(max_length=16, default="active")
    status_since: date
    hold_days: int | None = None
    hold_note: str | None = Field(default=None, max_length=500)
    note: str | None = Field(default=None, max_length=1000)
    safety_message_id: int | None = None
    author_id: int = Field(foreign_key="user_account.id", index=True)
    updated_by_id: int = Field(foreign_key="user_account.id")
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=now_column())


class SafetyTaskRun(SQLModel, table=True):
    """A recurring opioid-safety task put on a plan for one period: unique per (plan, kind, period start),
    so that two processes running the job at once cannot both make it (the second insert fails)."""

    __tablename__ = "medication_safety_task"
    __table_args__ = (sa.UniqueConstraint("plan_id", "kind", "period_start"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="care_plan.id")
    kind: str = Field(max_length=16)
    period_start: date
    task_id: int | None = Field(default=None, foreign_key="task.id")
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
