"""Protocols' shapes: ``TemplateBody`` (what an IPM lead saves: every save is a new version),
``TemplatePublic``, ``ApplyTemplate`` and ``ApplicationPublic``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from careteam.core.schemas import Input, LongText, Public, Title, UserId
from careteam.core.vocab import Discipline
from careteam.plans.codes import TaskPriority
from careteam.protocols.codes import TemplateStatus

Offset = Annotated[int, Field(ge=0, le=3650, description="Days after the start date it is due")]
Key = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$"),
]


class TemplateGoal(Input):
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    target: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    due_offset_days: Offset | None = None


class TemplateTask(Input):
    key: Key = Field(description="Its name within the template, by which other tasks name it as a gate")
    title: Title
    discipline: Discipline = Field(description="The lane it goes in")
    priority: TaskPriority = TaskPriority.routine
    due_offset_days: Offset | None = None
    description: LongText = ""
    gates: Annotated[list[Key], Field(max_length=20)] = Field(
        default=[], description="Keys of this template's tasks that must be completed first"
    )


class TemplateBody(Input):
    """A whole template as saved (create, or edit: a new version; the old ones stay)."""

    name: Title
    description: LongText = ""
    status: TemplateStatus = TemplateStatus.draft
    goals: Annotated[list[TemplateGoal], Field(max_length=30)] = []
    tasks: Annotated[list[TemplateTask], Field(min_length=1, max_length=60)]

    @model_validator(mode="after")
    def _gates_are_tasks_of_the_template(self) -> TemplateBody:
        keys = [t.key for t in self.tasks]
        if len(set(keys)) != len(keys):
            raise ValueError("tasks: each task needs a key of its own")
        known = set(keys)
        for task in self.tasks:
            unknown = [g for g in task.gates if g not in known]
            if unknown:
                raise ValueError(f"tasks: {task.key} is gated by unknown keys {', '.join(unknown)}")
            if task.key in task.gates:
                raise ValueError(f"tasks: {task.key} cannot be its own gate")
        if gate_order(self.tasks) is None:
            raise ValueError("tasks: the gates go round in a circle")
        return self


def gate_order(tasks: list[TemplateTask]) -> list[int] | None:
    """The tasks' indexes with each task after its gates, otherwise in the template's order; None if the
    gates go round in a circle."""
    index = {t.key: i for i, t in enumerate(tasks)}
    placed: list[int] = []
    done: set[int] = set()
    while len(placed) < len(tasks):
        ready = next(
            (
                i
                for i, t in enumerate(tasks)
                if i not in done and all(index[g] in done for g in t.gates if g in index)
            ),
            None,
        )
        if ready is None:
            return None
        placed.append(ready)
        done.add(ready)
    return placed


class TemplateGoalPublic(Public):
    description: str
    target: str
    due_offset_days: int | None


class TemplateTaskPublic(Public):
    key: str
    title: str
    discipline: Discipline
    priority: TaskPriority
    due_offset_days: int | None
    description: str
    gates: list[str]


class TemplatePublic(Public):
    """A template at one version (its newest, unless asked for another)."""

    id: int
    name: str
    description: str
    status: TemplateStatus
    version: int = Field(description="This version's number; the template's newest is its ETag")
    version_id: int
    latest_version: int
    author_id: int
    saved_at: datetime
    goals: list[TemplateGoalPublic]
    tasks: list[TemplateTaskPublic]


class TemplateSummary(Public):
    id: int
    name: str
    status: TemplateStatus
    version: int
    description: str
    goals: int
    tasks: int


class TemplatesPublic(Public):
    items: list[TemplateSummary]


class ApplyTemplate(Input):
    template_id: UserId = Field(examples=[3])
    start_date: date | None = Field(default=None, description="Day 0 of the due offsets; today if left out")


class ApplicationPublic(Public):
    """What applying a template made: its goals and tasks on the plan, in the template's order."""

    id: int
    plan_id: int
    template_id: int
    template_name: str
    version: int
    version_id: int
    start_date: date
    goal_ids: list[int]
    task_ids: list[int]
    applied_by_id: int
    applied_at: datetime
