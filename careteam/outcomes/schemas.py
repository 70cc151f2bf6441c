"""Outcome measures' input and output shapes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, ConfigDict, Field, StringConstraints

from careteam.core.schemas import Input, Public
from careteam.core.vocab import Comparator
from careteam.outcomes.codes import Measure, ObservationStatus, ResponseResult
from careteam.outcomes.progress import Achievement

Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Score = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False, strict=True)]
ItemScore = Annotated[int, Field(ge=0, le=10, strict=True)]


class ObservationCreate(Input):
    """A score on the plan. ``value`` for NRS (0-10), PHQ-9 (0-27), GAD-7 (0-21) and ODI (0-100%); for PEG-3
    the three ``items`` (0-10 each), whose mean is its value. ``effective_at``: when it was measured
    (default now; not in the future)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"measure": "nrs", "value": 6, "note": "Worse after PT days"},
                {"measure": "peg", "items": [7, 6, 8]},
                {"measure": "phq9", "value": 12, "effective_at": "2026-12-01T10:30:00Z"},
            ]
        },
    )

    measure: Measure
    value: Score | None = None
    items: list[ItemScore] | None = Field(default=None, max_length=3)
    effective_at: AwareDatetime | None = None
    note: Note | None = None


class EnteredInError(Input):
    """Withdraw a score recorded by mistake; it stays in the record, marked, with the reason."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "Recorded on the wrong patient"}]}
    )

    reason: Note


class Coding(Public):
    system: str
    code: str
    display: str


class ObservationPublic(Public):
    id: int
    plan_id: int
    patient_id: int
    measure: Measure
    code: Coding
    value: float
    unit: str
    items: list[int]
    band: str | None
    note: str | None
    effective_at: datetime
    author_id: int
    status: ObservationStatus
    error_reason: str | None
    withdrawn_by_id: int | None
    withdrawn_at: datetime | None
    version: int
    created_at: datetime


class ObservationsPublic(Public):
    """A plan's scores, oldest first (entered-in-error ones too, marked)."""

    items: list[ObservationPublic]


class ResponseCreate(Input):
    """A diagnostic block's response: the patient's ``relief_percent`` (0-100) over ``duration_hours`` (the
    block's expected duration, e.g. 6 for a medial branch block with bupivacaine), observed at
    ``observed_at`` (default now; not in the future). Positive at or above the team's threshold."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"relief_percent": 80, "duration_hours": 6, "note": "Pain diary: 80% relief for 6 hours"},
                {"relief_percent": 40, "duration_hours": 6, "observed_at": "2026-12-01T16:00:00Z"},
            ]
        },
    )

    relief_percent: Annotated[int, Field(ge=0, le=100, strict=True)]
    duration_hours: Annotated[float, Field(gt=0, le=168, allow_inf_nan=False)]
    observed_at: AwareDatetime | None = None
    note: Note | None = None


class ResponsePublic(Public):
    id: int
    task_id: int
    plan_id: int
    patient_id: int
    relief_percent: int
    duration_hours: float
    threshold: int
    result: ResponseResult
    observed_at: datetime
    note: str | None
    author_id: int
    status: ObservationStatus
    error_reason: str | None
    withdrawn_by_id: int | None
    withdrawn_at: datetime | None
    version: int
    created_at: datetime


class ResponsesPublic(Public):
    """A task's procedure responses, oldest first (entered-in-error ones too, marked)."""

    items: list[ResponsePublic]


class GoalProgressPublic(Public):
    """A goal judged by a measure, and how it stands (docs/outcomes.md: the rule)."""

    goal_id: int
    description: str
    measure: Measure
    comparator: Comparator
    value: float
    due_date: date | None
    status: Achievement
    latest: float | None
    previous: float | None


class GoalsProgressPublic(Public):
    """The plan's goals that are judged by a measure, by goal id."""

    items: list[GoalProgressPublic]
