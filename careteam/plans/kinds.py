"""The kinds of event a plan's stream carries; ``board.apply_event`` says what each does to a board."""

from __future__ import annotations

from enum import StrEnum


class PlanEvent(StrEnum):
    plan_created = "plan.created"
    plan_updated = "plan.updated"
    goal_created = "goal.created"
    goal_updated = "goal.updated"
    task_created = "task.created"
    task_updated = "task.updated"
    task_moved = "task.moved"  # only status and position changed: a card changed column or place
    task_undone = "task.undone"  # its author took back a completion or cancel within the undo window
    team_updated = "team.updated"  # the patient's care team changed: assignee lists follow


TASK_EVENTS = frozenset(
    {PlanEvent.task_created, PlanEvent.task_updated, PlanEvent.task_moved, PlanEvent.task_undone}
)
