"""Outcome measures: the JSON API (``/api/v1/plans/{id}/measures``, ``/api/v1/measures/{id}``, the goals'
progress ``/api/v1/plans/{id}/goal-progress``, procedure responses ``/api/v1/tasks/{id}/responses``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from careteam.outcomes import responses
from careteam.outcomes import service as outcomes
from careteam.outcomes.codes import Measure
from careteam.outcomes.schemas import (
    EnteredInError,
    GoalsProgressPublic,
    ObservationCreate,
    ObservationPublic,
    ObservationsPublic,
    ResponseCreate,
    ResponsePublic,
    ResponsesPublic,
)
from careteam.plans import tasks as plan_tasks
from careteam.plans.board import audited_plan
from careteam.web.deps import CurrentActor, Id, IfMatch, Now, SessionDep, SettingsDep, etag
from careteam.web.idempotent import IdempotencyKey, once

router = APIRouter(tags=["outcomes"])


@router.post("/plans/{plan_id}/measures", status_code=201, response_model=ObservationPublic)
async def record_measure(
    plan_id: Id,
    body: ObservationCreate,
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    now: Now,
    key: IdempotencyKey = None,
) -> Response:
    """Record a score on the plan (any member of its care team); it appears on every open board at once."""

    async def create() -> tuple[ObservationPublic, dict[str, str]]:
        row = await outcomes.record_observation(session, plan_id, body, actor=actor, now=now)
        return outcomes.public(row), {"ETag": etag(row.version), "Location": f"/api/v1/measures/{row.id}"}

    return await once(
        request, session, key, actor, create, may_replay=lambda: audited_plan(session, plan_id, actor=actor)
    )


@router.get("/plans/{plan_id}/measures", response_model=ObservationsPublic)
async def list_measures(
    plan_id: Id,
    actor: CurrentActor,
    session: SessionDep,
    measure: Annotated[Measure | None, Query(description="Only this measure's scores")] = None,
) -> ObservationsPublic:
    """The plan's scores, oldest first; withdrawn ones are listed too, marked ``entered-in-error``."""
    rows = await outcomes.plan_observations(session, plan_id, actor=actor, measure=measure)
    return ObservationsPublic(items=[outcomes.public(r) for r in rows])


@router.post("/measures/{observation_id}/entered-in-error", response_model=ObservationPublic)
async def withdraw_measure(
    observation_id: Id,
    body: EnteredInError,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    now: Now,
    response: Response,
) -> ObservationPublic:
    """Withdraw a score recorded by mistake (If-Match: the version you saw); it stays, marked, with the
    reason. 409 if it is withdrawn already."""
    row = await outcomes.withdraw_observation(
        session, observation_id, body, expected_version=version, actor=actor, now=now
    )
    response.headers["ETag"] = etag(row.version)
    return outcomes.public(row)


@router.get("/plans/{plan_id}/goal-progress", response_model=GoalsProgressPublic)
async def goal_progress(
    plan_id: Id, actor: CurrentActor, session: SessionDep, now: Now
) -> GoalsProgressPublic:
    """How the plan's goals judged by a measure stand (in-progress, improving, worsening, achieved,
    not-achieved: docs/outcomes.md), from the latest scores; goals with only a free-text target are left
    out."""
    items = await outcomes.plan_goal_progress(session, plan_id, actor=actor, today=now.date())
    return GoalsProgressPublic(items=items)


@router.post("/tasks/{task_id}/responses", status_code=201, response_model=ResponsePublic)
async def record_response(
    task_id: Id,
    body: ResponseCreate,
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    key: IdempotencyKey = None,
) -> Response:
    """Record a diagnostic block's percent relief over its expected duration on its task (any member of the
    care team); positive at or above ``CARETEAM_BLOCK_RELIEF_THRESHOLD``, shown on the card at once."""

    async def create() -> tuple[ResponsePublic, dict[str, str]]:
        row = await responses.record_response(
            session, task_id, body, actor=actor, now=now, threshold=settings.block_relief_threshold
        )
        return responses.public(row), {
            "ETag": etag(row.version),
            "Location": f"/api/v1/tasks/{task_id}/responses",
        }

    return await once(
        request,
        session,
        key,
        actor,
        create,
        may_replay=lambda: plan_tasks.get_task(session, task_id, actor=actor),
    )


@router.get("/tasks/{task_id}/responses", response_model=ResponsesPublic)
async def list_responses(task_id: Id, actor: CurrentActor, session: SessionDep) -> ResponsesPublic:
    """The task's procedure responses, oldest first; withdrawn ones are listed too, marked
    ``entered-in-error``."""
    rows = await responses.task_responses(session, task_id, actor=actor)
    return ResponsesPublic(items=[responses.public(r) for r in rows])


@router.post("/responses/{response_id}/entered-in-error", response_model=ResponsePublic)
async def withdraw_response(
    response_id: Id,
    body: EnteredInError,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    now: Now,
    response: Response,
) -> ResponsePublic:
    """Withdraw a procedure response recorded by mistake (If-Match: the version you saw); it stays, marked,
    with the reason. 409 if it is withdrawn already."""
    row = await responses.withdraw_response(
        session, response_id, body, expected_version=version, actor=actor, now=now
    )
    response.headers["ETag"] = etag(row.version)
    return responses.public(row)
