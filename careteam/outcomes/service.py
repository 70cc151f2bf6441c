"""Outcome measures: record a score on a plan, withdraw one as entered-in-error, read a plan's scores.

Every team member records and reads (the plan's care team); a plan lent for a conference shows its
scores in the room only (``checked_plan_scores`` after the room's board read), never its outcomes page or
the API. A
score is never edited: a wrong one is withdrawn, kept and marked, and the correction is a new score. Each
write is one event on the plan's stream (``plans.board.record``) and one audit row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar, cast

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.core.actor import Actor
from careteam.core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from careteam.outcomes.codes import MEASURES, Measure, ObservationStatus, OutcomeEvent
from careteam.outcomes.progress import Target, achievement
from careteam.outcomes.schemas import (
    Coding,
    EnteredInError,
    GoalProgressPublic,
    ObservationCreate,
    ObservationPublic,
)
from careteam.outcomes.tables import Observation, ProcedureResponse
from careteam.plans import board
from careteam.plans import service as plans
from careteam.plans.access import readable_plan_ids
from careteam.plans.schemas import GoalPublic

Row = TypeVar("Row", Observation, ProcedureResponse)

# A clock a little ahead of the server's is not a score from the future.
_CLOCK_SKEW = timedelta(minutes=5)


def public(row: Observation) -> ObservationPublic:
    measure = Measure(row.measure)
    spec = MEASURES[measure]
    return ObservationPublic(
        id=row.id or 0,
        plan_id=row.plan_id,
        patient_id=row.patient_id,
        measure=measure,
        code=Coding(system=spec.system, code=spec.code, display=spec.display),
        value=row.value,
        unit=spec.unit,
        items=list(row.items),
        band=spec.band(row.value),
        note=row.note,
        effective_at=row.effective_at,
        author_id=row.author_id,
        status=ObservationStatus(row.status),
        error_reason=row.error_reason,
        withdrawn_by_id=row.withdrawn_by_id,
        withdrawn_at=row.withdrawn_at,
        version=row.version,
        created_at=row.created_at,
    )


def score(body: ObservationCreate) -> float:
    """The score a body records, checked against its measure: its range, whole numbers, PEG-3's items."""
    spec = MEASURES[body.measure]
    if spec.items:
        if body.value is not None:
            raise ValidationFailed(
                f"{spec.display} is scored from its {len(spec.items)} items: send items, not value.",
                field="value",
            )
        if body.items is None or len(body.items) != len(spec.items):
            raise ValidationFailed(
                f"{spec.display} needs {len(spec.items)} item scores (0-10): " + ", ".join(spec.items) + ".",
                field="items",
            )
        return round(sum(body.items) / len(body.items), 2)
    if body.items is not None:
        raise ValidationFailed(f"{spec.display} has no items: send its value.", field="items")
    if body.value is None:
        raise ValidationFailed(f"{spec.display} needs a value.", field="value")
    if body.value != int(body.value) or not spec.low <= body.value <= spec.high:
        raise ValidationFailed(
            f"{spec.display} is a whole number from {spec.low} to {spec.high}{spec.unit}.", field="value"
        )
    return float(body.value)


async def record_observation(
    session: AsyncSession, plan_id: int, body: ObservationCreate, *, actor: Actor, now: datetime
) -> Observation:
    """Record a score on a plan of the actor's care teams."""
    value = score(body)
    effective = body.effective_at or now
    if effective > now + _CLOCK_SKEW:
        raise ValidationFailed("A score cannot be measured in the future.", field="effective_at")
    plan = await board.readable_plan(session, plan_id, actor)
    row = Observation(
        plan_id=plan_id,
        patient_id=plan.patient_id,
        measure=body.measure,
        value=value,
        items=list(body.items or []),
        note=body.note,
        effective_at=effective,
        author_id=actor.user_id,
        status=ObservationStatus.final,
    )
    session.add(row)
    await session.flush()
    await board.record(session, plan, OutcomeEvent.recorded, public(row), actor=actor)
    audit.record(session, actor, AuditAction.create, "observation", row.id, patient_id=plan.patient_id)
    return row


async def withdraw_observation(
    session: AsyncSession,
    observation_id: int,
    body: EnteredInError,
    *,
    expected_version: int,
    actor: Actor,
    now: datetime,
) -> Observation:
    """Mark a score entered-in-error (412 if it changed since the caller saw it; 409 if already withdrawn)."""
    return await withdraw_row(
        session,
        Withdrawal(Observation, "observation", "score", OutcomeEvent.entered_in_error, public),
        observation_id,
        body,
        expected_version=expected_version,
        actor=actor,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class Withdrawal(Generic[Row]):
    """What withdrawing one kind of row takes: its table, its audit name, its noun in messages, the event it
    records and its public shape."""

    model: type[Row]
    resource: str
    noun: str
    kind: str
    shape: Callable[[Row], BaseModel]


async def withdraw_row(
    session: AsyncSession,
    of: Withdrawal[Row],
    row_id: int,
    body: EnteredInError,
    *,
    expected_version: int,
    actor: Actor,
    now: datetime,
) -> Row:
    """Mark a score or a response entered-in-error, kept with who, when and why: the row locked, its
    version checked (412 with it as it is), not twice (409); one event on the plan's stream, one audit row."""
    table: Any = of.model
    row = (
        await session.exec(
            select(table)
            .where(table.id == row_id, col(table.plan_id).in_(readable_plan_ids(actor)))
            .with_for_update()
        )
    ).first()
    if row is None:
        raise NotFound(f"No such {of.noun}.")
    if row.version != expected_version:
        raise Conflict(
            f"Someone changed this {of.noun} first.",
            current=of.shape(row),
            actor=actor,
            shown=(of.resource, row.id, row.patient_id),
        )
    if row.status == ObservationStatus.entered_in_error:
        raise InvalidTransition(f"This {of.noun} is already marked entered in error.")
    row.status = ObservationStatus.entered_in_error
    row.error_reason = body.reason
    row.withdrawn_by_id = actor.user_id
    row.withdrawn_at = now
    row.version += 1
    session.add(row)
    await session.flush()
    await board.record(session, row.plan_id, of.kind, of.shape(row), actor=actor)
    audit.record(session, actor, AuditAction.update, of.resource, row.id, patient_id=row.patient_id)
    return cast(Row, row)


async def plan_observations(
    session: AsyncSession, plan_id: int, *, actor: Actor, measure: Measure | None = None
) -> Sequence[Observation]:
    """A plan's scores, oldest first (withdrawn ones too), with one audited read of the plan."""
    await board.audited_plan(session, plan_id, actor=actor)
    query = select(Observation).where(Observation.plan_id == plan_id)
    if measure is not None:
        query = query.where(Observation.measure == measure)
    return (await session.exec(query.order_by(col(Observation.effective_at), col(Observation.id)))).all()


async def checked_plan_scores(session: AsyncSession, plan_id: int) -> Sequence[Observation]:
    """A plan's scores, oldest first, for a page whose own read of the plan has checked and audited the
    viewer's access (the board, the outcomes page, a conference room): one statement, no second check."""
    query = select(Observation).where(Observation.plan_id == plan_id)
    return (await session.exec(query.order_by(col(Observation.effective_at), col(Observation.id)))).all()


async def on_care_team(session: AsyncSession, plan_id: int, *, actor: Actor) -> bool:
    """Whether the actor is on the plan's care team (scores are the team's: a plan lent to her for a
    conference shows its board, not its scores)."""
    query = select(sa.literal(1)).where(sa.literal(plan_id).in_(readable_plan_ids(actor)))
    return (await session.exec(query)).first() is not None


async def get_observation(session: AsyncSession, observation_id: int, *, actor: Actor) -> Observation:
    """One score, if its plan is one of the actor's (else not found); an audited read."""
    query = select(Observation).where(
        Observation.id == observation_id, col(Observation.plan_id).in_(readable_plan_ids(actor))
    )
    row = (await session.exec(query)).first()
    if row is None:
        raise NotFound("No such measure.")
    audit.record(session, actor, AuditAction.read, "observation", observation_id, patient_id=row.patient_id)
    return row


# --- Goals judged by a measure ----------------------------------------------------------------------


def target_of(goal: GoalPublic) -> Target | None:
    """The goal's measure target with its due date, if it is judged by a measure."""
    t = goal.measure_target
    return None if t is None else Target(t.measure, t.comparator, t.value, goal.due_date)


def goal_progress(
    goals: Sequence[GoalPublic], rows: Sequence[Observation], *, today: date
) -> list[GoalProgressPublic]:
    """How each goal judged by a measure stands, from the plan's scores (``rows``, oldest first)."""
    out = []
    for goal in goals:
        target = target_of(goal)
        if target is None:
            continue
        values = [
            r.value for r in rows if r.measure == target.measure and r.status == ObservationStatus.final
        ]
        out.append(
            GoalProgressPublic(
                goal_id=goal.id,
                description=goal.description,
                measure=target.measure,
                comparator=target.comparator,
                value=target.value,
                due_date=target.due,
                status=achievement(target, values, today=today),
                latest=values[-1] if values else None,
                previous=values[-2] if len(values) > 1 else None,
            )
        )
    return out


async def plan_goal_progress(
    session: AsyncSession, plan_id: int, *, actor: Actor, today: date
) -> list[GoalProgressPublic]:
    """How the plan's goals judged by a measure stand, with one audited read of the plan (its care team)."""
    rows = await plan_observations(session, plan_id, actor=actor)
    return goal_progress(await plans.plan_goals(session, plan_id), rows, today=today)
