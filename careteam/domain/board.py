"""The board as one read, and how events change it.

``apply_event`` is the contract between the event log and every viewer: the browser's live updates do
the same thing, by element id, and the replay tests prove that the board read before a write with the
write's events applied equals the board read after.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.codes import AuditAction
from careteam.domain import access, audit
from careteam.domain.actor import Actor
from careteam.domain.errors import NotFound
from careteam.domain.patients import team_members
from careteam.domain.schemas import BoardPublic, GoalPublic, PatientPublic, PlanPublic, TaskPublic
from careteam.store.tables import CarePlan, Goal, Patient, Task


async def readable_plan(
    session: AsyncSession, plan_id: int, actor: Actor, *, for_update: bool = False
) -> CarePlan:
    """The plan if the actor is on its patient's care team; otherwise not found (never forbidden)."""
    query = select(CarePlan).where(
        CarePlan.id == plan_id, col(CarePlan.id).in_(access.readable_plan_ids(actor))
    )
    if for_update:
        query = query.with_for_update()
    plan = (await session.exec(query)).first()
    if plan is None:
        raise NotFound("No such care plan.")
    return plan


async def audited_plan(session: AsyncSession, plan_id: int, *, actor: Actor) -> CarePlan:
    """The plan, if the actor may read it (else not found), with one audited read."""
    plan = await readable_plan(session, plan_id, actor)
    audit.record(session, actor, AuditAction.read, "care_plan", plan_id, patient_id=plan.patient_id)
    return plan


async def get_board(session: AsyncSession, plan_id: int, *, actor: Actor) -> BoardPublic:
    """The whole board in a constant number of queries, whatever the number of tasks; audited as one read."""
    row = (
        await session.exec(
            select(CarePlan, Patient)
            .join(Patient, Patient.id == CarePlan.patient_id)  # type: ignore[arg-type]
            .where(CarePlan.id == plan_id, col(CarePlan.id).in_(access.readable_plan_ids(actor)))
        )
    ).first()
    if row is None:
        raise NotFound("No such care plan.")
    plan, patient = row
    goals = await session.exec(select(Goal).where(Goal.plan_id == plan_id).order_by(col(Goal.id)))
    tasks = await session.exec(
        select(Task).where(Task.plan_id == plan_id).order_by(col(Task.position), col(Task.id))
    )
    members = await team_members(session, patient.id or 0)
    audit.record(session, actor, AuditAction.read, "care_plan", plan_id, patient_id=patient.id)
    return BoardPublic(
        plan=PlanPublic.model_validate(plan),
        patient=PatientPublic.model_validate(patient),
        goals=[GoalPublic.model_validate(g) for g in goals],
        tasks=[TaskPublic.model_validate(t) for t in tasks],
        members=members,
        last_seq=plan.last_seq,
    )


def apply_event(board: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """The board (as JSON) after one event; events at or below the board's ``last_seq`` change nothing."""
    seq = int(event["seq"])
    if seq <= board["last_seq"]:
        return board
    kind, data = event["kind"], event["data"]
    board = {**board, "last_seq": seq, "plan": {**board["plan"], "last_seq": seq}}
    if kind in ("plan.created", "plan.updated"):
        board["plan"] = {**data, "last_seq": seq}
    elif kind in ("goal.created", "goal.updated"):
        board["goals"] = _upsert(board["goals"], data, key=lambda g: g["id"])
    elif kind in ("task.created", "task.updated", "task.moved"):
        board["tasks"] = _upsert(board["tasks"], data, key=lambda t: (t["position"], t["id"]))
    elif kind == "team.updated":
        board["members"] = data["members"]
    return board


def _upsert(items: list[dict[str, Any]], item: dict[str, Any], *, key: Any) -> list[dict[str, Any]]:
    rest = [i for i in items if i["id"] != item["id"]]
    return sorted([*rest, item], key=key)
