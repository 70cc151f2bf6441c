"""Case conferences' HTML pages: the list with the IPM lead's schedule form, the room, and the summary.

The room (``/conferences/{id}``) renders the item on screen: its plan's board in a dense presentation
layout, its goals, what changed since the plan's last conference, its pending referrals and overdue tasks;
the agenda beside it; who has the room open. ``conference.js`` keeps it live: it follows the conference's
stream and the current plan's, and on an event fetches this page again and swaps the parts that changed
(``data-region``), so what a live update shows is exactly what a load shows. The facilitator's controls
call the JSON API (``/api/v1/conferences/...``, with If-Match); an observer's page has none (the API
refuses her writes anyway).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.conferences import service as conferences
from careteam.conferences.codes import CLOSED_STATUSES, ITEM_STATUS_LABELS, ConferenceStatus, ItemStatus, Role
from careteam.conferences.schemas import (
    AGENDA_MAX,
    DEFAULT_TEAM,
    ConferenceCreate,
    ConferencePublic,
    ItemPublic,
)
from careteam.core.actor import Actor
from careteam.core.errors import NotFound, ValidationFailed
from careteam.core.vocab import DISCIPLINE_LABELS, Discipline
from careteam.db.types import utcnow
from careteam.outcomes import pages as outcome_pages
from careteam.outcomes import service as outcomes
from careteam.patients import service as patients
from careteam.plans import pages as plan_pages
from careteam.plans import service as plans
from careteam.plans.board import read_board
from careteam.plans.codes import COLUMN_LABELS, Column, TaskPriority
from careteam.referrals import pages as referral_pages
from careteam.referrals import service as referrals
from careteam.referrals.codes import PRIORITY_LABELS as REFERRAL_PRIORITY_LABELS
from careteam.referrals.codes import ReferralPriority, ReferralStatus
from careteam.web.deps import Id
from careteam.web.forms import Db, Editor, PageRoute, Viewer, see_other
from careteam.web.templating import render, utc_time

_ITEM_FIELD = re.compile(r"items\[(\d+)\]\.(\w+)")
router = APIRouter(route_class=PageRoute, include_in_schema=False)

# The room's board: the open columns and Done (closed tasks are not for a meeting), in board order.
ROOM_COLUMNS: tuple[Column, ...] = (Column.todo, Column.in_progress, Column.on_hold, Column.done)
# How many of the plan's events "Changed since the last conference" shows (the API pages the rest).
CHANGES_LIMIT = 100
REFERRALS_LIMIT = 100
PLAN_CHOICES_LIMIT = 200
# The schedule form shows this many agenda rows without JavaScript ("Add an item" adds more).
AGENDA_ROWS = 3
ROLE_LABELS = {Role.facilitator: "Facilitator", Role.attendee: "Attendee", Role.observer: "Observer"}
STATUS_LABELS = {
    ConferenceStatus.scheduled: "Scheduled",
    ConferenceStatus.in_progress: "In progress",
    ConferenceStatus.ended: "Ended",
    ConferenceStatus.cancelled: "Cancelled",
}
SCHEDULE_HINTS = {
    "title": "Give the conference a title (up to 200 characters).",
    "team": "Name the team that meets (up to 100 characters), or leave it empty.",
    "starts_at": "Give a start date and time (UTC).",
    "duration_minutes": "Give a length between 15 and 480 minutes.",
    "attendee_ids": "Choose the clinicians to invite.",
    "observer_ids": "Choose the observers.",
    "items": "Put at most 30 plans on the agenda.",
}
ITEM_HINTS = {
    "plan_id": "Choose a plan.",
    "reason": "Say why the plan is presented (up to 300 characters).",
    "presenter_id": "Choose a presenter among the participants, or no one.",
}


# --- The list and the schedule form -----------------------------------------------------------------


def _listed_view(c: Any) -> dict[str, Any]:
    return {
        "id": c.id,
        "title": c.title,
        "team": c.team,
        "starts_at": c.starts_at,
        "starts_text": utc_time(c.starts_at),
        "duration": c.duration_minutes,
        "status": c.status.value,
        "status_label": STATUS_LABELS[c.status],
        "role": ROLE_LABELS[c.role],
        "item_count": c.items,
    }


async def _schedule_choices(session: AsyncSession, actor: Actor) -> dict[str, Any]:
    """The form's choices: the plans on the lead's care teams (with their patients), and the clinicians."""
    care_plans, _ = await plans.list_plans(session, actor=actor, limit=PLAN_CHOICES_LIMIT)
    labels = await patients.patient_labels(session, {p.patient_id for p in care_plans}, actor=actor)
    clinicians = await accounts.active_clinicians(session)
    return {
        "plan_choices": sorted(
            ((p.id, f"{labels[p.patient_id][1]}: {p.title}") for p in care_plans if p.patient_id in labels),
            key=lambda choice: choice[1],
        ),
        "clinicians": [
            (uid, f"{name} ({DISCIPLINE_LABELS[Discipline(disc)]})")
            for uid, name, disc in clinicians
            if uid != actor.user_id
        ],
        "presenters": [(uid, name) for uid, name, _ in clinicians],
    }


def _blank_form() -> dict[str, Any]:
    start = (utcnow() + timedelta(days=1)).replace(hour=13, minute=0, second=0, microsecond=0)
    return {
        "title": "",
        "team": DEFAULT_TEAM,
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "duration_minutes": "60",
        "attendee_ids": [],
        "observer_ids": [],
        "items": [{"plan_id": "", "reason": "", "presenter_id": ""} for _ in range(AGENDA_ROWS)],
    }


async def _list_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    now = utcnow()
    coming, _ = await conferences.list_conferences(session, actor=actor, now=now, past=False, limit=100)
    past, past_total = await conferences.list_conferences(session, actor=actor, now=now, past=True, limit=50)
    may_schedule = actor.discipline == Discipline.ipm_lead
    context: dict[str, Any] = {
        "section": "conferences",
        "running": [_listed_view(c) for c in coming if c.status == ConferenceStatus.in_progress],
        "upcoming": [_listed_view(c) for c in coming if c.status != ConferenceStatus.in_progress],
        "past": [_listed_view(c) for c in past],
        "past_total": past_total,
        "may_schedule": may_schedule,
        "form": form or _blank_form(),
        "errors": dict(errors or {}),
        "agenda_max": AGENDA_MAX,
    }
    if may_schedule:
        context |= await _schedule_choices(session, actor)
    return render(request, "conferences/list.html", context, status_code=status)


@router.get("/conferences")
async def conference_list(request: Request, session: Db, actor: Viewer) -> Response:
    """The conferences she takes part in: running, upcoming, past; for an IPM lead, the schedule form."""
    return await _list_page(request, session, actor)


def _starts_at(raw: str) -> datetime | str:
    """The form's ``datetime-local`` value, read as UTC; the raw text if it is no date and time."""
    raw = raw.strip()
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        return raw
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _ids(values: list[str]) -> list[str]:
    return [v.strip() for v in values if v.strip()]


def _schedule_errors(exc: ValidationError) -> dict[str, str]:
    """The form's fields named in a ConferenceCreate's validation errors, in words for the form."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = error["loc"]
        name = str(loc[0]) if loc else "form"
        if name == "items" and len(loc) > 2:
            index, field = int(loc[1]), str(loc[2])
            errors.setdefault(
                f"item_{index}_{field}", f"Item {index + 1}: {ITEM_HINTS.get(field, error['msg'])}"
            )
        else:
            errors.setdefault(name, SCHEDULE_HINTS.get(name, str(error["msg"])))
    return errors


@router.post("/conferences")
async def schedule(
    request: Request,
    session: Db,
    actor: Editor,
    title: Annotated[str, Form()] = "",
    team: Annotated[str, Form()] = "",
    starts_at: Annotated[str, Form()] = "",
    duration_minutes: Annotated[str, Form()] = "60",
    attendee_ids: Annotated[list[str] | None, Form()] = None,
    observer_ids: Annotated[list[str] | None, Form()] = None,
    item_plan: Annotated[list[str] | None, Form()] = None,
    item_reason: Annotated[list[str] | None, Form()] = None,
    item_presenter: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Schedule a conference (an IPM lead); its room opens. A row with no plan and no reason is no item;
    what is wrong is said beside its field, and nothing is saved."""
    plans_in, reasons, presenters = item_plan or [], item_reason or [], item_presenter or []
    count = min(max(len(plans_in), len(reasons), len(presenters)), AGENDA_MAX + 1)

    def at(values: list[str], index: int) -> str:
        return values[index].strip() if index < len(values) else ""

    rows = [
        {"plan_id": at(plans_in, i), "reason": at(reasons, i), "presenter_id": at(presenters, i)}
        for i in range(count)
    ]
    items = [r for r in rows if r["plan_id"] or r["reason"]]
    form = {
        "title": title,
        "team": team,
        "starts_at": starts_at,
        "duration_minutes": duration_minutes,
        "attendee_ids": _ids(attendee_ids or []),
        "observer_ids": _ids(observer_ids or []),
        "items": items
        + [{"plan_id": "", "reason": "", "presenter_id": ""}] * max(0, AGENDA_ROWS - len(items)),
    }
    try:
        body = ConferenceCreate.model_validate(
            {
                "title": title,
                "team": team.strip() or DEFAULT_TEAM,
                "starts_at": _starts_at(starts_at),
                "duration_minutes": duration_minutes.strip() or "60",
                "attendee_ids": form["attendee_ids"],
                "observer_ids": form["observer_ids"],
                "items": [
                    {
                        "plan_id": r["plan_id"],
                        "reason": r["reason"],
                        "presenter_id": r["presenter_id"] or None,
                    }
                    for r in items
                ],
            }
        )
    except ValidationError as exc:
        return await _list_page(request, session, actor, form=form, errors=_schedule_errors(exc), status=422)
    try:
        async with session.begin_nested():
            conference = await conferences.create_conference(session, body, actor=actor, now=utcnow())
    except ValidationFailed as exc:
        errors = {_form_field(exc.field): exc.detail}
        return await _list_page(request, session, actor, form=form, errors=errors, status=422)
    return see_other(f"/conferences/{conference.id}")


def _form_field(field: str | None) -> str:
    """The form's name for a field the service names (``items[1].plan_id`` -> ``item_1_plan_id``)."""
    match = _ITEM_FIELD.fullmatch(field or "")
    if match:
        return f"item_{match[1]}_{match[2]}"
    return field or "form"


# --- The room ---------------------------------------------------------------------------------------


def _item_view(
    item: ItemPublic, number: int, current_id: int | None, names: dict[int, str]
) -> dict[str, Any]:
    return {
        "id": item.id,
        "plan_id": item.plan_id,
        "number": number,
        "patient": item.patient_name,
        "plan_title": item.plan_title,
        "reason": item.reason,
        "presenter": names.get(item.presenter_id, "") if item.presenter_id else "",
        "status": item.status.value,
        "status_label": ITEM_STATUS_LABELS[item.status],
        "current": item.id == current_id,
        "carried": item.carried_from_id is not None,
        "minutes": item.minutes,
        "version": item.version,
        "decisions": [
            {
                "text": d.text,
                "kind": d.kind.value,
                "task_id": d.task_id,
                "referral_id": d.referral_id,
                "at": utc_time(d.created_at),
            }
            for d in item.decisions
        ],
    }


def _shown_item(conference: ConferencePublic, wanted: int | None) -> ItemPublic | None:
    """The item on screen: the current one; before the start (or after the end) the one asked for, or the
    first."""
    by_id = {i.id: i for i in conference.items}
    if conference.current_item_id in by_id and conference.status == ConferenceStatus.in_progress:
        return by_id[conference.current_item_id]
    if wanted in by_id:
        return by_id[wanted]
    if conference.current_item_id in by_id:
        return by_id[conference.current_item_id]
    return conference.items[0] if conference.items else None


async def _item_context(
    session: AsyncSession, conference: ConferencePublic, item: ItemPublic, actor: Actor, now: datetime
) -> dict[str, Any]:
    """The shown item's plan: its board by lane and column, goals, changes, pending referrals and overdue
    tasks."""
    board = await read_board(session, item.plan_id, actor=actor, viewing_at=now)
    today = date.today()
    names = {m.user_id: m.display_name for m in board.members}
    changes = await conferences.item_changes(
        session, conference.id, item.id, actor=actor, now=now, limit=CHANGES_LIMIT
    )
    for change in changes.items:
        if change.actor_id is not None:
            names.setdefault(change.actor_id, change.who)
    cards = [plan_pages.card_view(task, names, today) for task in board.tasks]
    shown = [c for c in cards if Column(c["column"]) in ROOM_COLUMNS]
    cells: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for card in shown:
        cells.setdefault(card["discipline"], {c.value: [] for c in ROOM_COLUMNS})[card["column"]].append(card)
    lanes = [
        {"discipline": d.value, "label": DISCIPLINE_LABELS[d], "cells": cells[d.value]}
        for d in Discipline
        if d.value in cells
    ]
    columns = [
        {
            "value": c.value,
            "label": COLUMN_LABELS[c],
            "span": column_span(max((len(lane[c.value]) for lane in cells.values()), default=0)),
        }
        for c in ROOM_COLUMNS
    ]
    listed, _ = await referrals.list_referrals(
        session, actor=actor, now=now, plan_id=item.plan_id, limit=REFERRALS_LIMIT
    )
    pending = [
        referral_pages.row(r, now) for r in listed if r.status == ReferralStatus.active and r.answer is None
    ]
    # Each goal judged by a measure: how it stands from the latest scores (outcomes' badge).
    scores = await outcomes.checked_plan_scores(session, item.plan_id)
    progress = {
        p.goal_id: outcome_pages.progress_badge(p)
        for p in outcomes.goal_progress(board.goals, scores, today=today)
    }
    return {
        "board": board,
        "lanes": lanes,
        "columns": columns,
        "units": sum(c["span"] for c in columns),
        "column_counts": {
            c.value: sum(1 for card in shown if card["column"] == c.value) for c in ROOM_COLUMNS
        },
        "card_count": len(shown),
        "closed_count": len(cards) - len(shown),
        "goals": [
            plan_pages.goal_view(g.model_dump(), today) | {"progress": progress.get(g.id, "")}
            for g in board.goals
        ],
        "changes": plan_pages.history(changes.items, names),
        "changes_since": utc_time(changes.since) if changes.since else "",
        "changes_more": changes.more,
        "referrals": pending,
        "overdue_tasks": [c for c in cards if c["overdue"]],
        "members": sorted(((m.user_id, m.display_name) for m in board.members), key=lambda m: m[1]),
        # The plan's trends, for everyone taking part (the board's read above is the audited one).
        "sparks": outcome_pages.sparks(scores),
    }


def column_span(depth: int) -> int:
    """How many card columns a board column gets, by its deepest cell: a wall screen shows a full board
    without scrolling when a column that holds many cards in one lane lays them side by side."""
    return 1 if depth <= 2 else 2 if depth <= 6 else 3


@router.get("/conferences/{conference_id}")
async def room(request: Request, conference_id: Id, session: Db, actor: Viewer, item: str = "") -> Response:
    """The room: the item on screen with its live board, the agenda, who is here; the facilitator's
    controls. Not invited: not found."""
    now = utcnow()
    conference = await conferences.get_conference(session, conference_id, actor=actor)
    role = await conferences.conference_role(session, conference_id, actor=actor)
    people = {p.user_id: p.name for p in conference.participants}
    wanted = int(item) if item.isascii() and item.isdecimal() and len(item) < 10 else None
    shown = _shown_item(conference, wanted)
    settings = request.app.state.settings
    presence = await conferences.presence(
        session, conference_id, actor=actor, now=now, heartbeat_seconds=settings.conference_heartbeat_seconds
    )
    facilitates = role is Role.facilitator
    context: dict[str, Any] = {
        "section": "conferences",
        "c": conference,
        "role": role.value,
        "role_label": ROLE_LABELS[role],
        "status_label": STATUS_LABELS[conference.status],
        "starts_text": utc_time(conference.starts_at),
        "facilitator": people.get(conference.facilitator_id, ""),
        "closed": conference.status in CLOSED_STATUSES,
        "running": conference.status == ConferenceStatus.in_progress,
        "facilitates": facilitates,
        "agenda": [
            _item_view(i, n, conference.current_item_id, people) for n, i in enumerate(conference.items, 1)
        ],
        "shown": _item_view(shown, conference.items.index(shown) + 1, conference.current_item_id, people)
        if shown
        else None,
        "present": [
            {"name": p.name, "role": ROLE_LABELS[p.role], "user_id": p.user_id} for p in presence.present
        ],
        "heartbeat_seconds": settings.conference_heartbeat_seconds,
        "item_statuses": [
            (s.value, ITEM_STATUS_LABELS[s]) for s in ItemStatus if s is not ItemStatus.pending
        ],
        "lane_choices": [(d.value, DISCIPLINE_LABELS[d]) for d in Discipline],
        "task_priorities": [(p.value, plan_pages.PRIORITY_LABELS[p]) for p in TaskPriority],
        "referral_priorities": [(p.value, REFERRAL_PRIORITY_LABELS[p]) for p in ReferralPriority],
        "lent_out": False,
    }
    if shown is not None:
        try:
            context |= await _item_context(session, conference, shown, actor, now)
        except NotFound:
            # Off the patient's care team, the plan was lent for the conference's window only: after it,
            # the room keeps the agenda and the record, not the board.
            context["lent_out"] = True
    return render(request, "conferences/room.html", context)


# --- The summary ------------------------------------------------------------------------------------


@router.get("/conferences/{conference_id}/summary")
async def summary(request: Request, conference_id: Id, session: Db, actor: Viewer) -> Response:
    """The record, for reading and printing: attendance; per item (one patient a page when printed) the
    outcome, decisions with the tasks and referrals they made, minutes."""
    record = await conferences.summary(session, conference_id, actor=actor)
    items = {i.id: i.patient_name for i in record.items}
    context = {
        "section": "conferences",
        "s": record,
        "status_label": STATUS_LABELS[record.conference.status],
        "starts_text": utc_time(record.conference.starts_at),
        "started_text": utc_time(record.started_at),
        "ended_text": utc_time(record.ended_at),
        "attendance": [
            {
                "name": a.name,
                "role": ROLE_LABELS[a.role],
                "joined": utc_time(a.joined_at),
                "left": utc_time(a.left_at or a.last_seen_at),
                "for_items": [items[i] for i in a.item_ids if i in items],
            }
            for a in record.attendance
        ],
        "item_labels": {s.value: label for s, label in ITEM_STATUS_LABELS.items()},
        "discipline_labels": {d.value: label for d, label in DISCIPLINE_LABELS.items()},
        "decision_labels": {k.value: label for k, label in conferences.DECISION_LABELS.items()},
    }
    return render(request, "conferences/summary.html", context)
