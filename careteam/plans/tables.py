"""Plans' tables: care plans (boards), goals and tasks."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import column_property
from sqlmodel import Field, SQLModel, col

from careteam.db.types import UTCDateTime, now_column, utcnow
from careteam.events import streams
from careteam.events.tables import StreamHead


class CarePlan(SQLModel, table=True):
    """The board. ``last_seq`` is the newest seq of its stream ``plan:<id>`` (read with the row)."""

    __tablename__ = "care_plan"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    status: str = Field(max_length=24, default="active")
    period_start: date | None = None
    period_end: date | None = None
    # When a case conference last discussed it (set as that conference ends): "changed since the last
    # conference" starts here, and "Suggest agenda" proposes plans not reviewed for 3 months.
    last_reviewed_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=now_column())

    # Not a column of care_plan: the plan stream's head, loaded with every select of a plan (below). A plan
    # just created has none until its first event (``plans.service`` sets it).
    last_seq: ClassVar[int]


# The plan's stream head, as a column of every select of CarePlan: the board and its seq in one read.
CarePlan.__mapper__.add_property(  # type: ignore[attr-defined]
    "last_seq",
    column_property(
        func.coalesce(
            select(col(StreamHead.last_seq))
            .where(col(StreamHead.stream_kind) == streams.PLAN, col(StreamHead.stream_id) == col(CarePlan.id))
            .correlate_except(StreamHead)
            .scalar_subquery(),
            0,
        )
    ),
)


class Goal(SQLModel, table=True):
    """A plan's goal. ``target`` is free text ("Walk 30 minutes daily"); a goal judged by an outcome measure
    also has ``measure``, ``comparator`` and ``target_value`` ("PEG <= 4", by ``due_date``): all three or
    none, set and read as one ``measure_target`` (schemas.MeasureTarget)."""

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="care_plan.id", index=True)
    description: str = Field(max_length=500)
    target: str = Field(default="", max_length=200)
    lifecycle_status: str = Field(max_length=24, default="active")
    due_date: date | None = None
    measure: str | None = Field(default=None, max_length=16)
    comparator: str | None = Field(default=None, max_length=2)
    target_value: float | None = None
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())

    @property
    def measure_target(self) -> dict[str, object] | None:
        if self.measure is None or self.comparator is None or self.target_value is None:
            return None
        return {"measure": self.measure, "comparator": self.comparator, "value": self.target_value}

    def set_measure_target(self, target: dict[str, object] | None) -> None:
        """Link the goal to a measure (``{"measure", "comparator", "value"}``), or unlink it (None)."""
        self.measure = None if target is None else str(target["measure"])
        self.comparator = None if target is None else str(target["comparator"])
        value = None if target is None else target["value"]
        self.target_value = None if value is None else float(value)  # type: ignore[arg-type]


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
    # The referral whose acceptance put this task on the board (no foreign key: referrals is a feature
    # above plans, and a task outlives nothing of it).
    referral_id: int | None = Field(default=None, index=True)
    # The message it was made from ("Make this a task"; no foreign key: messaging is a feature above plans).
    message_id: int | None = Field(default=None, index=True)
    # Who put it on the board (None: older than its task.created event). The ids below have no foreign key:
    # SQLite cannot drop such a column in place, and a batch copy would drop search's triggers on task.
    author_id: int | None = Field(default=None)
    # Why it was cancelled (FHIR Task.statusReason); required by a move to cancelled.
    status_reason: str | None = Field(default=None, max_length=500)
    # The finished task this one follows up ("Reopen"): the original stays final, as FHIR requires.
    reopened_from_id: int | None = Field(default=None, index=True)
    # A link to what the task is about outside careteam (e.g. the imaging study a gate reviews).
    link: str | None = Field(default=None, max_length=500)
    # Its readiness gates' task ids, sorted: the row's copy of its ``task_gate`` rows (written together, by
    # ``tasks.set_gates`` and ``create_task`` only), so a move, its event and the board read need no join.
    gates: list[int] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False, server_default=sa.text("'[]'"))
    )
    # The last status change, for its author's Undo within a short window: the status before, by whom, when.
    undo_status: str | None = Field(default=None, max_length=24)
    status_changed_by_id: int | None = Field(default=None)
    status_changed_at: datetime | None = Field(
        default=None, sa_column=sa.Column(UTCDateTime(), nullable=True)
    )
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=now_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=now_column())


class TaskGate(SQLModel, table=True):
    """A readiness gate: ``task_id`` (e.g. "SCS trial") may not become ready, start or complete until
    ``gate_task_id`` (e.g. "Psychological clearance"), a task on the same plan, is completed."""

    __tablename__ = "task_gate"

    task_id: int = Field(foreign_key="task.id", primary_key=True)
    gate_task_id: int = Field(foreign_key="task.id", primary_key=True, index=True)
