"""Tasks on a board."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from careteam.api.deps import CurrentActor, Id, IfMatch, Limit, Offset, SessionDep, etag
from careteam.api.idempotent import IdempotencyKey, once
from careteam.codes import Column, Discipline
from careteam.domain import tasks
from careteam.domain.board import audited_plan
from careteam.domain.schemas import Page, TaskCreate, TaskPublic, TaskUpdate

router = APIRouter(tags=["tasks"])


@router.get("/plans/{plan_id}/tasks")
async def list_tasks(
    plan_id: Id,
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit,
    offset: Offset = 0,
    discipline: Discipline | None = None,
    column: Column | None = None,
    overdue: bool = False,
    assignee_id: Annotated[int | None, Query(gt=0, lt=2**31)] = None,
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


@router.post("/plans/{plan_id}/tasks", status_code=201, response_model=TaskPublic)
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


@router.get("/tasks/{task_id}")
async def get_task(task_id: Id, actor: CurrentActor, session: SessionDep, response: Response) -> TaskPublic:
    task = await tasks.get_task(session, task_id, actor=actor)
    response.headers["ETag"] = etag(task.version)
    return TaskPublic.model_validate(task)


@router.patch("/tasks/{task_id}")
async def patch_task(
    task_id: Id,
    body: TaskUpdate,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    response: Response,
) -> TaskPublic:
    """Update or move a task; 412 with the current task if someone changed it first."""
    task = await tasks.update_task(session, task_id, body, expected_version=version, actor=actor)
    response.headers["ETag"] = etag(task.version)
    return TaskPublic.model_validate(task)
