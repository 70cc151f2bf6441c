"""Conversations: direct messages between clinicians, optionally about a patient they share.

Only its participants read a conversation (anyone else: not found). One about a patient is read only by those
of its participants who are on her care team now: taken off the team, a participant gets "not found" and no
more of its events, with no write (the permission filter joins the care team as it is). Every read is
audited, with the patient for one about a patient (the audit trail's reads of her data).

Each write is one unit of work: the rows, its event on the conversation's stream ``conversation:<id>`` with
its audit row, then a hint (``conversation.unread``, no text) on each other reader's ``user:<id>`` so her
header's Messages badge moves on any page. Lock order: the conversation row, its stream, then user streams
in id order. Unread counts are never stored: one grouped query counts the others' messages past her
position (``conversation_member.last_read_id``, which only moves forward).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from careteam.accounts import service as accounts
from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.conversations.codes import ConversationEvent, ConversationHint
from careteam.conversations.schemas import (
    ConversationCreate,
    ConversationMessageCreate,
    ConversationMessagePublic,
    ConversationMessagesPublic,
    ConversationMessageUpdate,
    ConversationPatientPublic,
    ConversationPublic,
    ConversationReadPublic,
    ConversationsPublic,
    MessagesUnreadTotal,
    ParticipantPublic,
)
from careteam.conversations.tables import (
    Conversation,
    ConversationMember,
    ConversationMessage,
    ConversationMessageRevision,
)
from careteam.core.actor import Actor
from careteam.core.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from careteam.db.types import utcnow
from careteam.events import log as events
from careteam.events import streams
from careteam.messaging import paging, reads
from careteam.messaging.render import render
from careteam.messaging.schemas import AuthorPublic
from careteam.notifications import service as notifications
from careteam.patients import service as patients
from careteam.patients.access import UserId, clinical_patient_ids_of
from careteam.plans import board, tasks

_CONVERSATIONS = SQLModel.metadata.tables["conversation"]
_MEMBERS = SQLModel.metadata.tables["conversation_member"]
_MESSAGES = SQLModel.metadata.tables["conversation_message"]

FORMER = "A former clinician"


# --- Who may read ----------------------------------------------------------------------------------


def _reading(user_id: UserId) -> sa.ColumnElement[bool]:
    """The conversation is not about a patient, or ``user_id`` is on the patient's care team now."""
    return sa.or_(
        col(Conversation.patient_id).is_(None),
        col(Conversation.patient_id).in_(clinical_patient_ids_of(user_id)),
    )


def readable_conversation_ids_of(user_id: UserId) -> SelectOfScalar[Any]:
    """The conversations this clinician may read: hers, and for one about a patient, only while she is on
    the patient's care team."""
    return (
        select(col(ConversationMember.conversation_id))
        .join(Conversation, col(Conversation.id) == col(ConversationMember.conversation_id))
        .where(col(ConversationMember.user_id) == user_id, _reading(user_id))
    )


def readable_conversation_ids(actor: Actor) -> SelectOfScalar[Any]:
    return readable_conversation_ids_of(actor.user_id)


def conversation_reader_ids(conversation_id: int) -> SelectOfScalar[Any]:
    """The participants who may read the conversation now (whom a new message's hint reaches)."""
    return select(col(ConversationMember.user_id)).where(
        *_reading_members(col(Conversation.id) == conversation_id)
    )


def conversation_readers(conversation_ids: Sequence[int]) -> sa.Select[int, int]:
    """(conversation id, user id) of the participants who may read these conversations now (the realtime
    hub's re-check), in one select."""
    return sa.select(col(ConversationMember.conversation_id), col(ConversationMember.user_id)).where(
        *_reading_members(col(Conversation.id).in_(conversation_ids))
    )


def _reading_members(conversations: sa.ColumnElement[bool]) -> tuple[sa.ColumnElement[bool], ...]:
    """Filters: a participant of one of ``conversations``, who may read it now."""
    return (
        col(Conversation.id) == col(ConversationMember.conversation_id),
        conversations,
        _reading(_MEMBERS.c.user_id),
    )


async def _readable(
    session: AsyncSession, conversation_id: int, actor: Actor, *, for_update: bool = False
) -> Conversation:
    query = select(Conversation).where(
        col(Conversation.id) == conversation_id,
        col(Conversation.id).in_(readable_conversation_ids(actor)),
    )
    if for_update:
        query = query.with_for_update(of=Conversation).execution_options(populate_existing=True)
    conversation = (await session.exec(query)).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


async def audited_conversation(
    session: AsyncSession, conversation_id: int, *, actor: Actor, audited: bool = True
) -> Conversation:
    """The conversation, if the actor may read it (else not found); audited as one read (with its patient).

    ``audited=False`` only for a read the caller has audited already (the realtime hub's window)."""
    conversation = await _readable(session, conversation_id, actor)
    if audited:
        _audit_read(session, actor, conversation)
    return conversation


async def conversation_exists(session: AsyncSession, conversation_id: int) -> bool:
    """Whether the conversation exists, whoever may read it: for the audit of a refused read only."""
    found = await session.exec(select(col(Conversation.id)).where(col(Conversation.id) == conversation_id))
    return found.first() is not None


def _audit_read(session: AsyncSession, actor: Actor, conversation: Conversation) -> None:
    audit.record(
        session, actor, AuditAction.read, "conversation", conversation.id, patient_id=conversation.patient_id
    )


# --- Reads -----------------------------------------------------------------------------------------


async def list_conversations(
    session: AsyncSession, *, actor: Actor, before: int | None = None, limit: int = 50
) -> ConversationsPublic:
    """Her conversations, latest activity first, each with her unread count; one audited read each.

    The cursor is the newest message id of the last conversation shown: ``before`` pages on to those whose
    latest activity is older. A conversation with a message newer than the page moves to the top, so a
    later page never repeats it."""
    query = select(Conversation).where(
        col(Conversation.id).in_(readable_conversation_ids(actor)),
        col(Conversation.last_message_id).is_not(None),
    )
    if before is not None:
        query = query.where(col(Conversation.last_message_id) < before)
    rows = list(await session.exec(query.order_by(col(Conversation.last_message_id).desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    await audit.insert_reads(session, actor, "conversation", ((c.id, c.patient_id) for c in rows))
    return ConversationsPublic(
        items=await _public(session, rows, actor),
        next_before=rows[-1].last_message_id if more and rows else None,
    )


async def get_conversation(
    session: AsyncSession, conversation_id: int, *, actor: Actor
) -> ConversationPublic:
    """One conversation: who is in it and how far each has read, its newest message, her unread count."""
    conversation = await audited_conversation(session, conversation_id, actor=actor)
    return (await _public(session, [conversation], actor))[0]


async def list_messages(
    session: AsyncSession,
    conversation_id: int,
    *,
    actor: Actor,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> ConversationMessagesPublic:
    """A page of the conversation; one audited read. Cursors are message ids, so a page stays the same
    while new messages arrive: ``before`` (or none) pages back from the newest, ``after`` forward."""
    await audited_conversation(session, conversation_id, actor=actor)
    query = select(ConversationMessage).where(col(ConversationMessage.conversation_id) == conversation_id)
    page = await paging.by_id(
        session, query, col(ConversationMessage.id), before=before, after=after, limit=limit
    )
    return ConversationMessagesPublic(
        items=await _messages_public(session, page.rows),
        next_before=page.next_before,
        next_after=page.next_after,
    )


async def unread_counts(session: AsyncSession, *, actor: Actor) -> dict[int, int]:
    """Per conversation she may read, the others' messages past her position, not removed: one query."""
    return await _counts(session, actor.user_id, None)


async def unread_total(session: AsyncSession, *, actor: Actor) -> MessagesUnreadTotal:
    """The header's Messages badge: her unread messages in the plans' threads and in her conversations."""
    threads = (await reads.unread(session, actor=actor)).total
    conversations = sum((await unread_counts(session, actor=actor)).values())
    return MessagesUnreadTotal(total=threads + conversations, threads=threads, conversations=conversations)


@dataclass(frozen=True, slots=True)
class UnreadThread:
    """A care plan's thread (its team thread, or a task's comments) with messages she has not read."""

    plan_id: int
    task_id: int | None
    plan_title: str
    patient_name: str
    count: int
    link: str


# The Messages page lists at most this many threads with unread messages (most unread first).
THREADS_SHOWN = 50


async def unread_threads(session: AsyncSession, *, actor: Actor) -> list[UnreadThread]:
    """The plans' threads with messages she has not read, most unread first, each plan an audited read."""
    unread = await reads.unread(session, actor=actor)
    task_counts = {int(t): n for t, n in unread.tasks.items()}
    plan_counts = {int(p): n for p, n in unread.plans.items()}
    threads: list[tuple[int, int | None, int]] = []
    task_plans: dict[int, int] = {}
    for task_id in sorted(task_counts):
        task = await tasks.readable_task(session, task_id, actor=actor)
        task_plans[task_id] = task.plan_id
        threads.append((task.plan_id, task_id, task_counts[task_id]))
    for plan_id, total in plan_counts.items():
        own = total - sum(n for t, n in task_counts.items() if task_plans.get(t) == plan_id)
        if own > 0:
            threads.append((plan_id, None, own))
    threads.sort(key=lambda t: (-t[2], t[0], t[1] or 0))
    threads = threads[:THREADS_SHOWN]
    plans = {
        pid: await board.audited_plan(session, pid, actor=actor) for pid in sorted({t[0] for t in threads})
    }
    cards = await patients.patient_cards(session, (p.patient_id for p in plans.values()))
    return [
        UnreadThread(
            plan_id=plan_id,
            task_id=task_id,
            plan_title=plans[plan_id].title,
            patient_name=cards[plans[plan_id].patient_id][0],
            count=count,
            link=f"/plans/{plan_id}#" + (f"task-{task_id}" if task_id is not None else "team-thread"),
        )
        for plan_id, task_id, count in threads
    ]


async def _counts(session: AsyncSession, user_id: int, among: Sequence[int] | None) -> dict[int, int]:
    m, r = _MESSAGES, _MEMBERS
    query = (
        sa.select(m.c.conversation_id, sa.func.count())
        .select_from(m.join(r, sa.and_(r.c.conversation_id == m.c.conversation_id, r.c.user_id == user_id)))
        .where(
            m.c.conversation_id.in_(readable_conversation_ids_of(user_id)),
            m.c.author_id != user_id,
            m.c.deleted_at.is_(None),
            m.c.id > r.c.last_read_id,
        )
        .group_by(m.c.conversation_id)
    )
    if among is not None:
        query = query.where(m.c.conversation_id.in_(sorted(among)))
    conn = await session.connection()
    return {int(cid): int(n) for cid, n in await conn.execute(query)}


# --- Writes ----------------------------------------------------------------------------------------


async def start_conversation(
    session: AsyncSession, body: ConversationCreate, *, actor: Actor
) -> ConversationPublic:
    """Start a conversation with other active clinicians, with its first message; they see it at once.

    About a patient (``patient_id``), the actor and everyone named must be on her care team: a patient not
    on the actor's care teams is refused as if there were none (422 on ``body.patient_id``, whether or not
    she exists), and so is a participant off her team (the actor sees that team, so this reveals nothing)."""
    others = sorted(set(body.participants) - {actor.user_id})
    if not others:
        raise ValidationFailed("Name at least one other clinician.", field="body.participants")
    users = accounts.directory()
    active = await session.exec(select(users.c.id).where(users.c.id.in_(others), users.c.active))
    if {int(u) for u in active} != set(others):
        raise ValidationFailed(
            "Every participant must be an active clinician of the directory.", field="body.participants"
        )
    if body.patient_id is not None:
        if not await patients.clinical_patients_among(session, [body.patient_id], actor=actor):
            raise ValidationFailed("No patient with this id on your care teams.", field="body.patient_id")
        team = (await patients.team_disciplines(session, [body.patient_id]))[body.patient_id]
        if set(others) - set(team):
            raise ValidationFailed(
                "Everyone in a conversation about a patient must be on her care team.",
                field="body.patient_id",
            )
    now = utcnow()
    conversation = Conversation(
        subject=body.subject, patient_id=body.patient_id, created_by=actor.user_id, created_at=now
    )
    session.add(conversation)
    await session.flush()
    session.add_all(
        ConversationMember(conversation_id=conversation.id or 0, user_id=user_id, joined_at=now)
        for user_id in sorted({*others, actor.user_id})
    )
    await session.flush()
    audit.record(
        session,
        actor,
        AuditAction.create,
        "conversation",
        conversation.id,
        patient_id=conversation.patient_id,
    )
    await _post(session, conversation, body.body, actor=actor)
    return (await _public(session, [conversation], actor))[0]


async def post_message(
    session: AsyncSession, conversation_id: int, body: ConversationMessageCreate, *, actor: Actor
) -> ConversationMessagePublic:
    """Write in a conversation; the others see it at once, and their header's Messages badge moves."""
    conversation = await _readable(session, conversation_id, actor, for_update=True)
    return await _post(session, conversation, body.body, actor=actor)


async def _post(
    session: AsyncSession, conversation: Conversation, text: str, *, actor: Actor
) -> ConversationMessagePublic:
    """The message, the conversation's latest activity, the author's own position (she has read what she
    wrote), the event, then the others' hints."""
    conversation_id = conversation.id or 0
    message = ConversationMessage(
        conversation_id=conversation_id,
        author_id=actor.user_id,
        body=text,
        html=render(text),
        created_at=utcnow(),
    )
    session.add(message)
    await session.flush()
    message_id = message.id or 0
    conversation.last_message_id = max(conversation.last_message_id or 0, message_id)
    session.add(conversation)
    await _advance(session, conversation_id, actor.user_id, message_id)
    public = await _changed(
        session, conversation, message, ConversationEvent.created, AuditAction.create, actor
    )
    # After the conversation's stream: the user streams, in id order (``tell``), so two writers never wait
    # on each other in a cycle.
    readers = await session.exec(conversation_reader_ids(conversation_id))
    await notifications.tell(
        session,
        (int(u) for u in readers if int(u) != actor.user_id),
        ConversationHint.unread,
        {"conversation_id": conversation_id, "message_id": message_id},
        actor=actor,
    )
    return public


async def edit_message(
    session: AsyncSession,
    message_id: int,
    body: ConversationMessageUpdate,
    *,
    expected_version: int,
    actor: Actor,
) -> ConversationMessagePublic:
    """Change one's own message; its earlier text is kept. 412 with the current message if it changed
    first; 409 if it was removed."""
    message, conversation = await _for_update(session, message_id, actor)
    if message.author_id != actor.user_id:
        raise Forbidden("Only its author edits a message.")
    await _ensure_version(session, message, conversation, expected_version, actor)
    if message.deleted_at is not None:
        raise InvalidTransition("This message was removed.")
    now = utcnow()
    session.add(
        ConversationMessageRevision(
            message_id=message.id or 0,
            version=message.version,
            body=message.body,
            edited_at=now,
            editor_id=actor.user_id,
        )
    )
    message.body, message.html = body.body, render(body.body)
    message.version += 1
    message.edited_at = now
    return await _changed(session, conversation, message, ConversationEvent.edited, AuditAction.update, actor)


async def delete_message(
    session: AsyncSession, message_id: int, *, expected_version: int, actor: Actor
) -> ConversationMessagePublic:
    """Remove one's own message: the conversation shows it as removed."""
    message, conversation = await _for_update(session, message_id, actor)
    if message.author_id != actor.user_id:
        raise Forbidden("Only its author removes a message.")
    await _ensure_version(session, message, conversation, expected_version, actor)
    if message.deleted_at is not None:
        raise InvalidTransition("This message was already removed.")
    message.deleted_at, message.deleted_by = utcnow(), actor.user_id
    message.version += 1
    return await _changed(
        session, conversation, message, ConversationEvent.deleted, AuditAction.delete, actor
    )


async def mark_read(
    session: AsyncSession, conversation_id: int, *, up_to: int | None, actor: Actor
) -> ConversationReadPublic:
    """Mark the conversation read up to a message (its newest if none; never past it, never back). The
    others see how far she read ("seen by"), and her other pages' badges follow."""
    conversation = await _readable(session, conversation_id, actor)
    newest = conversation.last_message_id
    target = min(up_to, newest) if up_to is not None and newest is not None else newest
    if target is not None and await _advance(session, conversation_id, actor.user_id, target):
        data = {"conversation_id": conversation_id, "user_id": actor.user_id, "up_to": target}
        # The conversation's stream first, then hers: the lock order of every write.
        await events.record(
            session, streams.conversation(conversation_id), ConversationEvent.read, data, actor=actor
        )
        await events.record(session, streams.user(actor.user_id), ConversationEvent.read, data, actor=actor)
    position = await _scalar(
        session,
        sa.select(_MEMBERS.c.last_read_id).where(
            _MEMBERS.c.conversation_id == conversation_id, _MEMBERS.c.user_id == actor.user_id
        ),
    )
    counts = await unread_counts(session, actor=actor)
    return ConversationReadPublic(
        conversation_id=conversation_id, last_read_id=int(position or 0), conversations=sum(counts.values())
    )


async def mark_all_read(session: AsyncSession, *, actor: Actor) -> MessagesUnreadTotal:
    """Mark every conversation of hers read up to its newest message; her counts after."""
    await _read_conversations(session, actor)
    return await unread_total(session, actor=actor)


async def mark_everything_read(session: AsyncSession, *, actor: Actor) -> MessagesUnreadTotal:
    """Mark her conversations and every thread of her plans read ("Mark all read" on the Messages page).

    Lock order: the conversations' streams, then the plans' (``reads.mark_all_read``, which ends with her
    user stream), then her user stream again. No write takes a plan's stream and then a conversation's, so
    conversation streams -> plan streams -> user streams is never waited for in a cycle; the plans' threads
    first would take her user stream before the conversations' streams, the other way round from a post."""
    moved = await _read_conversations(session, actor, tell=False)
    await reads.mark_all_read(session, actor=actor)
    if moved:
        await events.record(
            session, streams.user(actor.user_id), ConversationEvent.read, {"all": True}, actor=actor
        )
    return await unread_total(session, actor=actor)


async def _read_conversations(session: AsyncSession, actor: Actor, *, tell: bool = True) -> bool:
    """Every conversation of hers to its newest message: ``conversation.read`` on each that moved (streams
    in id order), and with ``tell`` one ``{"all": true}`` on her stream. Whether any moved."""
    rows = await session.exec(
        select(col(Conversation.id), col(Conversation.last_message_id))
        .where(
            col(Conversation.id).in_(readable_conversation_ids(actor)),
            col(Conversation.last_message_id).is_not(None),
        )
        .order_by(col(Conversation.id))
    )
    moved = False
    for row_id, row_newest in list(rows):
        conversation_id, newest = int(row_id or 0), int(row_newest or 0)
        if await _advance(session, conversation_id, actor.user_id, newest):
            moved = True
            data = {"conversation_id": conversation_id, "user_id": actor.user_id, "up_to": newest}
            stream = streams.conversation(conversation_id)
            await events.record(session, stream, ConversationEvent.read, data, actor=actor)
    if moved and tell:
        await events.record(
            session, streams.user(actor.user_id), ConversationEvent.read, {"all": True}, actor=actor
        )
    return moved


async def check_replayed_start(session: AsyncSession, body: ConversationCreate, *, actor: Actor) -> None:
    """A retried start (same Idempotency-Key) is answered again only while the actor may still read what it
    shows: for one about a patient, while she is on the patient's care team (else not found); audited as a
    read of that patient's conversation."""
    if body.patient_id is None:
        return
    if not await patients.clinical_patients_among(session, [body.patient_id], actor=actor):
        raise NotFound("No such conversation.")
    audit.record(session, actor, AuditAction.read, "conversation", None, patient_id=body.patient_id)


async def check_replayed_post(session: AsyncSession, conversation_id: int, *, actor: Actor) -> None:
    """A retried post is answered again only while the actor still reads the conversation (audited)."""
    await audited_conversation(session, conversation_id, actor=actor)


# --- Helpers ---------------------------------------------------------------------------------------


async def _scalar(session: AsyncSession, query: sa.Select[Any]) -> Any:
    conn = await session.connection()
    return (await conn.execute(query)).scalar()


async def _advance(session: AsyncSession, conversation_id: int, user_id: int, up_to: int) -> bool:
    """Move her position forward to ``up_to``; False if it was there or past it already (nothing written)."""
    statement = (
        sa.update(_MEMBERS)
        .where(
            _MEMBERS.c.conversation_id == conversation_id,
            _MEMBERS.c.user_id == user_id,
            _MEMBERS.c.last_read_id < up_to,
        )
        .values(last_read_id=up_to)
        .returning(_MEMBERS.c.id)
    )
    return (await session.exec(statement)).first() is not None


async def _for_update(
    session: AsyncSession, message_id: int, actor: Actor
) -> tuple[ConversationMessage, Conversation]:
    """The message, locked to the commit, and its conversation, if the actor may read it (else not found)."""
    query = (
        select(ConversationMessage)
        .where(
            col(ConversationMessage.id) == message_id,
            col(ConversationMessage.conversation_id).in_(readable_conversation_ids(actor)),
        )
        .with_for_update(of=ConversationMessage)
        .execution_options(populate_existing=True)
    )
    message = (await session.exec(query)).first()
    if message is None:
        raise NotFound("No such message.")
    return message, await _readable(session, message.conversation_id, actor)


async def _ensure_version(
    session: AsyncSession,
    message: ConversationMessage,
    conversation: Conversation,
    expected: int,
    actor: Actor,
) -> None:
    if message.version != expected:
        raise Conflict(
            "Someone changed this message first.",
            current=(await _messages_public(session, [message]))[0],
            actor=actor,
            shown=("conversation_message", message.id, conversation.patient_id),
        )


async def _changed(
    session: AsyncSession,
    conversation: Conversation,
    message: ConversationMessage,
    kind: ConversationEvent,
    action: AuditAction,
    actor: Actor,
) -> ConversationMessagePublic:
    """Write the row and put the event (with its audit row) on the conversation's stream."""
    session.add(message)
    await session.flush()
    public = (await _messages_public(session, [message]))[0]
    await events.record(
        session,
        streams.conversation(message.conversation_id),
        kind,
        public,
        actor=actor,
        audited=audit.row(
            actor, action, "conversation_message", message.id, patient_id=conversation.patient_id
        ),
    )
    return public


async def _messages_public(
    session: AsyncSession, rows: Sequence[ConversationMessage]
) -> list[ConversationMessagePublic]:
    """The messages as participants see them (a removed one without its text); names in one query."""
    names = await accounts.display_names(session, (m.author_id for m in rows))
    return [
        ConversationMessagePublic(
            id=m.id or 0,
            conversation_id=m.conversation_id,
            body="" if m.deleted_at else m.body,
            html="" if m.deleted_at else m.html,
            author=AuthorPublic(id=m.author_id, display_name=names.get(m.author_id, FORMER)),
            created_at=m.created_at,
            edited_at=m.edited_at,
            deleted=m.deleted_at is not None,
            version=m.version,
        )
        for m in rows
    ]


async def _public(
    session: AsyncSession, rows: Sequence[Conversation], actor: Actor
) -> list[ConversationPublic]:
    """The conversations as she sees them, in a constant number of queries whatever their number: members,
    names, patients, newest messages, her unread counts."""
    ids = [c.id or 0 for c in rows]
    if not ids:
        return []
    members = list(
        await session.exec(
            select(ConversationMember)
            .where(col(ConversationMember.conversation_id).in_(ids))
            .order_by(col(ConversationMember.conversation_id), col(ConversationMember.user_id))
            # Positions move by Core updates in this unit of work: not the identity map's older copies.
            .execution_options(populate_existing=True)
        )
    )
    names = await accounts.display_names(session, (m.user_id for m in members))
    cards = await patients.patient_cards(session, (c.patient_id for c in rows if c.patient_id is not None))
    last_ids = [c.last_message_id for c in rows if c.last_message_id is not None]
    last = (
        list(await session.exec(select(ConversationMessage).where(col(ConversationMessage.id).in_(last_ids))))
        if last_ids
        else []
    )
    last_public = {m.id: m for m in await _messages_public(session, last)}
    counts = await _counts(session, actor.user_id, ids)
    answer = []
    for c in rows:
        cid = c.id or 0
        answer.append(
            ConversationPublic(
                id=cid,
                subject=c.subject,
                patient=(
                    ConversationPatientPublic(id=c.patient_id, name=cards[c.patient_id][0])
                    if c.patient_id is not None and c.patient_id in cards
                    else None
                ),
                created_by=c.created_by,
                created_at=c.created_at,
                participants=[
                    ParticipantPublic(
                        id=m.user_id, display_name=names.get(m.user_id, FORMER), last_read_id=m.last_read_id
                    )
                    for m in members
                    if m.conversation_id == cid
                ],
                last_message=last_public.get(c.last_message_id or 0),
                unread_count=counts.get(cid, 0),
            )
        )
    return answer
