"""A clinician's open tasks across every board she may read: the tasks side of "My work".

Her tasks are the open ones (To do, In progress, On hold) on her care teams' plans that are assigned to her,
or unassigned in her discipline's lane. They come ordered by when they are due (``Due``: overdue, today,
this week, later), then by priority, then by id, from prebuilt Core statements: one for a page of rows
(each with its patient's id and name, joined), one for the counts per ``Due`` over the whole filtered set,
whatever the number of patients and tasks. Not audited here: the caller shows the rows and audits them.

``WorkRow`` is the shape every kind of work item takes (``kind`` "task" here; referrals bring their own
rows of the same shape), and ``sort_key`` the one order all kinds share, so that a page can be merged
from several sources.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.core.vocab import Discipline
from careteam.patients import service as patients
from careteam.plans.access import readable_plan_ids_of
from careteam.plans.codes import COLUMN_OF, Column, TaskPriority

# "This week": due after today and at most this many days ahead.
WEEK_DAYS = 7


class Due(StrEnum):
    """When a work item is due, as "My work" groups it (in this order)."""

    overdue = "overdue"  # due before today
    today = "today"
    week = "week"  # within the next 7 days
    later = "later"  # later, or no due date


DUE_ORDER: tuple[Due, ...] = (Due.overdue, Due.today, Due.week, Due.later)
_RANK = {due: rank for rank, due in enumerate(DUE_ORDER)}
# Most pressing first: FHIR request-priority, stat > asap > urgent > routine.
PRIORITY_RANK: dict[str, int] = {
    TaskPriority.stat.value: 0,
    TaskPriority.asap.value: 1,
    TaskPriority.urgent.value: 2,
    TaskPriority.routine.value: 3,
}
OPEN_STATUSES: tuple[str, ...] = tuple(
    sorted(s.value for s, c in COLUMN_OF.items() if c in (Column.todo, Column.in_progress, Column.on_hold))
)


def due_of(due_date: date | None, today: date) -> Due:
    if due_date is None:
        return Due.later
    if due_date < today:
        return Due.overdue
    if due_date == today:
        return Due.today
    if due_date <= today + timedelta(days=WEEK_DAYS):
        return Due.week
    return Due.later


@dataclass(frozen=True, slots=True)
class WorkRow:
    """One item of a clinician's work, whatever its kind."""

    kind: str  # "task"; "referral" from the referrals feature
    id: int
    plan_id: int
    patient_id: int
    patient_name: str
    title: str
    discipline: Discipline
    status: str
    priority: str
    due_date: date | None
    assignee_id: int | None
    due: Due
    link: str


def sort_key(row: WorkRow) -> tuple[Any, ...]:
    """The order of "My work", for every kind: by ``Due``, the oldest due date first (none last), the most
    pressing priority first, then kind and id (the statements below sort tasks the same way)."""
    return (
        _RANK[row.due],
        row.due_date is None,
        row.due_date or date.min,
        PRIORITY_RANK.get(row.priority, len(PRIORITY_RANK)),
        row.kind,
        row.id,
    )


@dataclass(frozen=True, slots=True)
class WorkSlice:
    """A page of one source's work items in ``sort_key`` order, and its counts per ``Due`` over all."""

    rows: list[WorkRow]
    counts: dict[Due, int]


# --- The statements, built once per combination of filters ------------------------------------------

_TASKS = SQLModel.metadata.tables["task"]
_PLANS = SQLModel.metadata.tables["care_plan"]
_NAMES = patients.patient_names()
_TODAY = sa.bindparam("today", type_=sa.Date)
_WEEK_END = sa.bindparam("week_end", type_=sa.Date)
_DUE_RANK = sa.case(
    (_TASKS.c.due_date < _TODAY, _RANK[Due.overdue]),
    (_TASKS.c.due_date == _TODAY, _RANK[Due.today]),
    (_TASKS.c.due_date <= _WEEK_END, _RANK[Due.week]),
    else_=_RANK[Due.later],
).label("due_rank")
_PRIORITY_RANK = sa.case(PRIORITY_RANK, value=_TASKS.c.priority, else_=len(PRIORITY_RANK))
_USER = sa.bindparam("user_id", type_=sa.Integer)


def _where(*, patient: bool, discipline: bool) -> list[sa.ColumnElement[bool]]:
    where = [
        _TASKS.c.plan_id.in_(readable_plan_ids_of(_USER)),
        _TASKS.c.status.in_(OPEN_STATUSES),
        sa.or_(
            _TASKS.c.assignee_id == _USER,
            sa.and_(_TASKS.c.assignee_id.is_(None), _TASKS.c.discipline == sa.bindparam("own_lane")),
        ),
    ]
    if patient:
        where.append(_PLANS.c.patient_id == sa.bindparam("patient_id", type_=sa.Integer))
    if discipline:
        where.append(_TASKS.c.discipline == sa.bindparam("lane"))
    return where


@functools.cache
def _rows_statement(*, patient: bool, discipline: bool) -> sa.Select[Any]:
    # The page is chosen on narrow rows (id and sort keys; the plan joined only to filter by patient), and
    # only its rows are then joined to their task, plan and patient: a clinician with thousands of open
    # tasks has them sorted, not carried whole through the sort or joined one by one.
    page_query = sa.select(
        _TASKS.c.id, _DUE_RANK, _TASKS.c.due_date, _PRIORITY_RANK.label("priority_rank")
    ).where(*_where(patient=patient, discipline=discipline))
    if patient:
        page_query = page_query.join(_PLANS, _PLANS.c.id == _TASKS.c.plan_id)
    page = (
        page_query.order_by(
            _DUE_RANK, _TASKS.c.due_date.is_(None), _TASKS.c.due_date, "priority_rank", _TASKS.c.id
        )
        .offset(sa.bindparam("offset", type_=sa.Integer))
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .subquery("page")
    )
    return (
        sa.select(
            _TASKS.c.id,
            _TASKS.c.plan_id,
            _PLANS.c.patient_id,
            _NAMES.c.name,
            _TASKS.c.title,
            _TASKS.c.discipline,
            _TASKS.c.status,
            _TASKS.c.priority,
            _TASKS.c.due_date,
            _TASKS.c.assignee_id,
            page.c.due_rank,
        )
        .select_from(page)
        .join(_TASKS, _TASKS.c.id == page.c.id)
        .join(_PLANS, _PLANS.c.id == _TASKS.c.plan_id)
        .join(_NAMES, _NAMES.c.id == _PLANS.c.patient_id)
        .order_by(
            page.c.due_rank, page.c.due_date.is_(None), page.c.due_date, page.c.priority_rank, page.c.id
        )
    )


@functools.cache
def _counts_statement(*, patient: bool, discipline: bool) -> sa.Select[Any]:
    query = sa.select(_DUE_RANK, sa.func.count()).select_from(_TASKS)
    if patient:
        query = query.join(_PLANS, _PLANS.c.id == _TASKS.c.plan_id)
    return query.where(*_where(patient=patient, discipline=discipline)).group_by(_DUE_RANK)


def _params(
    user_id: int, own_lane: Discipline, today: date, patient_id: int | None, discipline: Discipline | None
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "user_id": user_id,
        "own_lane": own_lane.value,
        "today": today,
        "week_end": today + timedelta(days=WEEK_DAYS),
    }
    if patient_id is not None:
        params["patient_id"] = patient_id
    if discipline is not None:
        params["lane"] = discipline.value
    return params


async def task_work(
    session: AsyncSession,
    *,
    user_id: int,
    own_lane: Discipline,
    today: date,
    patient_id: int | None = None,
    discipline: Discipline | None = None,
    offset: int = 0,
    limit: int = 50,
) -> WorkSlice:
    """The user's open tasks (assigned to her, or unassigned in ``own_lane``) on the plans she may read, in
    ``sort_key`` order from ``offset``, and their counts per ``Due``; two queries. Not audited."""
    shape = {"patient": patient_id is not None, "discipline": discipline is not None}
    params = _params(user_id, own_lane, today, patient_id, discipline)
    connection = await session.connection()  # Core rows: no ORM instances, no identity map
    counts = dict.fromkeys(DUE_ORDER, 0)
    for rank, count in await connection.execute(_counts_statement(**shape), params):
        counts[DUE_ORDER[rank]] = int(count)
    rows = []
    if sum(counts.values()) > offset:
        page = {**params, "offset": offset, "limit": limit}
        result = await connection.execute(_rows_statement(**shape), page)
        rows = [
            WorkRow(
                kind="task",
                id=r.id,
                plan_id=r.plan_id,
                patient_id=r.patient_id,
                patient_name=r.name,
                title=r.title,
                discipline=Discipline(r.discipline),
                status=r.status,
                priority=r.priority,
                due_date=r.due_date,
                assignee_id=r.assignee_id,
                due=DUE_ORDER[r.due_rank],
                link=f"/plans/{r.plan_id}#task-{r.id}",
            )
            for r in result
        ]
    return WorkSlice(rows=rows, counts=counts)


async def due_counts(
    session: AsyncSession, *, user_id: int, own_lane: Discipline, today: date
) -> dict[Due, int]:
    """How many of the user's open tasks fall in each ``Due``, in one query (for a header's badge)."""
    connection = await session.connection()
    counts = dict.fromkeys(DUE_ORDER, 0)
    params = _params(user_id, own_lane, today, None, None)
    for rank, count in await connection.execute(_counts_statement(patient=False, discipline=False), params):
        counts[DUE_ORDER[rank]] = int(count)
    return counts


# --- On the patient list: each patient's open and overdue tasks -------------------------------------------


async def task_facts(
    session: AsyncSession, patient_ids: list[int], *, user_id: int, today: date
) -> dict[int, dict[str, int]]:
    """For each of these patients with a plan the user may read: her open tasks, and how many of them are
    overdue (``{"open": n, "overdue": m}``); one grouped query. Patients without one are left out."""
    if not patient_ids:
        return {}
    is_open = _TASKS.c.status.in_(OPEN_STATUSES)
    query = (
        sa.select(
            _PLANS.c.patient_id,
            sa.func.count(_TASKS.c.id).filter(is_open),
            sa.func.count(_TASKS.c.id).filter(is_open, _TASKS.c.due_date < today),
        )
        .select_from(_PLANS)
        .outerjoin(_TASKS, _TASKS.c.plan_id == _PLANS.c.id)
        .where(_PLANS.c.patient_id.in_(patient_ids), _PLANS.c.id.in_(readable_plan_ids_of(user_id)))
        .group_by(_PLANS.c.patient_id)
    )
    connection = await session.connection()
    return {
        int(pid): {"open": int(open_), "overdue": int(overdue)}
        for pid, open_, overdue in await connection.execute(query)
    }
