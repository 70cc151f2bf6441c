"""Conversations' HTML pages: ``/messages`` (her conversations, the plans' threads she has not read, a form
to start a conversation, "Mark all read") and ``/messages/{id}`` (one conversation, its composer).

Both work without JavaScript (plain CSRF forms, one service call each, 303 back). With it, ``messages.js``
refreshes the list when her stream says something changed, and ``conversation.js`` follows
``conversation:<id>``: new, edited and removed messages, "Seen by", marking read, editing her own messages.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.conversations import service as conversations
from careteam.conversations.schemas import (
    ConversationCreate,
    ConversationMessageCreate,
    ConversationPublic,
)
from careteam.core.actor import Actor
from careteam.core.errors import ValidationFailed
from careteam.events import log as events
from careteam.events import streams
from careteam.notifications import service as notifications
from careteam.patients import service as patients
from careteam.web.deps import Id
from careteam.web.forms import Db, Editor, PageRoute, Viewer, field_errors, optional_id, see_other
from careteam.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

CONVERSATIONS_PER_PAGE = 50
MESSAGES_PER_PAGE = 50

START_HINTS = {
    "participants": "Choose at least one clinician.",
    "subject": "Keep the subject under 200 characters.",
    "patient_id": "Choose one of your patients, or none.",
    "body": "Write the first message.",
}
REPLY_HINTS = {"body": "Write a message (at most 10,000 characters)."}


def title_of(conversation: ConversationPublic, actor: Actor) -> str:
    """Its subject, or the others' names; messages.js reads the same from the page."""
    if conversation.subject:
        return conversation.subject
    others = [p.display_name for p in conversation.participants if p.id != actor.user_id]
    return ", ".join(others) or "Only you"


def _cursor(raw: str) -> int | None:
    value, ok = optional_id(raw)
    return value if ok else None


# --- The list --------------------------------------------------------------------------------------


@router.get("/messages")
async def messages_page(request: Request, session: Db, actor: Viewer, before: str = "") -> Response:
    """Her conversations (latest activity first, unread counts), the plans' threads she has not read, and
    the form that starts a conversation."""
    return await _messages_page(request, session, actor, before=_cursor(before))


async def _messages_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    *,
    before: int | None = None,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    # Read before the lists: whatever changes after it arrives on her stream.
    after = await notifications.inbox_seq(session, actor.user_id)
    page = await conversations.list_conversations(
        session, actor=actor, before=before, limit=CONVERSATIONS_PER_PAGE
    )
    threads = await conversations.unread_threads(session, actor=actor)
    clinicians = [
        (uid, name) for uid, name, _ in await accounts.active_clinicians(session) if uid != actor.user_id
    ]
    context = {
        "section": "messages",
        "conversations": [
            {
                "c": c,
                "title": title_of(c, actor),
                "others": [p for p in c.participants if p.id != actor.user_id],
            }
            for c in page.items
        ],
        "next_before": page.next_before,
        "threads": threads,
        "clinicians": clinicians,
        "patients": await patients.clinical_patient_choices(session, actor=actor),
        "form": form or {"participants": [], "patient_id": "", "subject": "", "body": ""},
        "errors": errors or {},
        "inbox_seq": after,
    }
    return render(request, "conversations/messages.html", context, status_code=status)


@router.post("/messages")
async def start(
    request: Request,
    session: Db,
    actor: Editor,
    participants: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies a form default)
    patient_id: Annotated[str, Form()] = "",
    subject: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
) -> Response:
    """Start a conversation, then open it. Without what it needs: the form again, with what to fix."""
    form = {"participants": participants, "patient_id": patient_id, "subject": subject, "body": body}
    try:
        created = ConversationCreate.model_validate(
            {
                "participants": [p for p in participants if p.strip()],
                "patient_id": patient_id or None,
                "subject": subject or None,
                "body": body,
            }
        )
    except ValidationError as exc:
        errors = field_errors(exc, START_HINTS)
        return await _messages_page(request, session, actor, form=form, errors=errors, status=422)
    try:
        async with session.begin_nested():
            conversation = await conversations.start_conversation(session, created, actor=actor)
    except ValidationFailed as exc:
        field = (exc.field or "form").removeprefix("body.")
        return await _messages_page(
            request, session, actor, form=form, errors={field: exc.detail}, status=422
        )
    return see_other(f"/messages/{conversation.id}")


@router.post("/messages/read-all")
async def read_all(session: Db, actor: Editor) -> Response:
    """Mark her conversations and every thread of her plans read; back to the list."""
    await conversations.mark_everything_read(session, actor=actor)
    return see_other("/messages")


# --- One conversation ------------------------------------------------------------------------------


@router.get("/messages/{conversation_id}")
async def conversation_page(
    request: Request, conversation_id: Id, session: Db, actor: Viewer, before: str = ""
) -> Response:
    """The conversation, newest messages last, and its composer; live on ``conversation:<id>``."""
    return await _conversation_page(request, session, actor, conversation_id, before=_cursor(before))


async def _conversation_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    *,
    before: int | None = None,
    draft: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    conversation = await conversations.get_conversation(session, conversation_id, actor=actor)
    # Read before the messages: whatever is written after it arrives live (a message shown is not repeated).
    seq = await events.last_seq(session, streams.conversation(conversation_id))
    page = await conversations.list_messages(
        session, conversation_id, actor=actor, before=before, limit=MESSAGES_PER_PAGE
    )
    newest = conversation.last_message.id if conversation.last_message else 0
    context = {
        "section": "messages",
        "conversation": conversation,
        "title": title_of(conversation, actor),
        "messages": list(reversed(page.items)),
        "older": page.next_before,
        "paged": before is not None,
        "seen_by": [
            p.display_name
            for p in conversation.participants
            if p.id != actor.user_id and newest and p.last_read_id >= newest
        ],
        "participants": [p.model_dump(mode="json") for p in conversation.participants],
        "seq": seq,
        "draft": draft,
        "errors": errors or {},
    }
    return render(request, "conversations/conversation.html", context, status_code=status)


@router.post("/messages/{conversation_id}")
async def reply(
    request: Request, conversation_id: Id, session: Db, actor: Editor, body: Annotated[str, Form()] = ""
) -> Response:
    """Write in the conversation; back to it, at the new message."""
    try:
        message = ConversationMessageCreate.model_validate({"body": body})
    except ValidationError as exc:
        errors = field_errors(exc, REPLY_HINTS)
        return await _conversation_page(
            request, session, actor, conversation_id, draft=body, errors=errors, status=422
        )
    posted = await conversations.post_message(session, conversation_id, message, actor=actor)
    return see_other(f"/messages/{conversation_id}#message-{posted.id}")
