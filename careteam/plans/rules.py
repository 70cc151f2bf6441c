"""Who may move a task from one status to another: a rule per transition of the FHIR Task state machine.

Pure (no database): the service asks ``refusal`` with what it knows of the user and the task, and the board
page ships ``rules_json`` so the browser offers only the moves the server will take (task-rules.js ``mayMove``
reads the same table). docs/board.md has the table in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from careteam.core.vocab import Discipline
from careteam.patients.codes import TeamRole
from careteam.plans.codes import (
    COLUMN_DEFAULT_STATUS,
    COLUMN_LABELS,
    COLUMN_OF,
    Column,
    TaskStatus,
    allowed_transitions,
)


class Who(StrEnum):
    """One kind of person a rule lets through; a rule is a set of them."""

    team = "team"  # anyone on the patient's care team
    assignee = "assignee"  # the task's assignee
    lane = "lane"  # a team member whose discipline on the team is the task's (its lane)
    physician = "physician"  # a physician on the team
    lead = "lead"  # the team's lead, or its IPM lead
    author = "author"  # whoever put the task on the board


# Who finishes a task: its assignee, its lane, or the plan's lead or physicians.
_FINISHERS = frozenset({Who.assignee, Who.lane, Who.physician, Who.lead})
# Who calls a task off: its lane, or the plan's lead or physicians.
_DECIDERS = frozenset({Who.lane, Who.physician, Who.lead})
_ANYONE = frozenset({Who.team})

# By the status moved to; every other move is for anyone on the team (accept, start, put on hold, resume).
_BY_TARGET: dict[TaskStatus, frozenset[Who]] = {
    TaskStatus.completed: _FINISHERS,
    TaskStatus.failed: _FINISHERS,
    TaskStatus.cancelled: _DECIDERS,
    TaskStatus.rejected: _DECIDERS,
    TaskStatus.entered_in_error: frozenset({Who.author, Who.lead}),
}

# A move to these needs a reason (FHIR Task.statusReason), given as ``status_reason``.
REASON_REQUIRED = frozenset({TaskStatus.cancelled})
# Changing a task's lane (its discipline) is an edit, not a move of the state machine: anyone on the team.
CHANGE_LANE = _ANYONE
# A final move its maker may undo within the window (``tasks.undo_task``); after it, "Reopen".
UNDOABLE = frozenset({TaskStatus.completed, TaskStatus.cancelled})
# What "Reopen" follows up: a task finished or called off (not one entered in error: it never was).
REOPENABLE = frozenset({TaskStatus.completed, TaskStatus.cancelled, TaskStatus.failed, TaskStatus.rejected})

# A task with readiness gates may not move to these until every gate is completed (``gate_refusal``).
GATED = frozenset({TaskStatus.ready, TaskStatus.in_progress, TaskStatus.completed})
# What a gate must be to let its task through: completed (a gate no longer needed is removed, not cancelled).
GATE_PASSED = TaskStatus.completed

# The refusal, in words: "Only … may complete this task."
_NAMES: dict[Who, str] = {
    Who.assignee: "the assignee",
    Who.lane: "a clinician of the task's discipline",
    Who.physician: "a physician",
    Who.lead: "the plan's lead",
    Who.author: "whoever added the task",
}
_VERBS: dict[TaskStatus, str] = {
    TaskStatus.completed: "complete this task",
    TaskStatus.failed: "mark this task as failed",
    TaskStatus.cancelled: "cancel this task",
    TaskStatus.rejected: "decline this task",
    TaskStatus.entered_in_error: "mark this task as entered in error",
}


def who_may(current: TaskStatus, to: TaskStatus) -> frozenset[Who]:
    """The people a move is for; empty if the state machine does not allow it at all."""
    if to not in allowed_transitions(current):
        return frozenset()
    return _BY_TARGET.get(to, _ANYONE)


# Every transition of the state machine with its rule: the table the page ships and docs/board.md lists.
TABLE: dict[TaskStatus, dict[TaskStatus, frozenset[Who]]] = {
    current: {to: who_may(current, to) for to in sorted(allowed_transitions(current))}
    for current in TaskStatus
}


@dataclass(frozen=True, slots=True)
class Viewer:
    """What a rule needs to know of the user: who she is and her place on the patient's care team."""

    user_id: int
    team_role: TeamRole
    discipline: Discipline


def matches(
    who: Who, viewer: Viewer, *, discipline: str, assignee_id: int | None, author_id: int | None
) -> bool:
    match who:
        case Who.team:
            return True
        case Who.assignee:
            return assignee_id is not None and assignee_id == viewer.user_id
        case Who.lane:
            return viewer.discipline == discipline
        case Who.physician:
            return viewer.discipline is Discipline.physician
        case Who.lead:
            return viewer.team_role is TeamRole.lead or viewer.discipline is Discipline.ipm_lead
        case Who.author:
            return author_id is not None and author_id == viewer.user_id


def refusal(
    viewer: Viewer,
    current: TaskStatus,
    to: TaskStatus,
    *,
    discipline: str,
    assignee_id: int | None,
    author_id: int | None,
) -> str | None:
    """Why this user may not make this (state-machine-legal) move, in a clinician's words; None if she may."""
    rule = who_may(current, to)
    if any(
        matches(w, viewer, discipline=discipline, assignee_id=assignee_id, author_id=author_id) for w in rule
    ):
        return None
    return rule_words(rule, to)


def rule_words(rule: frozenset[Who], to: TaskStatus) -> str:
    """A rule that is not for everyone, in words: "Only the assignee, … or the plan's lead may …"."""
    names = [_NAMES[w] for w in sorted(rule, key=list(Who).index) if w in _NAMES]
    people = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return f"Only {people} may {_VERBS.get(to, 'move this task')}."


def transition_refusal(current: TaskStatus, to: TaskStatus) -> str | None:
    """Why the state machine refuses a move, in column words; None if it allows it."""
    if to == current or to in allowed_transitions(current):
        return None
    here, there = COLUMN_LABELS[COLUMN_OF[current]], COLUMN_LABELS[COLUMN_OF[to]]
    if not allowed_transitions(current) - {TaskStatus.entered_in_error}:
        return f"A task in {here} is final: it cannot move to {there}. Reopen it as a follow-up task instead."
    reachable = {COLUMN_OF[s] for s in allowed_transitions(current) - {TaskStatus.entered_in_error}}
    options = [COLUMN_LABELS[c] for c in Column if c in reachable]
    if COLUMN_OF[current] == COLUMN_OF[to]:
        status = to.replace("-", " ")
        return f"A task in {here} cannot become {status} there; it can move to: {', '.join(options)}."
    return f"A task in {here} cannot go straight to {there}; it can move to: {', '.join(options)}."


def gate_refusal(to: TaskStatus, open_gates: Sequence[str]) -> str | None:
    """Why a move waits for the task's gates (their titles, in order); None if it does not."""
    if to not in GATED or not open_gates:
        return None
    names = ", ".join(f"\u201c{title}\u201d" for title in open_gates)
    gates = "its gate" if len(open_gates) == 1 else "its gates"
    return f"This task waits for {gates} {names}: it can become ready, start or complete once done."


def column_label(status: TaskStatus) -> str:
    """The board column a status is shown in, as the board names it."""
    return COLUMN_LABELS[COLUMN_OF[status]]


def rules_json() -> dict[str, Any]:
    """The table as the board page ships it (the same for every viewer): transitions by status, each with
    who may make it, the statuses that need a reason, the status a column move takes, who may change a
    task's lane, what Undo and Reopen apply to, and each rule in words (why a column is not offered)."""
    return {
        "transitions": {
            str(current): {str(to): sorted(str(w) for w in who) for to, who in moves.items()}
            for current, moves in TABLE.items()
        },
        "reason_required": sorted(str(s) for s in REASON_REQUIRED),
        "column_default_status": {str(c): str(s) for c, s in COLUMN_DEFAULT_STATUS.items()},
        "change_lane": sorted(str(w) for w in CHANGE_LANE),
        "undoable": sorted(str(s) for s in UNDOABLE),
        "reopenable": sorted(str(s) for s in REOPENABLE),
        "words": {str(to): rule_words(who, to) for to, who in _BY_TARGET.items()},
        "gated": sorted(str(s) for s in GATED),
        "gate_passed": str(GATE_PASSED),
    }
