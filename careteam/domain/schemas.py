"""Input and output shapes of the domain: ``XBase / XCreate / XUpdate / XPublic / XsPublic``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from careteam.codes import (
    AuditAction,
    CareTeamStatus,
    ClinicRole,
    Discipline,
    GoalStatus,
    PlanStatus,
    TaskPriority,
    TaskStatus,
    TeamRole,
)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64, pattern=r"^[a-z0-9_.-]+$")
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
Mrn = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
]

T = TypeVar("T")


class Input(BaseModel):
    """Every request body: unknown fields are refused, and no string may hold a NUL character (PostgreSQL
    text cannot store one, and no clinician types one)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(Public, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


class UserCreate(Input):
    username: Username
    display_name: DisplayName
    discipline: Discipline
    role: ClinicRole = ClinicRole.clinician
    password: Password


class UserUpdate(Input):
    display_name: DisplayName | None = None
    discipline: Discipline | None = None
    role: ClinicRole | None = None
    active: bool | None = None
    password: Password | None = None


class UserPublic(Public):
    id: int
    username: str
    display_name: str
    discipline: Discipline
    role: ClinicRole
    active: bool


def _not_in_future(value: date | None) -> date | None:
    if value is not None and value > date.today():
        raise ValueError("birth date cannot be in the future")
    return value


BirthDate = Annotated[date, AfterValidator(_not_in_future)]


class PatientCreate(Input):
    mrn: Mrn
    name: Name
    birth_date: BirthDate


class PatientUpdate(Input):
    name: Name | None = None
    birth_date: BirthDate | None = None


class PatientPublic(Public):
    id: int
    mrn: str
    name: str
    birth_date: date


class MemberCreate(Input):
    user_id: int = Field(gt=0, lt=2**31)
    role: TeamRole = TeamRole.member
    discipline: Discipline | None = None  # defaults to the user's own discipline


class MemberPublic(Public):
    id: int
    user_id: int
    username: str
    display_name: str
    role: TeamRole
    discipline: Discipline


class CareTeamUpdate(Input):
    name: Name | None = None
    status: CareTeamStatus | None = None


class CareTeamPublic(Public):
    id: int
    patient_id: int
    name: str
    status: CareTeamStatus
    version: int
    members: list[MemberPublic]


class AuditEntryPublic(Public):
    id: int
    at: datetime
    user_id: int | None
    action: AuditAction
    patient_id: int | None
    resource_type: str
    resource_id: str | None
    outcome: str
    request_id: str | None
    client_ip: str | None


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=4000)]
UserId = Annotated[int, Field(gt=0, lt=2**31)]


class ChecklistItem(Input):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    done: bool = False


Checklist = Annotated[list[ChecklistItem], Field(max_length=50)]


class GoalCreate(Input):
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    target: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    lifecycle_status: GoalStatus = GoalStatus.active


class GoalUpdate(Input):
    description: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] | None
    ) = None
    target: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    lifecycle_status: GoalStatus | None = None


class GoalPublic(Public):
    id: int
    plan_id: int
    description: str
    target: str
    lifecycle_status: GoalStatus
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
    version: int
    last_seq: int


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


class TaskUpdate(Input):
    """Any subset of fields; ``status`` follows the FHIR Task state machine. A move is status + position."""

    title: Title | None = None
    description: LongText | None = None
    discipline: Discipline | None = None
    assignee_id: UserId | None = None
    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    due_date: date | None = None
    position: float | None = Field(default=None, allow_inf_nan=False, ge=-1e12, le=1e12)
    checklist: Checklist | None = None


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
    version: int


class EventPublic(Public):
    plan_id: int
    seq: int
    kind: str
    data: dict[str, object]
    actor_id: int | None
    at: datetime


class EventsPublic(BaseModel):
    items: list[EventPublic]
    last_seq: int
    resync: bool = False


class BoardPublic(BaseModel):
    """Everything a board page shows, as of ``last_seq``: apply events with seq > last_seq to stay current."""

    plan: PlanPublic
    patient: PatientPublic
    goals: list[GoalPublic]
    tasks: list[TaskPublic]
    members: list[MemberPublic]
    last_seq: int
