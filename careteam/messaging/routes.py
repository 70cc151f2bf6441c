"""Messaging: the JSON API (a plan's team thread, a task's comments, one message)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from careteam.messaging import reads
from careteam.messaging import service as messaging
from careteam.messaging.schemas import (
    MessageCreate,
    MessagePublic,
    MessageSeenPublic,
    MessagesPublic,
    MessagesRead,
    MessagesReadAll,
    MessagesUnreadPublic,
    MessageTaskCreate,
    MessageUpdate,
    ThreadReadPublic,
)
from careteam.plans.schemas import TaskPublic
from careteam.web.deps import CurrentActor, Cursors, Id, IfMatch, Limit, SessionDep, etag
from careteam.web.idempotent import IdempotencyKey, once

router = APIRouter(tags=["messages"])


_THREAD: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such plan or task, or not on its care team"},
}
_MESSAGE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such message, or not on its plan's care team"},
    409: {"description": "The message was removed"},
}


def _created(message: MessagePublic) -> tuple[MessagePublic, dict[str, str]]:
    return message, {"ETag": etag(message.version), "Location": f"/api/v1/messages/{message.id}"}


@router.post("/plans/{plan_id}/messages", status_code=201, response_model=MessagePublic, responses=_THREAD)
async def post_plan_message(
    plan_id: Id,
    body: MessageCreate,
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> Response:
    """Write in the plan's team thread (Markdown); whoever it @mentions on the care team is notified."""

    async def create() -> tuple[MessagePublic, dict[str, str]]:
        return _created(await messaging.post_plan_message(session, plan_id, body, actor=actor))

    async def may_replay() -> None:
        await messaging.check_replayed_plan_post(session, plan_id, actor=actor)

    return await once(request, session, key, actor, create, may_replay=may_replay)


@router.get("/plans/{plan_id}/messages", responses=_THREAD)
async def list_plan_messages(
    plan_id: Id,
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit,
    cursors: Cursors,
) -> MessagesPublic:
    """The plan's team thread: newest first (``before`` pages back), or oldest first from ``after``."""
    return await messaging.list_plan_messages(
        session, plan_id, actor=actor, before=cursors.before, after=cursors.after, limit=limit
    )


@router.post("/tasks/{task_id}/messages", status_code=201, response_model=MessagePublic, responses=_THREAD)
async def post_task_message(
    task_id: Id,
    body: MessageCreate,
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> Response:
    """Comment on a task; its assignee, earlier commenters and anyone @mentioned are notified."""

    async def create() -> tuple[MessagePublic, dict[str, str]]:
        return _created(await messaging.post_task_message(session, task_id, body, actor=actor))

    async def may_replay() -> None:
        await messaging.check_replayed_task_post(session, task_id, actor=actor)

    return await once(request, session, key, actor, create, may_replay=may_replay)


@router.get("/tasks/{task_id}/messages", responses=_THREAD)
async def list_task_messages(
    task_id: Id,
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit,
    cursors: Cursors,
) -> MessagesPublic:
    """A task's comments: newest first (``before`` pages back), or oldest first from ``after``."""
    return await messaging.list_task_messages(
        session, task_id, actor=actor, before=cursors.before, after=cursors.after, limit=limit
    )


@router.get("/messages/{message_id}", responses={404: _MESSAGE[404]})
async def get_message(
    message_id: Id, actor: CurrentActor, session: SessionDep, response: Response
) -> MessagePublic:
    """One message: which thread it is in (``task_id`` null: the plan's team thread), who wrote it, its
    version (``ETag``) for an edit."""
    message = await messaging.get_message(session, message_id, actor=actor)
    response.headers["ETag"] = etag(message.version)
    return message


@router.patch(
    "/messages/{message_id}", responses={**_MESSAGE, 403: {"description": "Not the message's author"}}
)
async def patch_message(
    message_id: Id,
    body: MessageUpdate,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    response: Response,
) -> MessagePublic:
    """Edit your message (its earlier text is kept); 412 with the current one if it changed first."""
    message = await messaging.edit_message(session, message_id, body, expected_version=version, actor=actor)
    response.headers["ETag"] = etag(message.version)
    return message


@router.delete(
    "/messages/{message_id}",
    responses={**_MESSAGE, 403: {"description": "Neither the author nor the care team's lead"}},
)
async def delete_message(
    message_id: Id, actor: CurrentActor, session: SessionDep, version: IfMatch, response: Response
) -> MessagePublic:
    """Remove a message (its author or the team's lead); the thread shows it as removed."""
    message = await messaging.delete_message(session, message_id, expected_version=version, actor=actor)
    response.headers["ETag"] = etag(message.version)
    return message


@router.post("/messages/{message_id}/task", status_code=201, response_model=TaskPublic, responses=_MESSAGE)
async def make_task(
    message_id: Id,
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    body: MessageTaskCreate | None = None,
    key: IdempotencyKey = None,
) -> Response:
    """Make this a task: a task on the message's plan, linked both ways (the task's ``message_id``, the
    message's ``task_ids``); it appears on the board live. 409 if the message was removed."""

    async def create() -> tuple[TaskPublic, dict[str, str]]:
        task = await messaging.make_task(session, message_id, body or MessageTaskCreate(), actor=actor)
        return task, {"ETag": etag(task.version), "Location": f"/api/v1/tasks/{task.id}"}

    async def may_replay() -> None:
        await messaging.check_replayed_task_from_message(session, message_id, actor=actor)

    return await once(request, session, key, actor, create, may_replay=may_replay)


# --- Read state ----------------------------------------------------------------------------------


@router.post("/plans/{plan_id}/messages/read", responses=_THREAD)
async def read_plan_messages(
    plan_id: Id, actor: CurrentActor, session: SessionDep, body: MessagesRead | None = None
) -> ThreadReadPublic:
    """Mark the plan's team thread read up to ``up_to`` (its newest if none); never moves back."""
    up_to = body.up_to if body else None
    return await reads.mark_plan_read(session, plan_id, up_to=up_to, actor=actor)


@router.post("/tasks/{task_id}/messages/read", responses=_THREAD)
async def read_task_messages(
    task_id: Id, actor: CurrentActor, session: SessionDep, body: MessagesRead | None = None
) -> ThreadReadPublic:
    """Mark a task's comments read up to ``up_to`` (its newest if none); never moves back."""
    up_to = body.up_to if body else None
    return await reads.mark_task_read(session, task_id, up_to=up_to, actor=actor)


@router.post("/me/messages/read-all")
async def read_all_messages(
    actor: CurrentActor, session: SessionDep, body: MessagesReadAll | None = None
) -> MessagesUnreadPublic:
    """Mark every thread of your plans read up to its newest message; your counts after."""
    return await reads.mark_all_read(session, actor=actor)


@router.get("/me/unread")
async def get_unread(actor: CurrentActor, session: SessionDep) -> MessagesUnreadPublic:
    """Your unread messages: in all, per plan and per task."""
    return await reads.unread(session, actor=actor)


@router.get("/messages/{message_id}/seen", responses={404: _MESSAGE[404]})
async def get_seen(message_id: Id, actor: CurrentActor, session: SessionDep) -> MessageSeenPublic:
    """The care team members who have read the message's thread at or past it."""
    return await reads.seen_by(session, message_id, actor=actor)


@router.post(
    "/messages/{message_id}/ack",
    responses={**_MESSAGE, 403: {"description": "Not asked to acknowledge it, by name or discipline"}},
)
async def acknowledge_message(message_id: Id, actor: CurrentActor, session: SessionDep) -> MessagePublic:
    """Acknowledge an urgent message you are asked to; again: the message as it is, nothing new. Its
    author and everyone viewing the plan see it at once (``message.acknowledged``)."""
    return await messaging.acknowledge(session, message_id, actor=actor)
