"""Care plans and their goals."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.core.actor import Actor
from careteam.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from careteam.core.vocab import Discipline
from careteam.db.types import utcnow
from careteam.patients import service as patients
from careteam.patients.access import Ids
from careteam.patients.codes import TeamRole
from careteam.patients.schemas import CareTeamPublic
from careteam.plans import board
from careteam.plans.access import readable_plan_ids
from careteam.plans.board import readable_plan
from careteam.plans.codes import COLUMN_OF, Column, GoalStatus, PlanStatus
from careteam.plans.kinds import PlanEvent
from careteam.plans.schemas import GoalCreate, GoalPublic, GoalUpdate, PlanCreate, PlanPublic, PlanUpdate
from careteam.plans.tables import CarePlan, Goal, Task

# Who shapes a plan (its title, status, goals); every team member works its tasks.
_PLANNING_DISCIPLINES = (Discipline.ipm_lead, Discipline.physician)


async def list_plans(
    session: AsyncSession, *, actor: Actor, patient_id: int | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[CarePlan], int]:
    """The plans of the actor's patients, newest first; each one listed is audited as read."""
    query = select(CarePlan).where(col(CarePlan.id).in_(readable_plan_ids(actor)))
    if patient_id is not None:
        query = query.where(CarePlan.patient_id == patient_id)
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = list(await session.exec(query.order_by(col(CarePlan.id).desc()).offset(offset).limit(limit)))
    audit.record_reads(session, actor, "care_plan", ((p.id, p.patient_id) for p in rows))
    return rows, int(total)


async def check_replayed_create(session: AsyncSession, patient_id: int, *, actor: Actor) -> None:
    """A retried "open a plan" (same Idempotency-Key) is answered again only while the actor is still on
    the patient's team; the answer shows the plan, so it is audited as a read of the patient."""
    await patients.ensure_clinical_patient(session, patient_id, actor=actor)
    audit.record(session, actor, AuditAction.read, "patient", patient_id, patient_id=patient_id)


async def create_plan(session: AsyncSession, body: PlanCreate, *, actor: Actor) -> CarePlan:
    """Open a care plan (board) for a patient, with its first goals."""
    await patients.ensure_clinical_patient(session, body.patient_id, actor=actor)
    await _ensure_plans(session, body.patient_id, actor)
    plan = CarePlan(
        patient_id=body.patient_id,
        title=body.title,
        description=body.description,
        status=body.status,
        period_start=body.period_start,
        period_end=body.period_end,
    )
    session.add(plan)
    await session.flush()
    set_committed_value(plan, "last_seq", 0)  # a new plan's stream has no event yet
    await board.record(session, plan, PlanEvent.plan_created, PlanPublic.model_validate(plan), actor=actor)
    for goal_body in body.goals:
        goal = _new_goal(plan.id or 0, goal_body)
        session.add(goal)
        await session.flush()
        await board.record(
            session, plan, PlanEvent.goal_created, GoalPublic.model_validate(goal), actor=actor
        )
    audit.record(session, actor, AuditAction.create, "care_plan", plan.id, patient_id=plan.patient_id)
    return plan


async def update_plan(
    session: AsyncSession, plan_id: int, body: PlanUpdate, *, expected_version: int, actor: Actor
) -> CarePlan:
    """Change a plan's title, description, status or period; 412 if someone changed it first."""
    plan = await readable_plan(session, plan_id, actor, for_update=True)
    await _ensure_plans(session, plan.patient_id, actor)
    if plan.version != expected_version:
        raise Conflict(
            "Someone changed this care plan first.",
            current=PlanPublic.model_validate(plan),
            actor=actor,
            shown=("care_plan", plan.id, plan.patient_id),
        )
    changes = body.model_dump(exclude_unset=True)
    for field in ("title", "description", "status"):
        if field in changes and changes[field] is None:
            raise ValidationFailed(f"{field} cannot be empty.", field=field)
    for field, value in changes.items():
        setattr(plan, field, value)
    if plan.period_start and plan.period_end and plan.period_end < plan.period_start:
        raise ValidationFailed("period_end must not be before period_start.", field="period_end")
    plan.version += 1
    plan.updated_at = utcnow()
    await board.record(session, plan, PlanEvent.plan_updated, PlanPublic.model_validate(plan), actor=actor)
    audit.record(session, actor, AuditAction.update, "care_plan", plan.id, patient_id=plan.patient_id)
    return plan


async def add_goal(session: AsyncSession, plan_id: int, body: GoalCreate, *, actor: Actor) -> Goal:
    """Add a goal to a plan (e.g. "PEG from 7 to 4 or less in 12 weeks")."""
    plan = await readable_plan(session, plan_id, actor, for_update=True)
    await _ensure_plans(session, plan.patient_id, actor)
    goal = _new_goal(plan_id, body)
    session.add(goal)
    await session.flush()
    await board.record(session, plan, PlanEvent.goal_created, GoalPublic.model_validate(goal), actor=actor)
    audit.record(session, actor, AuditAction.create, "goal", goal.id, patient_id=plan.patient_id)
    return goal


def _new_goal(plan_id: int, body: GoalCreate) -> Goal:
    goal = Goal(plan_id=plan_id, **body.model_dump(exclude={"measure_target"}))
    goal.set_measure_target(body.measure_target.model_dump() if body.measure_target else None)
    return goal


async def update_goal(
    session: AsyncSession, goal_id: int, body: GoalUpdate, *, expected_version: int, actor: Actor
) -> Goal:
    """Change a goal's wording, target, measure target, due date or lifecycle status; 412 if someone changed
    it first."""
    goal = (
        await session.exec(
            select(Goal)
            .where(Goal.id == goal_id, col(Goal.plan_id).in_(readable_plan_ids(actor)))
            .with_for_update()
        )
    ).first()
    if goal is None:
        raise NotFound("No such goal.")
    plan = await readable_plan(session, goal.plan_id, actor, for_update=True)
    await _ensure_plans(session, plan.patient_id, actor)
    if goal.version != expected_version:
        raise Conflict(
            "Someone changed this goal first.",
            current=GoalPublic.model_validate(goal),
            actor=actor,
            shown=("goal", goal.id, plan.patient_id),
        )
    for field, value in body.model_dump(exclude_unset=True).items():
        if value is None and field not in ("due_date", "measure_target"):
            raise ValidationFailed(f"{field} cannot be empty.", field=field)
        if field == "measure_target":
            goal.set_measure_target(value)
        else:
            setattr(goal, field, value)
    goal.version += 1
    session.add(goal)
    await session.flush()
    await board.record(session, plan, PlanEvent.goal_updated, GoalPublic.model_validate(goal), actor=actor)
    audit.record(session, actor, AuditAction.update, "goal", goal.id, patient_id=plan.patient_id)
    return goal


async def plan_to_shape(session: AsyncSession, plan_id: int, *, actor: Actor) -> int:
    """The patient of a plan the actor may shape (its lead or physicians), the plan locked; not found off
    the team, forbidden for the others: for a feature that adds to the plan (a protocol)."""
    plan = await readable_plan(session, plan_id, actor, for_update=True)
    await _ensure_plans(session, plan.patient_id, actor)
    return plan.patient_id


async def may_shape_plans(session: AsyncSession, patient_id: int, *, actor: Actor) -> bool:
    """Plans are shaped by the team's leads and its IPM physicians; others work the tasks. An EMR interface
    account shapes the plans of the patients shared with it (it imports them: careteam.fhir)."""
    if actor.is_integration:
        return await patients.is_shared(session, patient_id, actor.user_id)
    member = await patients.membership(session, patient_id, actor.user_id)
    return member is not None and shapes_plans(member[0], member[1])


def shapes_plans(role: str, discipline: str) -> bool:
    """Whether a team member with this role and discipline shapes the plan (its goals, period, title)."""
    return role == TeamRole.lead or discipline in _PLANNING_DISCIPLINES


async def _ensure_plans(session: AsyncSession, patient_id: int, actor: Actor) -> None:
    if not await may_shape_plans(session, patient_id, actor=actor):
        raise Forbidden("Only the team's lead or its physicians change the plan itself.")


async def _show_team_change(
    session: AsyncSession, patient_id: int, team: CareTeamPublic, actor: Actor
) -> None:
    """A care team changed: every board of the patient gets ``team.updated`` (its assignee lists change)."""
    plan_ids = await session.exec(
        select(CarePlan.id).where(CarePlan.patient_id == patient_id).order_by(col(CarePlan.id))
    )
    members = [m.model_dump(mode="json") for m in team.members]
    for plan_id in list(plan_ids):
        await board.record(session, plan_id or 0, PlanEvent.team_updated, {"members": members}, actor=actor)


patients.on_team_changed(_show_team_change)


# --- For case conferences (no audit here: the caller checks access and audits what it shows) --------------


async def plan_labels(session: AsyncSession, plan_ids: Iterable[int]) -> dict[int, tuple[str, int]]:
    """Title and patient id by plan id, in one query."""
    ids = sorted(set(plan_ids))
    if not ids:
        return {}
    rows = await session.exec(
        select(col(CarePlan.id), col(CarePlan.title), col(CarePlan.patient_id)).where(
            col(CarePlan.id).in_(ids)
        )
    )
    return {int(pid or 0): (title, int(patient_id)) for pid, title, patient_id in rows}


async def plan_goals(session: AsyncSession, plan_id: int) -> list[GoalPublic]:
    """A plan's goals, by id (not audited: for a caller whose own read of the plan checked and audited)."""
    rows = await session.exec(select(Goal).where(Goal.plan_id == plan_id).order_by(col(Goal.id)))
    return [GoalPublic.model_validate(g) for g in rows]


async def mark_reviewed(session: AsyncSession, plan_ids: Iterable[int], *, at: datetime) -> None:
    """These plans were discussed at a case conference that ended ``at``."""
    ids = sorted(set(plan_ids))
    if ids:
        await session.exec(sa.update(CarePlan).where(col(CarePlan.id).in_(ids)).values(last_reviewed_at=at))


@dataclass(frozen=True, slots=True)
class PlanGlance:
    id: int
    patient_id: int
    title: str
    created_at: datetime
    last_reviewed_at: datetime | None


async def active_plans(session: AsyncSession, plan_ids: Ids) -> list[PlanGlance]:
    """The active plans among ``plan_ids`` (a select), by id."""
    rows = await session.exec(
        select(CarePlan)
        .where(col(CarePlan.id).in_(plan_ids), col(CarePlan.status) == PlanStatus.active)
        .order_by(col(CarePlan.id))
    )
    return [PlanGlance(p.id or 0, p.patient_id, p.title, p.created_at, p.last_reviewed_at) for p in rows]


async def overdue_counts(
    session: AsyncSession, plan_ids: list[int], *, today: date
) -> dict[int, tuple[int, int]]:
    """Per plan: open tasks past their due date, and goals still being worked towards past theirs."""
    if not plan_ids:
        return {}
    open_statuses = [
        s for s, c in COLUMN_OF.items() if c in (Column.todo, Column.in_progress, Column.on_hold)
    ]
    late_tasks = await session.exec(
        select(col(Task.plan_id), func.count())
        .where(
            col(Task.plan_id).in_(plan_ids), col(Task.due_date) < today, col(Task.status).in_(open_statuses)
        )
        .group_by(col(Task.plan_id))
    )
    done_goals = [
        GoalStatus.completed,
        GoalStatus.cancelled,
        GoalStatus.rejected,
        GoalStatus.entered_in_error,
    ]
    late_goals = await session.exec(
        select(col(Goal.plan_id), func.count())
        .where(
            col(Goal.plan_id).in_(plan_ids),
            col(Goal.due_date) < today,
            col(Goal.lifecycle_status).not_in(done_goals),
        )
        .group_by(col(Goal.plan_id))
    )
    counts: dict[int, tuple[int, int]] = {}
    for plan_id, n in late_tasks:
        counts[int(plan_id)] = (int(n), 0)
    for plan_id, n in late_goals:
        counts[int(plan_id)] = (counts.get(int(plan_id), (0, 0))[0], int(n))
    return counts


async def goal_plan_id(session: AsyncSession, goal_id: int) -> int | None:
    """The plan a goal belongs to (None: no such goal). Not access-checked: read the plan through the board,
    which is."""
    return (await session.exec(select(col(Goal.plan_id)).where(Goal.id == goal_id))).first()
