"""Care plans (boards), their goals and their event log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from careteam.api.deps import CurrentActor, Id, IfMatch, Limit, Offset, SessionDep, etag
from careteam.api.idempotent import IdempotencyKey, once
from careteam.codes import AuditAction
from careteam.domain import audit, events, plans
from careteam.domain.board import audited_plan, read_board, readable_plan
from careteam.domain.schemas import (
    BoardPublic,
    EventPublic,
    EventsPublic,
    GoalCreate,
    GoalPublic,
    GoalUpdate,
    Page,
    PlanCreate,
    PlanPublic,
    PlanUpdate,
)

router = APIRouter(tags=["care plans"])


@router.get("/plans")
async def list_plans(
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit,
    offset: Offset = 0,
    patient_id: Annotated[int | None, Query(gt=0, lt=2**31)] = None,
) -> Page[PlanPublic]:
    """The care plans of your patients."""
    rows, total = await plans.list_plans(
        session, actor=actor, patient_id=patient_id, offset=offset, limit=limit
    )
    return Page(items=[PlanPublic.model_validate(p) for p in rows], total=total, offset=offset, limit=limit)


@router.post("/plans", status_code=201, response_model=PlanPublic)
async def create_plan(
    body: PlanCreate, request: Request, actor: CurrentActor, session: SessionDep, key: IdempotencyKey = None
) -> Response:
    """Open a care plan for a patient (the team's lead or physicians)."""

    async def create() -> tuple[PlanPublic, dict[str, str]]:
        plan = await plans.create_plan(session, body, actor=actor)
        return PlanPublic.model_validate(plan), {
            "ETag": etag(plan.version),
            "Location": f"/api/v1/plans/{plan.id}",
        }

    async def may_replay() -> None:
        await plans.ensure_clinical_patient(session, body.patient_id, actor=actor)
        audit.record(session, actor, AuditAction.read, "patient", body.patient_id, patient_id=body.patient_id)

    return await once(request, session, key, actor, create, may_replay=may_replay)


# The body is the board's own JSON (``Board.json``, equal to BoardPublic's): documented as BoardPublic,
# without building hundreds of TaskPublic models per request only to serialise them again.
@router.get("/plans/{plan_id}", response_model=BoardPublic)
async def get_plan_board(plan_id: Id, actor: CurrentActor, session: SessionDep) -> Response:
    """The board snapshot: plan, goals, tasks, team, and the ``last_seq`` to resume live updates from."""
    board = await read_board(session, plan_id, actor=actor)
    return Response(board.json(), media_type="application/json", headers={"ETag": etag(board.plan.version)})


@router.patch("/plans/{plan_id}")
async def patch_plan(
    plan_id: Id,
    body: PlanUpdate,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    response: Response,
) -> PlanPublic:
    """Change the plan's title, status or period; 412 if someone changed it first."""
    plan = await plans.update_plan(session, plan_id, body, expected_version=version, actor=actor)
    response.headers["ETag"] = etag(plan.version)
    return PlanPublic.model_validate(plan)


@router.post("/plans/{plan_id}/goals", status_code=201, response_model=GoalPublic)
async def add_goal(
    plan_id: Id,
    body: GoalCreate,
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> Response:
    async def create() -> tuple[GoalPublic, dict[str, str]]:
        goal = await plans.add_goal(session, plan_id, body, actor=actor)
        return GoalPublic.model_validate(goal), {"ETag": etag(goal.version)}

    return await once(
        request, session, key, actor, create, may_replay=lambda: audited_plan(session, plan_id, actor=actor)
    )


@router.patch("/goals/{goal_id}")
async def patch_goal(
    goal_id: Id,
    body: GoalUpdate,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    response: Response,
) -> GoalPublic:
    goal = await plans.update_goal(session, goal_id, body, expected_version=version, actor=actor)
    response.headers["ETag"] = etag(goal.version)
    return GoalPublic.model_validate(goal)


@router.get("/plans/{plan_id}/events")
async def list_events(
    plan_id: Id,
    actor: CurrentActor,
    session: SessionDep,
    after: Annotated[int, Query(ge=0, lt=2**31)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> EventsPublic:
    """Events with seq > after, in order (the activity history, and catch-up after a reconnect).

    ``resync: true`` means the log no longer reaches back that far: reload the board instead.
    """
    plan = await readable_plan(session, plan_id, actor)
    audit.record(session, actor, AuditAction.read, "care_plan", plan_id, patient_id=plan.patient_id)
    if await events.resync_reason(session, plan_id, after, plan.last_seq):
        return EventsPublic(items=[], last_seq=plan.last_seq, resync=True)
    rows = await events.read_after(session, plan_id, after, limit=limit)
    return EventsPublic(items=[EventPublic.model_validate(e) for e in rows], last_seq=plan.last_seq)
