"""The care-plan board page: one plan's live task board, rendered here, kept live by ``board.js``.

The page is the board snapshot (``read_board``) as HTML, plus the last events of the plan's log as its
activity history, plus the board as JSON (``#board-state``) for the script. The card markup lives in one
Jinja macro (``plans/task_card.html``): it renders every card on load (through its ``Stamp``, rendered
once and filled per card, since a board has hundreds), and once more, empty, inside a ``<template>`` that
the script clones and fills with ``textContent`` for cards that arrive live. User text is never put in the
page as HTML, on load or live.

What changes a card is described twice, here for the history rendered on load and in ``board.js`` for
entries that arrive live: keep ``describe`` and the script's ``describe`` saying the same thing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from markupsafe import Markup
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.core.actor import Actor
from careteam.core.errors import NotFound
from careteam.core.vocab import (
    COMPARATOR_WORDS,
    DISCIPLINE_LABELS,
    MEASURE_NAMES,
    Comparator,
    Discipline,
    Measure,
)
from careteam.events import log as events
from careteam.events import streams
from careteam.patients import pages as patient_pages
from careteam.plans import rules, worklist
from careteam.plans import service as plans
from careteam.plans.board import Board, read_board
from careteam.plans.codes import (
    COLUMN_DEFAULT_STATUS,
    COLUMN_LABELS,
    COLUMN_OF,
    Column,
    GoalStatus,
    PlanStatus,
    TaskPriority,
    TaskStatus,
)
from careteam.plans.kinds import TASK_EVENTS, PlanEvent
from careteam.plans.schemas import PlanCreate
from careteam.web.deps import Id
from careteam.web.forms import Db, Editor, PageRoute, Viewer, see_other
from careteam.web.templating import render, stamp, status_label, utc_time

router = APIRouter(route_class=PageRoute, include_in_schema=False)

# How many of the plan's latest events the activity history shows on load (live ones are added on top).
HISTORY_LIMIT = 50
COLUMNS: tuple[Column, ...] = (Column.todo, Column.in_progress, Column.on_hold, Column.done, Column.closed)
OPEN_COLUMNS = frozenset({Column.todo, Column.in_progress, Column.on_hold})
HIGH_PRIORITIES = frozenset({TaskPriority.urgent, TaskPriority.asap, TaskPriority.stat})
PRIORITY_LABELS: dict[TaskPriority, str] = {
    TaskPriority.routine: "Routine",
    TaskPriority.urgent: "Urgent",
    TaskPriority.asap: "ASAP",
    TaskPriority.stat: "STAT",
}
# Goals still being worked towards: past their due date, they are marked overdue (board.js: OPEN_GOALS).
OPEN_GOALS = frozenset(
    s.value
    for s in GoalStatus
    if s not in (GoalStatus.completed, GoalStatus.cancelled, GoalStatus.rejected)
    and s is not GoalStatus.entered_in_error
)
GOAL_CHOICES = [(s.value, status_label(s.value)) for s in GoalStatus]
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Words for the fields of a task, in the order an edit is described ("changed “UDS due”: priority, due date").
FIELD_WORDS = {
    "title": "title",
    "description": "notes",
    "discipline": "lane",
    "assignee_id": "assignee",
    "status": "status",
    "priority": "priority",
    "due_date": "due date",
    "checklist": "checklist",
    "link": "link",
    "gates": "gates",
    "position": "order",
}
# The card's flags (see plans/task_card.html): the only fields the card macro may branch on.
CARD_FLAGS = (
    "blank",
    "overdue",
    "high_priority",
    "filtered",
    "has_assignee",
    "has_due",
    "has_checklist",
    "has_referral",
)
# The vocabularies by value, for the cards (a board's tasks are rows: their enums are plain values).
_STATUS_LABELS = {s.value: status_label(s.value) for s in TaskStatus}
_COLUMN_OF = {s.value: c.value for s, c in COLUMN_OF.items()}
_OPEN = frozenset(c.value for c in OPEN_COLUMNS)
_HIGH = frozenset(p.value for p in HIGH_PRIORITIES)
_PRIORITY_LABELS = {p.value: label for p, label in PRIORITY_LABELS.items()}
SYSTEM_NAME = "careteam"
UNKNOWN_NAME = "A former team member"
_ON = frozenset({"1", "on", "true", "yes"})


# --- Cards ----------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)  # a board's due dates repeat: one label per date, not per card
def due_label(due: date, today: date) -> str:
    """ "12 May" this year, "12 May 2027" otherwise (board.js formats the same way)."""
    label = f"{due.day} {MONTHS[due.month - 1]}"
    return label if due.year == today.year else f"{label} {due.year}"


def card_view(task: Mapping[str, Any] | None, names: dict[int, str], today: date) -> dict[str, Any]:
    """What the card partial shows, for a task as the board reads it (``Board.tasks``); ``None`` gives the
    empty card that board.js clones and fills."""
    if task is None:
        blank: dict[str, Any] = dict.fromkeys(
            (
                "id",
                "title",
                "version",
                "status",
                "status_label",
                "column",
                "discipline",
                "position",
                "assignee_id",
                "assignee_name",
                "due",
                "due_label",
                "priority",
                "priority_label",
                "referral_id",
            ),
            "",
        )
        return (
            blank
            | dict.fromkeys(CARD_FLAGS, False)
            | {"blank": True, "priority_class": "routine"}
            | dict.fromkeys(("checklist_done", "checklist_total", "checklist_percent"), 0)
        )
    status, priority, due, assignee = task["status"], task["priority"], task["due_date"], task["assignee_id"]
    referral = task.get("referral_id")
    checklist = task["checklist"]
    column = _COLUMN_OF[status]
    done = sum([1 for item in checklist if item["done"]])
    return {
        "blank": False,
        "id": task["id"],
        "title": task["title"],
        "version": task["version"],
        "status": status,
        "status_label": _STATUS_LABELS[status],
        "column": column,
        "discipline": task["discipline"],
        "position": repr(task["position"]),
        "has_assignee": bool(assignee),
        "assignee_id": assignee or "",
        "assignee_name": names.get(assignee, UNKNOWN_NAME) if assignee else "",
        "has_due": due is not None,
        "due": due.isoformat() if due else "",
        "due_label": due_label(due, today) if due else "",
        # Open (to do, in progress, on hold) and due before today.
        "overdue": due is not None and due < today and column in _OPEN,
        "priority": priority,
        "priority_class": priority,
        "priority_label": _PRIORITY_LABELS[priority],
        "high_priority": priority in _HIGH,
        "has_checklist": bool(checklist),
        "checklist_done": done,
        "checklist_total": len(checklist),
        # In tens, for the meter's width class (no inline styles under the CSP); board.js rounds the same way.
        "checklist_percent": (100 * done // len(checklist) + 5) // 10 * 10 if checklist else 0,
        # A task made by accepting a referral links to it (the URL is all the board knows of referrals).
        "has_referral": referral is not None,
        "referral_id": referral if referral is not None else "",
        "filtered": False,
    }


def measure_words(target: Mapping[str, Any]) -> str:
    """ "PEG ≤ 4": a goal's measure target as its card says it (board.js: measureWords)."""
    measure, comparator = Measure(target["measure"]), Comparator(target["comparator"])
    return f"{MEASURE_NAMES[measure]} {COMPARATOR_WORDS[comparator]} {target['value']:g}"


# The goal form's choices of measure and comparator (their words as the card shows them).
GOAL_MEASURES = {
    "names": [(m.value, MEASURE_NAMES[m]) for m in Measure],
    "comparators": [(c.value, COMPARATOR_WORDS[c]) for c in Comparator],
}


def goal_view(goal: Mapping[str, Any] | None, today: date) -> dict[str, Any]:
    """What the goal partial shows (``plans/board_parts.html``); ``None`` gives the empty goal board.js
    clones. A goal still being worked towards (not completed, cancelled, rejected or in error) is overdue
    after its due date."""
    if goal is None:
        blank = dict.fromkeys(
            (
                "id",
                "version",
                "lifecycle_status",
                "description",
                "target",
                "due_date",
                "due_label",
                "measure_words",
                "measure",
                "comparator",
                "target_value",
            ),
            "",
        )
        return blank | {"overdue": False}
    due = goal["due_date"]
    judged = goal.get("measure_target")
    return dict(goal) | {
        "measure_words": measure_words(judged) if judged else "",
        "measure": judged["measure"] if judged else "",
        "comparator": judged["comparator"] if judged else "",
        "target_value": f"{judged['value']:g}" if judged else "",
        "due_date": due.isoformat() if due else "",
        "due_label": due_label(due, today) if due else "",
        "overdue": due is not None and due < today and goal["lifecycle_status"] in OPEN_GOALS,
    }


# --- Activity history -----------------------------------------------------------------------------


def _quote(text: object) -> str:
    return f"“{text}”"


# Events on the plan's stream that are not activity: someone read a thread (board.js: QUIET_KINDS).
QUIET_KINDS = frozenset({"message.seen"})
# What the events other features put on the plan's stream say (board.js: OTHER_WORDS). The stream is this
# feature's, and its kinds are part of the protocol, so naming them here imports nothing of those features.
OTHER_WORDS = {
    "referral.created": "referred the patient to",
    "referral.updated": "changed the referral to",
    "referral.claimed": "claimed the referral to",
    "referral.accepted": "accepted the referral to",
    "referral.declined": "declined the referral to",
    "referral.completed": "completed the referral to",
    "referral.revoked": "revoked the referral to",
    "referral.overdue": "marked overdue the referral to",
    "message.created": "posted a message",
    "message.edited": "edited a message",
    "message.deleted": "removed a message",
    "message.acknowledged": "acknowledged an urgent message",
    "measure.recorded": "recorded",
    "measure.entered-in-error": "withdrew as entered in error",
    "response.recorded": "recorded a block response",
    "response.entered-in-error": "withdrew as entered in error a block response",
    "protocol.applied": "applied the protocol",
}


def _other_words(kind: str, data: dict[str, Any]) -> str:
    words = OTHER_WORDS.get(kind)
    if words is None:
        return "made a change"
    if kind.startswith("referral."):
        return f"{words} {_discipline_label(data.get('discipline'))}"
    if kind.startswith("protocol."):
        return f"{words} {_quote(str(data.get('template_name', '')))} (version {data.get('version', 1)})"
    if kind.startswith("measure."):
        score = f"{data.get('value', 0):g}{data.get('unit', '')}"
        return f"{words} {(data.get('code') or {}).get('display', 'a score')} {score}"
    if kind.startswith("response."):
        return f"{words}: {data.get('relief_percent', 0)}% relief over {data.get('duration_hours', 0):g} h"
    return f"{words} on a task" if data.get("task_id") else f"{words} in the team thread"


def describe(kind: str, data: dict[str, Any], before: dict[str, Any] | None, names: dict[int, str]) -> str:
    """One event as a clinician would say it, after the actor's name: "moved “UDS due” to In progress"."""
    if kind == PlanEvent.plan_created:
        return "opened this care plan"
    if kind == PlanEvent.plan_updated:
        if before is not None and before.get("status") != data.get("status"):
            return f"set the care plan to {status_label(data.get('status', ''))}"
        return "updated the care plan"
    if kind == PlanEvent.goal_created:
        return f"added the goal {_quote(data.get('description', ''))}"
    if kind == PlanEvent.goal_updated:
        if before is not None and before.get("lifecycle_status") != data.get("lifecycle_status"):
            status = status_label(data.get("lifecycle_status", ""))
            return f"marked the goal {_quote(data.get('description', ''))} as {status}"
        return f"updated the goal {_quote(data.get('description', ''))}"
    if kind == PlanEvent.team_updated:
        return "changed the care team"
    if kind not in TASK_EVENTS:
        return _other_words(kind, data)
    title = _quote(data.get("title", ""))
    column = _column_of(data.get("status"))
    if kind == PlanEvent.task_created:
        if data.get("reopened_from_id"):
            return f"reopened {title} as a follow-up"
        return f"added {title} to {_discipline_label(data.get('discipline'))}"
    if kind == PlanEvent.task_undone:
        undone = {"completed": "completing", "cancelled": "cancelling"}.get((before or {}).get("status", ""))
        return f"undid {undone} {title}" if undone else f"undid the last move of {title}"
    if kind == PlanEvent.task_moved:
        if before is None or _column_of(before.get("status")) != column:
            return f"moved {title} to {COLUMN_LABELS[column] if column else 'another column'}"
        if before.get("status") != data.get("status"):
            return f"set {title} to {status_label(data.get('status', ''))}"
        return f"reordered {title}"
    if before is None:
        return f"updated {title}"
    changed = [field for field in FIELD_WORDS if before.get(field) != data.get(field)]
    if changed == ["assignee_id"]:
        assignee = data.get("assignee_id")
        if not assignee:
            return f"unassigned {title}"
        return f"assigned {title} to {names.get(assignee, UNKNOWN_NAME)}"
    if changed == ["title"]:
        return f"renamed {_quote(before.get('title', ''))} to {title}"
    if changed == ["discipline"]:
        return f"moved {title} to the {_discipline_label(data.get('discipline'))} lane"
    if changed == ["gates"]:
        count = len(data.get("gates") or [])
        return f"set the gates of {title} ({count})" if count else f"removed the gates of {title}"
    if changed == ["checklist"]:
        items = data.get("checklist") or []
        done = sum(1 for item in items if item.get("done"))
        return f"updated the checklist of {title} ({done}/{len(items)})"
    if not changed:
        return f"updated {title}"
    return f"changed {title}: {', '.join(FIELD_WORDS[field] for field in changed)}"


def _column_of(status: object) -> Column | None:
    try:
        return COLUMN_OF[TaskStatus(str(status))]
    except ValueError:
        return None


def _discipline_label(value: object) -> str:
    try:
        return DISCIPLINE_LABELS[Discipline(str(value))]
    except ValueError:
        return str(value)


def history(log: list[Any], names: dict[int, str]) -> list[dict[str, Any]]:
    """The events as activity entries, newest first; each described against what came before it."""
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    entries = []
    for event in log:
        if event.kind in QUIET_KINDS:
            continue
        data: dict[str, Any] = dict(event.data)
        scope = event.kind.split(".", 1)[0]
        key = (scope, int(data.get("id", 0) or 0))
        text = describe(event.kind, data, seen.get(key), names)
        seen[key] = data
        entries.append(
            {
                "seq": event.seq,
                "at_iso": event.at.isoformat(),
                "at_text": utc_time(event.at),
                "who": _actor_name(event.actor_id, names),
                "text": text,
            }
        )
    entries.reverse()
    return entries


def _actor_name(actor_id: int | None, names: dict[int, str]) -> str:
    if actor_id is None:
        return SYSTEM_NAME
    return names.get(actor_id, UNKNOWN_NAME)


# --- Panels other features add to the board -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoardPanel:
    """A section another feature shows on a board: its own template, included with the page's context
    (``actor``, ``csrf_token``, ``plan``) and ``panel.context``; ``place`` "below" the lanes (referrals, the
    team thread) or in the board's "head", at the end of its line of facts (phrasing content only: outcome
    measures' sparklines). ``goal_extra``: markup by goal id for the slot every goal card has
    (``data-slot="goal-extra"``; outcomes: each goal's achievement), which board.js never touches."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)
    place: str = "below"
    goal_extra: Mapping[int, Markup] = field(default_factory=dict)


# What other features show on a board (referrals: the plan's referrals and the form that sends one),
# computed in the page's unit of work; None shows nothing. Registered by those features' pages, so this
# page needs none of them: referrals build on plans, never the other way round.
BoardPanelHook = Callable[[AsyncSession, Board, Actor], Awaitable[BoardPanel | None]]
_board_panels: list[BoardPanelHook] = []


def add_board_panel(panel: BoardPanelHook) -> None:
    """Show ``panel(session, board, actor)`` on every board (once, in order); ``board`` is the board as
    read."""
    if panel not in _board_panels:
        _board_panels.append(panel)


# --- The page -------------------------------------------------------------------------------------


def _flag(raw: str) -> bool:
    return raw.strip().lower() in _ON


def _script_json(value: object) -> Markup:
    """``value`` as JSON for a ``<script type="application/json">``, escaped as Jinja's ``tojson`` escapes it
    (so no ``</script>`` in a title can end it early), with orjson: the state holds every task."""
    text = orjson.dumps(value).decode()
    text = (
        text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("'", "\\u0027")
    )
    return Markup(text)  # noqa: S704 - JSON with every character that HTML could read as markup escaped


# What the page's state says that is the same on every board, for every viewer: built once.
_STATE_VOCABULARY: dict[str, Any] = {
    "labels": {
        "columns": {c.value: COLUMN_LABELS[c] for c in COLUMNS},
        "disciplines": {d.value: DISCIPLINE_LABELS[d] for d in Discipline},
        "statuses": {s.value: status_label(s.value) for s in TaskStatus}
        | {s.value: status_label(s.value) for s in GoalStatus}
        | {s.value: status_label(s.value) for s in PlanStatus},
        "priorities": {p.value: PRIORITY_LABELS[p] for p in TaskPriority},
        "fields": FIELD_WORDS,
        "measures": {m.value: MEASURE_NAMES[m] for m in Measure},
        "comparators": {c.value: COMPARATOR_WORDS[c] for c in Comparator},
    },
    "column_of": {s.value: c.value for s, c in COLUMN_OF.items()},
    "column_default_status": {c.value: s.value for c, s in COLUMN_DEFAULT_STATUS.items()},
    "high_priorities": sorted(p.value for p in HIGH_PRIORITIES),
    "open_columns": sorted(c.value for c in OPEN_COLUMNS),
    # Who may make which move (plans.rules), the same for every viewer: task-rules.js offers only the moves
    # the server takes, for the viewer's place on the team (from "members", which follow live).
    "rules": rules.rules_json(),
    "open_goals": sorted(OPEN_GOALS),
}


@router.get("/plans/{plan_id}")
async def board_page(
    request: Request,
    plan_id: Id,
    session: Db,
    actor: Viewer,
    mine: str = "",
    discipline: Annotated[str, Query(max_length=40)] = "",
    overdue: str = "",
    closed: str = "",
) -> Response:
    """A care plan's live task board; another team's plan is not found."""
    board = await read_board(session, plan_id, actor=actor)
    log = [
        e
        for e in await events.read_after(
            session, streams.plan(plan_id), max(0, board.last_seq - HISTORY_LIMIT)
        )
        if e.seq <= board.last_seq
    ]
    names = {m.user_id: m.display_name for m in board.members}
    for user_id in sorted({e.actor_id for e in log if e.actor_id is not None} - names.keys()):
        try:
            names[user_id] = (await accounts.get_user(session, user_id, actor=actor)).display_name
        except NotFound:
            continue
    today = date.today()
    panels = [p for p in [await hook(session, board, actor) for hook in _board_panels] if p is not None]

    filters = {
        "mine": _flag(mine),
        "discipline": discipline if discipline in Discipline.__members__.values() else "",
        "overdue": _flag(overdue),
        "closed": _flag(closed),
    }
    # Cards by lane and column, in board order (the tasks come sorted by position, then id).
    cells: dict[str, dict[str, list[dict[str, Any]]]] = {}
    counts = {c.value: 0 for c in COLUMNS}
    for task in board.tasks:
        card = card_view(task, names, today)
        card["filtered"] = (filters["mine"] and task["assignee_id"] != actor.user_id) or (
            filters["overdue"] and not card["overdue"]
        )
        lane_cells = cells.get(card["discipline"])
        if lane_cells is None:
            lane_cells = cells[card["discipline"]] = {c.value: [] for c in COLUMNS}
        lane_cells[card["column"]].append(card)
        if not card["filtered"] and filters["discipline"] in ("", card["discipline"]):
            counts[card["column"]] += 1
    on_board = cells.keys() | {m.discipline.value for m in board.members}
    card_markup = stamp("plans/task_card.html", "task_card", flags=CARD_FLAGS)
    lanes: list[dict[str, Any]] = [
        {
            "discipline": lane.value,
            "label": DISCIPLINE_LABELS[lane],
            "cells": {
                column: card_markup.many(cards)
                for column, cards in cells.get(lane.value, {c.value: [] for c in COLUMNS}).items()
            },
            "hidden": bool(filters["discipline"]) and filters["discipline"] != lane.value,
        }
        for lane in Discipline
        if lane.value in on_board
    ]

    columns = [{"value": c.value, "label": COLUMN_LABELS[c]} for c in COLUMNS]
    state = {
        "plan_id": board.plan.id,
        "plan": board.plan.model_dump(mode="json"),
        "last_seq": board.last_seq,
        "me": actor.user_id,
        "tasks": board.tasks,
        "goals": [g.model_dump(mode="json") for g in board.goals],
        "members": [m.model_dump(mode="json") for m in board.members],
        "names": {str(k): v for k, v in names.items()},
        **_STATE_VOCABULARY,
        "undo_seconds": request.app.state.settings.task_undo_seconds,
    }
    # From the team the board already read (no extra query): the lead and the physicians edit goals.
    me = board.member(actor.user_id)
    may_plan = me is not None and plans.shapes_plans(me.role, me.discipline)
    context = {
        "section": "patients",
        "board": board,
        "plan": board.plan,
        "patient": board.patient,
        "lanes": lanes,
        "columns": columns,
        "counts": counts,
        "filters": filters,
        "history": history(log, names),
        "blank_card": card_view(None, names, today),
        "goals": [goal_view(g.model_dump(), today) for g in board.goals],
        "blank_goal": goal_view(None, today),
        "goal_choices": GOAL_CHOICES if may_plan else None,
        "goal_measures": GOAL_MEASURES,
        "goal_extra": {gid: m for panel in panels for gid, m in panel.goal_extra.items()},
        "blank_lane": {"discipline": "", "label": "", "hidden": False, "cells": dict.fromkeys(counts, "")},
        "blank_entry": {"seq": "", "at_iso": "", "at_text": "", "who": "", "text": ""},
        "priorities": [(p.value, PRIORITY_LABELS[p]) for p in TaskPriority],
        "lane_choices": [(d.value, DISCIPLINE_LABELS[d]) for d in Discipline],
        "state_json": _script_json(state),
        "undo_seconds": f"{request.app.state.settings.task_undo_seconds:g}",
        "today": today,
        "panels": panels,
    }
    return render(request, "plans/board.html", context)


# --- On a patient's page: her boards, and the form that opens one -------------------------------------


async def _plans_on_patient_page(session: AsyncSession, patient_id: int, actor: Actor) -> dict[str, Any]:
    care_plans, _ = await plans.list_plans(session, actor=actor, patient_id=patient_id)
    return {
        "care_plans": care_plans,
        "may_plan": await plans.may_shape_plans(session, patient_id, actor=actor),
    }


patient_pages.add_patient_panel(_plans_on_patient_page)


# --- On the patient list: each patient's open and overdue tasks ---------------------------------------

OPEN_TASKS = "Open tasks"
OVERDUE_TASKS = "Overdue tasks"


async def _task_facts(
    session: AsyncSession, patient_ids: list[int], actor: Actor
) -> dict[int, dict[str, int]]:
    today = date.today()
    facts = await worklist.task_facts(session, patient_ids, user_id=actor.user_id, today=today)
    return {pid: {OPEN_TASKS: f["open"], OVERDUE_TASKS: f["overdue"]} for pid, f in facts.items()}


patient_pages.add_patient_list_facts(_task_facts, labels=(OPEN_TASKS, OVERDUE_TASKS))


# The new-plan form shows this many goal rows without JavaScript; "Add another goal" adds more (up to
# PlanCreate's limit).
GOAL_ROWS = 3
MAX_GOALS = 20
GOAL_HINTS = {
    "description": "Describe the goal (up to 500 characters), or leave the whole row empty.",
    "target": "Keep the target to 200 characters.",
    "due_date": "Give the goal a due date.",
}


def _plan_errors(exc: ValidationError) -> dict[str, str]:
    """The form's fields named in a PlanCreate's validation errors, in words for the form."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = error["loc"]
        if loc[0] == "title":
            errors.setdefault("plan_title", "Give the plan a title (up to 200 characters).")
        elif loc[0] in ("period_start", "period_end"):
            message = (
                "The period must not end before it starts."
                if "before" in error["msg"]
                else "Enter a valid date."
            )
            errors.setdefault(f"plan_{loc[0]}", message)
        elif loc[0] == "goals" and len(loc) > 2:
            # A due date that is there but no date (the empty one is caught before).
            hint = "Enter a valid due date." if loc[2] == "due_date" else GOAL_HINTS[str(loc[2])]
            errors.setdefault(f"goal_{loc[1]}_{loc[2]}", f"Goal {int(loc[1]) + 1}: {hint}")
    return errors


@router.post("/patients/{patient_id}/plans")
async def create_plan(
    request: Request,
    patient_id: Id,
    session: Db,
    actor: Editor,
    title: Annotated[str, Form()] = "",
    period_start: Annotated[str, Form()] = "",
    period_end: Annotated[str, Form()] = "",
    goal_description: Annotated[list[str] | None, Form()] = None,
    goal_target: Annotated[list[str] | None, Form()] = None,
    goal_due: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Open a care plan (a board) for the patient, with its period and first goals, in one unit of work;
    the team's lead and physicians may. A goal row left empty is no goal; a goal needs a due date."""
    rows = _goal_rows(goal_description or [], goal_target or [], goal_due or [])
    form = {"plan_title": title, "plan_start": period_start, "plan_end": period_end, "plan_goals": rows}
    goals = [row for row in rows if any(row.values())]
    errors: dict[str, str] = {}
    if len(goals) > MAX_GOALS:
        errors["goal_0_description"] = f"A plan starts with at most {MAX_GOALS} goals."
    for index, goal in enumerate(goals):
        if not goal["due_date"]:
            errors[f"goal_{index}_due_date"] = f"Goal {index + 1}: {GOAL_HINTS['due_date']}"
    try:
        body = PlanCreate.model_validate(
            {
                "patient_id": patient_id,
                "title": title,
                "period_start": period_start.strip() or None,
                "period_end": period_end.strip() or None,
                "goals": [{k: v or None for k, v in g.items()} | {"target": g["target"]} for g in goals],
            }
        )
    except ValidationError as exc:
        errors = _plan_errors(exc) | errors
    if errors:
        form["plan_goals"] = goals + [_BLANK_GOAL] * max(0, GOAL_ROWS - len(goals))
        return await patient_pages.patient_page(
            request, session, actor, patient_id, form=form, errors=errors, status=422
        )
    plan = await plans.create_plan(session, body, actor=actor)
    return see_other(f"/plans/{plan.id}")


_BLANK_GOAL = {"description": "", "target": "", "due_date": ""}


def _goal_rows(descriptions: list[str], targets: list[str], dues: list[str]) -> list[dict[str, str]]:
    """The form's goal rows, as typed (one value per row and field; a missing value is empty)."""
    count = min(max(len(descriptions), len(targets), len(dues)), MAX_GOALS + 1)

    def at(values: list[str], index: int) -> str:
        return values[index].strip() if index < len(values) else ""

    return [
        {"description": at(descriptions, i), "target": at(targets, i), "due_date": at(dues, i)}
        for i in range(count)
    ]
