"""Procedure responses: after a diagnostic block, the patient's percent relief over the block's expected
duration, recorded on the block's task and judged positive or negative against the team's threshold
(``CARETEAM_BLOCK_RELIEF_THRESHOLD``, kept on each response as it was when recorded).

Any task of a plan may carry responses (a procedure is whatever task the team records one on: the
physician's "Medial branch block L4-L5 (diagnostic)"); every team member records and reads them. Like a
score, a response is never edited: a wrong one is withdrawn as entered-in-error, kept and marked. Each
write is one event on the plan's stream (``response.recorded``, ``response.entered-in-error``, the
response as data) and one audit row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.core.actor import Actor
from careteam.core.errors import ValidationFailed
from careteam.outcomes import service as outcomes
from careteam.outcomes.codes import ObservationStatus, OutcomeEvent, ResponseResult
from careteam.outcomes.schemas import EnteredInError, ResponseCreate, ResponsePublic
from careteam.outcomes.tables import ProcedureResponse
from careteam.plans import board
from careteam.plans import tasks as plan_tasks

_CLOCK_SKEW = timedelta(minutes=5)


def result(relief_percent: int, threshold: int) -> ResponseResult:
    """Positive at or above the threshold."""
    return ResponseResult.positive if relief_percent >= threshold else ResponseResult.negative


def public(row: ProcedureResponse) -> ResponsePublic:
    return ResponsePublic(
        id=row.id or 0,
        task_id=row.task_id,
        plan_id=row.plan_id,
        patient_id=row.patient_id,
        relief_percent=row.relief_percent,
        duration_hours=row.duration_hours,
        threshold=row.threshold,
        result=result(row.relief_percent, row.threshold),
        observed_at=row.observed_at,
        note=row.note,
        author_id=row.author_id,
        status=ObservationStatus(row.status),
        error_reason=row.error_reason,
        withdrawn_by_id=row.withdrawn_by_id,
        withdrawn_at=row.withdrawn_at,
        version=row.version,
        created_at=row.created_at,
    )


async def record_response(
    session: AsyncSession,
    task_id: int,
    body: ResponseCreate,
    *,
    actor: Actor,
    now: datetime,
    threshold: int,
) -> ProcedureResponse:
    """Record a block's relief on its task (a task of the actor's care teams); its card shows the result."""
    observed = body.observed_at or now
    if observed > now + _CLOCK_SKEW:
        raise ValidationFailed("A response cannot be observed in the future.", field="observed_at")
    task = await plan_tasks.readable_task(session, task_id, actor=actor)
    plan = await board.readable_plan(session, task.plan_id, actor)
    row = ProcedureResponse(
        task_id=task_id,
        plan_id=plan.id or 0,
        patient_id=plan.patient_id,
        relief_percent=body.relief_percent,
        duration_hours=body.duration_hours,
        threshold=threshold,
        observed_at=observed,
        note=body.note,
        author_id=actor.user_id,
        status=ObservationStatus.final,
    )
    session.add(row)
    await session.flush()
    await board.record(session, plan, OutcomeEvent.response_recorded, public(row), actor=actor)
    audit.record(session, actor, AuditAction.create, "procedure_response", row.id, patient_id=plan.patient_id)
    return row


WITHDRAWAL = outcomes.Withdrawal(
    ProcedureResponse, "procedure_response", "response", OutcomeEvent.response_entered_in_error, public
)


async def withdraw_response(
    session: AsyncSession,
    response_id: int,
    body: EnteredInError,
    *,
    expected_version: int,
    actor: Actor,
    now: datetime,
) -> ProcedureResponse:
    """Mark a response entered-in-error (412 if it changed since the caller saw it; 409 if withdrawn)."""
    return await outcomes.withdraw_row(
        session,
        outcomes.Withdrawal(
            ProcedureResponse,
            "procedure_response",
            "response",
            OutcomeEvent.response_entered_in_error,
            public,
        ),
        response_id,
        body,
        expected_version=expected_version,
        actor=actor,
        now=now,
    )


async def task_responses(session: AsyncSession, task_id: int, *, actor: Actor) -> Sequence[ProcedureResponse]:
    """A task's responses, oldest first (withdrawn ones too), with one audited read of the task."""
    await plan_tasks.get_task(session, task_id, actor=actor)
    query = select(ProcedureResponse).where(ProcedureResponse.task_id == task_id)
    return (
        await session.exec(query.order_by(col(ProcedureResponse.observed_at), col(ProcedureResponse.id)))
    ).all()


async def checked_plan_responses(session: AsyncSession, plan_id: int) -> Sequence[ProcedureResponse]:
    """A plan's responses, oldest first, for a page whose own read of the plan checked and audited access."""
    query = select(ProcedureResponse).where(ProcedureResponse.plan_id == plan_id)
    return (
        await session.exec(query.order_by(col(ProcedureResponse.observed_at), col(ProcedureResponse.id)))
    ).all()
