"""The board as one read, and how events change it.

``apply_event`` is the contract between the event log and every viewer: the browser's live updates do
the same thing, by element id, and the replay tests prove that the board read before a write with the
write's events applied equals the board read after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from pydantic import BaseModel, TypeAdapter
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.core.actor import Actor
from careteam.core.errors import NotFound
from careteam.events import log as events
from careteam.events import streams
from careteam.events.schemas import EventPublic, EventsPublic
from careteam.events.tables import StreamEvent
from careteam.patients import service as patients
from careteam.patients.access import Ids
from careteam.patients.schemas import MemberPublic, PatientPublic
from careteam.plans.access import readable_plan_ids, viewable_plan_ids
from careteam.plans.kinds import TASK_EVENTS, PlanEvent
from careteam.plans.schemas import BoardPublic, GoalPublic, PlanPublic, TaskPublic
from careteam.plans.tables import CarePlan, Goal, Task

# A board's tasks: TaskPublic's fields, in its order, as plain rows (no ORM instances), in board order.
# Built once: the statement is the same for every board (a bound parameter is the plan).
_TASK_FIELDS = tuple(TaskPublic.model_fields)
_TASK_ROWS = (
    sa.select(*(sa.inspect(Task).local_table.c[name] for name in _TASK_FIELDS))
    .where(col(Task.plan_id) == sa.bindparam("plan_id"))
    .order_by(col(Task.position), col(Task.id))
)
_TASKS = TypeAdapter(list[TaskPublic])


def _plan_ids(actor: Actor, viewing_at: datetime | None) -> Ids | sa.CompoundSelect[Any]:
    """The care team's plans, or (``viewing_at``: a read only) those the actor may see then, lent ones too."""
    return readable_plan_ids(actor) if viewing_at is None else viewable_plan_ids(actor, viewing_at)


async def readable_plan(
    session: AsyncSession,
    plan_id: int,
    actor: Actor,
    *,
    for_update: bool = False,
    viewing_at: datetime | None = None,
) -> CarePlan:
    """The plan if the actor is on its patient's care team (or, ``viewing_at``, may see it then: a plan lent
    to her for reading); otherwise not found (never forbidden)."""
    query = select(CarePlan).where(CarePlan.id == plan_id, col(CarePlan.id).in_(_plan_ids(actor, viewing_at)))
    if for_update:
        query = query.with_for_update()
    plan = (await session.exec(query)).first()
    if plan is None:
        raise NotFound("No such care plan.")
    return plan


async def audited_plan(
    session: AsyncSession,
    plan_id: int,
    *,
    actor: Actor,
    viewing_at: datetime | None = None,
    audited: bool = True,
) -> CarePlan:
    """The plan, if the actor may read it (else not found), with one audited read.

    ``audited=False`` only for a read the caller has audited already (the realtime hub's window)."""
    plan = await readable_plan(session, plan_id, actor, viewing_at=viewing_at)
    if audited:
        audit.record(session, actor, AuditAction.read, "care_plan", plan_id, patient_id=plan.patient_id)
    return plan


async def plan_exists(session: AsyncSession, plan_id: int) -> bool:
    """Whether the plan exists, whoever may read it: for the audit of a refused read only."""
    return (await session.exec(select(col(CarePlan.id)).where(CarePlan.id == plan_id))).first() is not None


async def record(
    session: AsyncSession,
    plan: CarePlan | int,
    kind: str,
    data: BaseModel | dict[str, Any],
    *,
    actor: Actor | None,
    change: events.Change | None = None,
    audited: audit.Row | None = None,
) -> StreamEvent:
    """Append an event to the plan's stream ``plan:<id>`` (``events.record``); a loaded plan's ``last_seq``
    follows, so what the write returns is current."""
    plan_id = plan if isinstance(plan, int) else plan.id or 0
    stream = streams.plan(plan_id)
    event = await events.record(session, stream, kind, data, actor=actor, change=change, audited=audited)
    if not isinstance(plan, int):
        set_committed_value(plan, "last_seq", event.seq)
    return event


async def plan_events(
    session: AsyncSession, plan_id: int, *, after: int, limit: int, actor: Actor
) -> EventsPublic:
    """A board's events with seq > after, in order (its history, and catch-up); audited as one read.

    ``resync`` when the log no longer reaches back that far: the reader reloads the board instead.
    """
    plan = await audited_plan(session, plan_id, actor=actor)
    stream = streams.plan(plan_id)
    if await events.resync_reason(session, stream, after, plan.last_seq):
        return EventsPublic(items=[], last_seq=plan.last_seq, resync=True)
    rows = await events.read_after(session, stream, after, limit=limit)
    items = [
        EventPublic(plan_id=plan_id, seq=e.seq, kind=e.kind, data=e.data, actor_id=e.actor_id, at=e.at)
        for e in rows
    ]
    return EventsPublic(items=items, last_seq=plan.last_seq)


@dataclass(frozen=True, slots=True)
class Board:
    """A board as read: plan, patient, goals and team as public models; the tasks as ``TaskPublic`` dicts.

    A board has hundreds of tasks and is read on every page load, so its tasks stay the rows the database
    returned (keyed and ordered as ``TaskPublic``'s fields, enums as their values, ``due_date`` a date).
    They are valid: every write validated them (``TaskCreate`` / ``TaskUpdate``). ``public()`` validates
    them once more into models; ``json()`` is the body of ``GET /api/v1/plans/{id}``, equal to
    ``public().model_dump_json()``.
    """

    plan: PlanPublic
    patient: PatientPublic
    goals: list[GoalPublic]
    tasks: list[dict[str, Any]]
    members: list[MemberPublic]

    @property
    def last_seq(self) -> int:
        return self.plan.last_seq

    def member(self, user_id: int) -> MemberPublic | None:
        """The user's place on the patient's care team as the board read it (None: not on it, e.g. a plan
        lent to her for a conference). The board's panels ask this, not the database: one team read."""
        return next((m for m in self.members if m.user_id == user_id), None)

    def public(self) -> BoardPublic:
        return BoardPublic(
            plan=self.plan,
            patient=self.patient,
            goals=self.goals,
            tasks=_TASKS.validate_python(self.tasks),
            members=self.members,
            last_seq=self.last_seq,
        )

    def json(self) -> bytes:
        return orjson.dumps(
            {
                "plan": self.plan.model_dump(mode="json"),
                "patient": self.patient.model_dump(mode="json"),
                "goals": [g.model_dump(mode="json") for g in self.goals],
                "tasks": self.tasks,
                "members": [m.model_dump(mode="json") for m in self.members],
                "last_seq": self.last_seq,
            }
        )


async def read_board(
    session: AsyncSession,
    plan_id: int,
    *,
    actor: Actor,
    viewing_at: datetime | None = None,
    audited: bool = True,
) -> Board:
    """The whole board in a constant number of queries, whatever the number of tasks; audited as one read
    (``audited=False``: the caller has audited it already).
    ``viewing_at``: a plan lent to the actor then is readable too (``plans.access.viewable_plan_ids``)."""
    # The plan, its patient and its goals in one query: a row per goal (one, with no goal, if it has none).
    rows = (
        await session.exec(
            select(CarePlan, Goal)
            .outerjoin(Goal, Goal.plan_id == CarePlan.id)  # type: ignore[arg-type]
            .where(CarePlan.id == plan_id, col(CarePlan.id).in_(_plan_ids(actor, viewing_at)))
            .order_by(col(Goal.id))
        )
    ).all()
    if not rows:
        raise NotFound("No such care plan.")
    plan = rows[0][0]
    goals = [goal for _, goal in rows if goal is not None]
    connection = await session.connection()  # Core rows: no ORM instances, no identity map
    tasks = await connection.execute(_TASK_ROWS, {"plan_id": plan_id})
    patient, members = await patients.patient_and_team(session, plan.patient_id)
    if audited:
        audit.record(session, actor, AuditAction.read, "care_plan", plan_id, patient_id=plan.patient_id)
    return Board(
        plan=PlanPublic.model_validate(plan),
        patient=patient,
        goals=[GoalPublic.model_validate(g) for g in goals],
        tasks=[dict(zip(_TASK_FIELDS, task, strict=True)) for task in tasks],
        members=members,
    )


async def get_board(
    session: AsyncSession,
    plan_id: int,
    *,
    actor: Actor,
    viewing_at: datetime | None = None,
    audited: bool = True,
) -> BoardPublic:
    """The board as one validated model (``read_board``, then ``Board.public``); audited as one read."""
    return (await read_board(session, plan_id, actor=actor, viewing_at=viewing_at, audited=audited)).public()


def apply_event(board: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """The board (as JSON) after one event; events at or below the board's ``last_seq`` change nothing."""
    seq = int(event["seq"])
    if seq <= board["last_seq"]:
        return board
    kind, data = event["kind"], event["data"]
    board = {**board, "last_seq": seq, "plan": {**board["plan"], "last_seq": seq}}
    if kind in (PlanEvent.plan_created, PlanEvent.plan_updated):
        board["plan"] = {**data, "last_seq": seq}
    elif kind in (PlanEvent.goal_created, PlanEvent.goal_updated):
        board["goals"] = _upsert(board["goals"], data, key=lambda g: g["id"])
    elif kind in TASK_EVENTS:
        board["tasks"] = _upsert(board["tasks"], data, key=lambda t: (t["position"], t["id"]))
    elif kind == PlanEvent.team_updated:
        board["members"] = data["members"]
    return board


def _upsert(items: list[dict[str, Any]], item: dict[str, Any], *, key: Any) -> list[dict[str, Any]]:
    rest = [i for i in items if i["id"] != item["id"]]
    return sorted([*rest, item], key=key)
