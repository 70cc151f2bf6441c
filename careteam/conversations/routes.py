"""Conversations: the JSON API (direct conversations, their messages and read positions), and the header's
Messages count over them and the plans' threads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from careteam.conversations import service as conversations
from careteam.conversations.schemas import (
    ConversationCreate,
    ConversationMessageCreate,
    ConversationMessagePublic,
    ConversationMessagesPublic,
    ConversationMessageUpdate,
    ConversationPublic,
    ConversationRead,
    ConversationReadPublic,
    ConversationsPublic,
    MessagesUnreadTotal,
)
from careteam.web.deps import CurrentActor, Cursors, Digits, Id, IfMatch, Limit, SessionDep, etag
from careteam.web.idempotent import IdempotencyKey, once

router = APIRouter(tags=["conversations"])


_CONVERSATION: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "No such conversation, not one of yours, or about a patient whose care team you are "
        "no longer on"
    },
}
_MESSAGE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not the message's author"},
    404: {"description": "No such message, or not in a conversation you may read"},
    409: {"description": "The message was removed"},
}


@router.post(
    "/conversations",
    status_code=201,
    response_model=ConversationPublic,
    responses={
        404: {"description": "A retry (same Idempotency-Key) after you left the patient's care team"},
        422: {
            "description": "A participant who is not an active clinician (``body.participants``), or a "
            "patient not on your care teams or someone named not on hers (``body.patient_id``)"
        },
    },
)
async def start_conversation(
    body: ConversationCreate,
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> Response:
    """Start a conversation with other clinicians (optionally about a patient you share), with its first
    message; they see it at once."""

    async def create() -> tuple[ConversationPublic, dict[str, str]]:
        started = await conversations.start_conversation(session, body, actor=actor)
        return started, {"Location": f"/api/v1/conversations/{started.id}"}

    async def may_replay() -> None:
        await conversations.check_replayed_start(session, body, actor=actor)

    return await once(request, session, key, actor, create, may_replay=may_replay)


@router.get("/conversations")
async def list_conversations(
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit,
    before: Annotated[
        int | None, Query(gt=0, lt=2**31, description="``next_before`` of the previous page"), Digits
    ] = None,
) -> ConversationsPublic:
    """Your conversations, latest activity first, each with your unread count."""
    return await conversations.list_conversations(session, actor=actor, before=before, limit=limit)


@router.get("/conversations/{conversation_id}", responses=_CONVERSATION)
async def get_conversation(
    conversation_id: Id, actor: CurrentActor, session: SessionDep
) -> ConversationPublic:
    """One conversation: who is in it and how far each has read ("seen by"), its newest message."""
    return await conversations.get_conversation(session, conversation_id, actor=actor)


@router.get("/conversations/{conversation_id}/messages", responses=_CONVERSATION)
async def list_messages(
    conversation_id: Id,
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit,
    cursors: Cursors,
) -> ConversationMessagesPublic:
    """The conversation: newest first (``before`` pages back), or oldest first from ``after``."""
    return await conversations.list_messages(
        session, conversation_id, actor=actor, before=cursors.before, after=cursors.after, limit=limit
    )


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    response_model=ConversationMessagePublic,
    responses=_CONVERSATION,
)
async def post_message(
    conversation_id: Id,
    body: ConversationMessageCreate,
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> Response:
    """Write in a conversation (Markdown); the others see it at once."""

    async def create() -> tuple[ConversationMessagePublic, dict[str, str]]:
        message = await conversations.post_message(session, conversation_id, body, actor=actor)
        return message, {"ETag": etag(message.version)}

    async def may_replay() -> None:
        await conversations.check_replayed_post(session, conversation_id, actor=actor)

    return await once(request, session, key, actor, create, may_replay=may_replay)


@router.patch("/conversation-messages/{message_id}", responses=_MESSAGE)
async def patch_message(
    message_id: Id,
    body: ConversationMessageUpdate,
    actor: CurrentActor,
    session: SessionDep,
    version: IfMatch,
    response: Response,
) -> ConversationMessagePublic:
    """Edit your message (its earlier text is kept); 412 with the current one if it changed first."""
    message = await conversations.edit_message(
        session, message_id, body, expected_version=version, actor=actor
    )
    response.headers["ETag"] = etag(message.version)
    return message


@router.delete("/conversation-messages/{message_id}", responses=_MESSAGE)
async def delete_message(
    message_id: Id, actor: CurrentActor, session: SessionDep, version: IfMatch, response: Response
) -> ConversationMessagePublic:
    """Remove your message; the conversation shows it as removed."""
    message = await conversations.delete_message(session, message_id, expected_version=version, actor=actor)
    response.headers["ETag"] = etag(message.version)
    return message


@router.post("/conversations/{conversation_id}/read", responses=_CONVERSATION)
async def read_conversation(
    conversation_id: Id, actor: CurrentActor, session: SessionDep, body: ConversationRead | None = None
) -> ConversationReadPublic:
    """Mark the conversation read up to ``up_to`` (its newest if none); never moves back. The others see
    how far you read."""
    up_to = body.up_to if body else None
    return await conversations.mark_read(session, conversation_id, up_to=up_to, actor=actor)


@router.post("/me/conversations/read-all")
async def read_all_conversations(actor: CurrentActor, session: SessionDep) -> MessagesUnreadTotal:
    """Mark every conversation of yours read up to its newest message; your counts after."""
    return await conversations.mark_all_read(session, actor=actor)


@router.get("/me/messages/unread")
async def get_messages_unread(actor: CurrentActor, session: SessionDep) -> MessagesUnreadTotal:
    """The header's Messages badge: your unread messages in your plans' threads and your conversations."""
    return await conversations.unread_total(session, actor=actor)
