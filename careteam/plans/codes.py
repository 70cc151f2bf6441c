"""The clinic's controlled vocabularies, shared by every layer (this module imports nothing of careteam).

Values follow FHIR R4 where FHIR has a value set.
"""

from __future__ import annotations

from enum import StrEnum


class PlanStatus(StrEnum):
    """FHIR request-status, as CarePlan.status."""

    draft = "draft"
    active = "active"
    on_hold = "on-hold"
    revoked = "revoked"
    completed = "completed"
    entered_in_error = "entered-in-error"


class GoalStatus(StrEnum):
    """FHIR Goal.lifecycleStatus."""

    proposed = "proposed"
    planned = "planned"
    accepted = "accepted"
    active = "active"
    on_hold = "on-hold"
    completed = "completed"
    cancelled = "cancelled"
    entered_in_error = "entered-in-error"
    rejected = "rejected"


class TaskStatus(StrEnum):
    """FHIR Task.status."""

    draft = "draft"
    requested = "requested"
    received = "received"
    accepted = "accepted"
    rejected = "rejected"
    ready = "ready"
    cancelled = "cancelled"
    in_progress = "in-progress"
    on_hold = "on-hold"
    failed = "failed"
    completed = "completed"
    entered_in_error = "entered-in-error"


class TaskPriority(StrEnum):
    """FHIR request-priority."""

    routine = "routine"
    urgent = "urgent"
    asap = "asap"
    stat = "stat"


class Column(StrEnum):
    """Board columns: groups of task statuses."""

    todo = "todo"
    in_progress = "in_progress"
    on_hold = "on_hold"
    done = "done"
    closed = "closed"  # cancelled, failed, rejected, entered-in-error: behind a filter


COLUMN_LABELS: dict[Column, str] = {
    Column.todo: "To do",
    Column.in_progress: "In progress",
    Column.on_hold: "On hold",
    Column.done: "Done",
    Column.closed: "Closed",
}

COLUMN_OF: dict[TaskStatus, Column] = {
    TaskStatus.draft: Column.todo,
    TaskStatus.requested: Column.todo,
    TaskStatus.received: Column.todo,
    TaskStatus.accepted: Column.todo,
    TaskStatus.ready: Column.todo,
    TaskStatus.in_progress: Column.in_progress,
    TaskStatus.on_hold: Column.on_hold,
    TaskStatus.completed: Column.done,
    TaskStatus.cancelled: Column.closed,
    TaskStatus.failed: Column.closed,
    TaskStatus.rejected: Column.closed,
    TaskStatus.entered_in_error: Column.closed,
}

# The status a card takes when dropped into a column it is not already in.
COLUMN_DEFAULT_STATUS: dict[Column, TaskStatus] = {
    Column.todo: TaskStatus.ready,
    Column.in_progress: TaskStatus.in_progress,
    Column.on_hold: TaskStatus.on_hold,
    Column.done: TaskStatus.completed,
    Column.closed: TaskStatus.cancelled,
}

# The FHIR Task state machine (hl7.org/fhir/R4/task.html#statemachine); entered-in-error is reachable from any
# status and is added in ``allowed_transitions``.
_TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.draft: frozenset({TaskStatus.requested, TaskStatus.cancelled}),
    TaskStatus.requested: frozenset(
        {
            TaskStatus.received,
            TaskStatus.accepted,
            TaskStatus.rejected,
            TaskStatus.ready,
            TaskStatus.in_progress,
            TaskStatus.cancelled,
        }
    ),
    TaskStatus.received: frozenset(
        {
            TaskStatus.accepted,
            TaskStatus.rejected,
            TaskStatus.ready,
            TaskStatus.in_progress,
            TaskStatus.cancelled,
        }
    ),
    TaskStatus.accepted: frozenset({TaskStatus.ready, TaskStatus.in_progress, TaskStatus.cancelled}),
    TaskStatus.ready: frozenset({TaskStatus.in_progress, TaskStatus.cancelled}),
    TaskStatus.in_progress: frozenset(
        {TaskStatus.on_hold, TaskStatus.completed, TaskStatus.failed, TaskStatus.cancelled}
    ),
    TaskStatus.on_hold: frozenset({TaskStatus.in_progress, TaskStatus.failed, TaskStatus.cancelled}),
    TaskStatus.completed: frozenset(),
    TaskStatus.cancelled: frozenset(),
    TaskStatus.failed: frozenset(),
    TaskStatus.rejected: frozenset(),
    TaskStatus.entered_in_error: frozenset(),
}


def allowed_transitions(status: TaskStatus) -> frozenset[TaskStatus]:
    extra = frozenset() if status is TaskStatus.entered_in_error else frozenset({TaskStatus.entered_in_error})
    return _TASK_TRANSITIONS[status] | extra
