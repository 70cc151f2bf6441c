"""Care plans (boards), their goals, tasks and event log: the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.core.actor import Actor
from careteam.core.schemas import Page
from careteam.core.vocab import Discipline
from careteam.events.schemas import EventsPublic
from careteam.plans import service as plans
from careteam.plans import tasks
from careteam.plans.board import audited_plan, plan_events, read_board
from careteam.plans.codes import Column
from careteam.plans.schemas import (
    BoardPublic,
    GatesUpdate,
    GoalCreate,
    GoalPublic,
    GoalUpdate,
    PlanCreate,
    PlanPublic,
    PlanUpdate,
    TaskCreate,
    TaskPublic,
    TaskUpdate,
)
from careteam.web.deps import (
    CurrentActor,
    Digits,
    Id,
    IfMatch,
    Limit,
    Now,
    Offset,
    SessionDep,
    SettingsDep,
    etag,
)
from careteam.web.fast import FastRoute
from careteam.web.idempotent import IdempotencyKey, once

plans_router = APIRouter(tags=["care plans"])


@plans_router.get("/plans")
async def list_plans(
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit,
    offset: Offset = 0,
    patient_id: Annotated[int | None, Query(gt=0, lt=2**31), Digits] = None,
) -> Page[PlanPublic]:
    """The care plans of your patients."""
    rows, total = await plans.list_plans(
        session, actor=actor, patient_id=patient_id, offset=offset, limit=limit
    )
    return Page(items=[PlanPublic.model_validate(p) for p in rows], total=total, offset=offset, limit=limit)


@plans_router.post("/plans", status_code=201, response_model=PlanPublic)
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
        await plans.check_replayed_create(session, body.patient_id, actor=actor)

    return await once(request, session, key, actor, create, may_replay=may_replay)


# The body is the board's own JSON (``Board.json``, equal to BoardPublic's): documented as BoardPublic,
# without building hundreds of TaskPublic models per request only to serialise them again.
@plans_router.get("/plans/{plan_id}", response_model=BoardPublic)
async def get_plan_board(plan_id: Id, actor: CurrentActor, session: SessionDep) -> Response:
    """The board snapshot: plan, goals, tasks, team, and the ``last_seq`` to resume live updates from."""
    board = await read_board(session, plan_id, actor=actor)
    return Response(board.json(), media_type="application/json", headers={"ETag": etag(board.plan.version)})


@plans_router.patch("/plans/{plan_id}")
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


@plans_router.post("/plans/{plan_id}/goals", status_code=201, response_model=GoalPublic)
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


@plans_router.patch("/goals/{goal_id}")
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


@plans_router.get("/plans/{plan_id}/events")
async def list_events(
    plan_id: Id,
    actor: CurrentActor,
    session: SessionDep,
    after: Annotated[int, Query(ge=0, lt=2**31), Digits] = 0,
    limit: Annotated[int, Query(ge=1, le=1000), Digits] = 500,
) -> EventsPublic:
    """Events with seq > after, in order (the activity history, and catch-up after a reconnect).

    ``resync: true`` means the log no longer reaches back that far: reload the board instead.
    """
    return await plan_events(session, plan_id, after=after, limit=limit, actor=actor)


tasks_router = APIRouter(tags=["tasks"])


@tasks_router.get("/plans/{plan_id}/tasks")
async def list_tasks(
    plan_id: Id,
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit,
    offset: Offset = 0,
    discipline: Discipline | None = None,
    column: Column | None = None,
    overdue: bool = False,
    assignee_id: Annotated[int | None, Query(gt=0, lt=2**31), Digits] = None,
) -> Page[TaskPublic]:
    """A plan's tasks in board order; filter by lane, column, assignee or overdue."""
    rows, total = await tasks.list_tasks(
        session,
        plan_id,
        actor=actor,
        discipline=discipline,
        assignee_id=assignee_id,
        column=column,
        overdue=overdue,
        offset=offset,
        limit=limit,
    )
    return Page(items=[TaskPublic.model_validate(t) for t in rows], total=total, offset=offset, limit=limit)


@tasks_router.post("/plans/{plan_id}/tasks", status_code=201, response_model=TaskPublic)
async def create_task(
    plan_id: Id,
    body: TaskCreate,
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> Response:
    """Put a task on the board; send an Idempotency-Key to make retries safe."""

    async def create() -> tuple[TaskPublic, dict[str, str]]:
        task = await tasks.create_task(session, plan_id, body, actor=actor)
        return TaskPublic.model_validate(task), {
            "ETag": etag(task.version),
            "Location": f"/api/v1/tasks/{task.id}",
        }

    return await once(
        request, session, key, actor, create, may_replay=lambda: audited_plan(session, plan_id, actor=actor)
    )


@tasks_router.get("/tasks/{task_id}")
async def get_task(task_id: Id, actor: CurrentActor, session: SessionDep, response: Response) -> TaskPublic:
    task = await tasks.get_task(session, task_id, actor=actor)
    response.headers["ETag"] = etag(task.version)
    return TaskPublic.model_validate(task)


@tasks_router.patch("/tasks/{task_id}")
async def patch_task(
    task_id: Id,
    body: TaskUpdate,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    response: Response,
    now: Now,
) -> TaskPublic:
    """Update or move a task; 412 with the current task if someone changed it first. A move follows the
    state machine (409, in column words) and the board's rules of who may make it (403, the rule in words,
    docs/board.md); a move to cancelled needs ``status_reason`` (422)."""
    answer, new_version = await _patch_task(task_id, body, version, actor, session, now)
    response.headers["ETag"] = etag(new_version)
    return answer


async def _patch_task(
    task_id: int, body: TaskUpdate, version: int, actor: Actor, session: AsyncSession, now: datetime
) -> tuple[TaskPublic, int]:
    task = await tasks.update_task(session, task_id, body, expected_version=version, actor=actor, now=now)
    return TaskPublic.model_validate(task), task.version


# The hottest write, served past FastAPI's per-request machinery when well formed (web/fast.py); the route
# above is its contract and its answer to anything else.
FAST_ROUTES = (
    FastRoute("/api/v1/tasks/{task_id}", "PATCH", param="task_id", body=TaskUpdate, write=_patch_task),
)


@tasks_router.post("/tasks/{task_id}/undo")
async def undo_task(
    task_id: Id,
    actor: CurrentActor,
    session: SessionDep,
    settings: SettingsDep,
    version: IfMatch,
    response: Response,
    now: Now,
) -> TaskPublic:
    """Take back your own completion or cancel within ``CARETEAM_TASK_UNDO_SECONDS``: the task goes back to
    its previous status (event ``task.undone``). Someone else: 403; too late or nothing to undo: 409."""
    task = await tasks.undo_task(
        session, task_id, expected_version=version, actor=actor, now=now, window=settings.task_undo_seconds
    )
    response.headers["ETag"] = etag(task.version)
    return TaskPublic.model_validate(task)


@tasks_router.post("/tasks/{task_id}/reopen", status_code=201, response_model=TaskPublic)
async def reopen_task(
    task_id: Id, request: Request, actor: CurrentActor, session: SessionDep, key: IdempotencyKey = None
) -> Response:
    """Follow up a task in Done or Closed: a new task in To do linked to it (``reopened_from_id``); the
    original stays as it is. Send an Idempotency-Key to make retries safe."""

    async def create() -> tuple[TaskPublic, dict[str, str]]:
        task = await tasks.reopen_task(session, task_id, actor=actor)
        return TaskPublic.model_validate(task), {
            "ETag": etag(task.version),
            "Location": f"/api/v1/tasks/{task.id}",
        }

    return await once(
        request, session, key, actor, create, may_replay=lambda: tasks.get_task(session, task_id, actor=actor)
    )


@tasks_router.put("/tasks/{task_id}/gates")
async def put_task_gates(
    task_id: Id,
    body: GatesUpdate,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    response: Response,
    now: Now,
) -> TaskPublic:
    """Set a task's readiness gates: tasks on the same plan that must be completed before it becomes ready,
    starts or completes (a move before that: 409 naming the open gates). Not itself, not another plan's
    task, no circle: 422 on ``gate_task_ids``. 412 with the current task if someone changed it first."""
    task = await tasks.set_gates(
        session, task_id, body.gate_task_ids, expected_version=version, actor=actor, now=now
    )
    response.headers["ETag"] = etag(task.version)
    return TaskPublic.model_validate(task)


# One router for the app to include (its routes are copied in: no extra level of matching).
router = APIRouter()
router.include_router(plans_router)
router.include_router(tasks_router)
