"""Input and output shapes of the domain: ``XBase / XCreate / XUpdate / XPublic / XsPublic``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from careteam.core.schemas import Input, LongText, Public, Title, UserId
from careteam.core.vocab import MEASURE_NAMES, MEASURE_RANGES, Comparator, Discipline, Measure
from careteam.patients.schemas import MemberPublic, PatientPublic
from careteam.plans.codes import GoalStatus, PlanStatus, TaskPriority, TaskStatus


class ChecklistItem(Input):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    done: bool = False


Checklist = Annotated[list[ChecklistItem], Field(max_length=50)]


class MeasureTarget(Input):
    """A goal judged by an outcome measure: met when the latest score ``comparator value`` (e.g. PEG <= 4),
    by the goal's ``due_date``. ``value`` is within the measure's range (NRS and PEG 0-10, PHQ-9 0-27,
    GAD-7 0-21, ODI 0-100)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"measure": "peg", "comparator": "<=", "value": 4}]}
    )

    measure: Measure
    comparator: Comparator
    value: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]

    @field_validator("value")
    @classmethod
    def _in_range(cls, value: float, info: ValidationInfo) -> float:
        measure = info.data.get("measure")
        if measure is not None:
            low, high = MEASURE_RANGES[measure]
            if not low <= value <= high:
                raise ValueError(f"a {MEASURE_NAMES[measure]} target is from {low} to {high}")
        return value

    def words(self) -> str:
        """ "PEG <= 4", as a card says it."""
        return f"{MEASURE_NAMES[self.measure]} {self.comparator.value} {self.value:g}"


class GoalCreate(Input):
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    target: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    lifecycle_status: GoalStatus = GoalStatus.active
    due_date: date | None = None
    # Optional: the measure the goal is judged by (its achievement is computed from the latest scores).
    measure_target: MeasureTarget | None = None


class GoalUpdate(Input):
    description: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] | None
    ) = None
    target: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    lifecycle_status: GoalStatus | None = None
    # null clears the due date, and the measure target (the goal is no longer judged by a measure); the
    # other fields cannot be emptied.
    due_date: date | None = None
    measure_target: MeasureTarget | None = None


class GoalPublic(Public):
    id: int
    plan_id: int
    description: str
    target: str
    lifecycle_status: GoalStatus
    due_date: date | None
    measure_target: MeasureTarget | None = None
    version: int


class PlanCreate(Input):
    patient_id: UserId
    title: Title
    description: LongText = ""
    status: PlanStatus = PlanStatus.active
    period_start: date | None = None
    period_end: date | None = None
    goals: Annotated[list[GoalCreate], Field(max_length=20)] = []

    @field_validator("period_end")
    @classmethod
    def _period_in_order(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("period_start")
        if value is not None and start is not None and value < start:
            raise ValueError("period_end must not be before period_start")
        return value


class PlanUpdate(Input):
    title: Title | None = None
    description: LongText | None = None
    status: PlanStatus | None = None
    period_start: date | None = None
    period_end: date | None = None


class PlanPublic(Public):
    id: int
    patient_id: int
    title: str
    description: str
    status: PlanStatus
    period_start: date | None
    period_end: date | None
    last_reviewed_at: datetime | None = None
    version: int
    last_seq: int


# A link outside careteam (the imaging study a gate reviews): http(s) only, so a card never links script.
Link = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=r"^https?://[^\s]+$")]


class TaskCreate(Input):
    title: Title
    description: LongText = ""
    discipline: Discipline
    assignee_id: UserId | None = None
    status: TaskStatus = TaskStatus.requested
    priority: TaskPriority = TaskPriority.routine
    due_date: date | None = None
    position: float | None = Field(default=None, allow_inf_nan=False, ge=-1e12, le=1e12)
    checklist: Checklist = []
    link: Link | None = None


StatusReason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class TaskUpdate(Input):
    """Any subset of fields; ``status`` follows the FHIR Task state machine and the board's rules (who may
    make which move: ``plans.rules``). A move is status + position; a move to cancelled needs a
    ``status_reason``."""

    title: Title | None = None
    description: LongText | None = None
    discipline: Discipline | None = None
    assignee_id: UserId | None = None
    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    due_date: date | None = None
    position: float | None = Field(default=None, allow_inf_nan=False, ge=-1e12, le=1e12)
    checklist: Checklist | None = None
    status_reason: StatusReason | None = None
    link: Link | None = None


class TaskPublic(Public):
    id: int
    plan_id: int
    title: str
    description: str
    discipline: Discipline
    assignee_id: int | None
    status: TaskStatus
    priority: TaskPriority
    due_date: date | None
    position: float
    checklist: list[ChecklistItem]
    referral_id: int | None = None
    message_id: int | None = None
    author_id: int | None = None
    status_reason: str | None = None
    reopened_from_id: int | None = None
    link: str | None = None
    # Its readiness gates: tasks on the plan that must be completed before it becomes ready, starts or
    # completes (the board shows which are open from their statuses).
    gates: list[int] = []
    version: int


class BoardPublic(BaseModel):
    """Everything a board page shows, as of ``last_seq``: apply events with seq > last_seq to stay current."""

    plan: PlanPublic
    patient: PatientPublic
    goals: list[GoalPublic]
    tasks: list[TaskPublic]
    members: list[MemberPublic]
    last_seq: int


class GatesUpdate(Input):
    """The whole list of a task's gates (an empty list removes them all)."""

    gate_task_ids: Annotated[list[UserId], Field(max_length=20)] = Field(
        examples=[[12, 13, 14]], description="Tasks on the same plan that must be completed first."
    )
